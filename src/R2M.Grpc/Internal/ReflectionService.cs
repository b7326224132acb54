using Google.Protobuf;
using Google.Protobuf.Reflection;
using R2M.Grpc.Reflection.V1;
using V1Alpha = R2M.Grpc.Reflection.V1Alpha;

namespace R2M.Grpc.Internal;

/// <summary>
/// Server reflection (grpc/grpc doc/server-reflection.md) over the file descriptors of the mapped
/// services. v1alpha carries the same messages with the same field numbers as v1, so a v1alpha
/// call is served by re-reading its bytes as v1 messages.
/// </summary>
internal sealed class ReflectionService
{
    private readonly GrpcServiceRegistry _registry;

    public ReflectionService(GrpcServiceRegistry registry)
    {
        _registry = registry;
    }

    public GrpcServiceDefinition CreateV1Definition() =>
        new GrpcServiceDefinition(ReflectionReflection.Descriptor.Services[0])
            .AddDuplexStreaming<ServerReflectionRequest, ServerReflectionResponse>("ServerReflectionInfo", InfoAsync);

    public GrpcServiceDefinition CreateV1AlphaDefinition() =>
        new GrpcServiceDefinition(V1Alpha.ReflectionReflection.Descriptor.Services[0])
            .AddDuplexStreaming<V1Alpha.ServerReflectionRequest, V1Alpha.ServerReflectionResponse>("ServerReflectionInfo", InfoV1AlphaAsync);

    /// <summary>Answers one request; errors become an ErrorResponse and the stream goes on.</summary>
    public ServerReflectionResponse Answer(ServerReflectionRequest request)
    {
        var response = new ServerReflectionResponse { ValidHost = request.Host, OriginalRequest = request };
        var index = new DescriptorIndex(_registry.Snapshot());
        switch (request.MessageRequestCase)
        {
            case ServerReflectionRequest.MessageRequestOneofCase.ListServices:
                var list = new ListServiceResponse();
                list.Service.AddRange(index.Services.Select(s => new ServiceResponse { Name = s.FullName }));
                response.ListServicesResponse = list;
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileByFilename:
                SetFile(response, index.FindFile(request.FileByFilename), $"File not found: {request.FileByFilename}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingSymbol:
                SetFile(response, index.FindFileContainingSymbol(request.FileContainingSymbol),
                    $"Symbol not found: {request.FileContainingSymbol}");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.FileContainingExtension:
                var ext = request.FileContainingExtension;
                SetFile(response, index.FindExtension(ext.ContainingType, ext.ExtensionNumber)?.File,
                    $"Extension {ext.ExtensionNumber} of {ext.ContainingType} not found.");
                break;
            case ServerReflectionRequest.MessageRequestOneofCase.AllExtensionNumbersOfType:
                SetExtensionNumbers(response, index, request.AllExtensionNumbersOfType);
                break;
            default:
                response.ErrorResponse = Error(StatusCode.InvalidArgument, "The request names no known reflection query.");
                break;
        }

        return response;
    }

    private async Task InfoAsync(
        IAsyncStreamReader<ServerReflectionRequest> requests, IServerStreamWriter<ServerReflectionResponse> responses, ServerCallContext context)
    {
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            await responses.WriteAsync(Answer(requests.Current)).ConfigureAwait(false);
        }
    }

    private async Task InfoV1AlphaAsync(
        IAsyncStreamReader<V1Alpha.ServerReflectionRequest> requests,
        IServerStreamWriter<V1Alpha.ServerReflectionResponse> responses,
        ServerCallContext context)
    {
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var request = ServerReflectionRequest.Parser.ParseFrom(requests.Current.ToByteString());
            var answer = Answer(request);
            await responses.WriteAsync(V1Alpha.ServerReflectionResponse.Parser.ParseFrom(answer.ToByteString())).ConfigureAwait(false);
        }
    }

    private static void SetFile(ServerReflectionResponse response, FileDescriptor? file, string notFound)
    {
        if (file is null)
        {
            response.ErrorResponse = Error(StatusCode.NotFound, notFound);
            return;
        }

        // The requested file first, then every transitive dependency once.
        var files = new FileDescriptorResponse();
        foreach (var f in DescriptorIndex.WithDependencies(file))
        {
            files.FileDescriptorProto.Add(f.SerializedData);
        }

        response.FileDescriptorResponse = files;
    }

    private static void SetExtensionNumbers(ServerReflectionResponse response, DescriptorIndex index, string typeName)
    {
        if (index.FindMessage(typeName) is null)
        {
            response.ErrorResponse = Error(StatusCode.NotFound, $"Type not found: {typeName}");
            return;
        }

        var numbers = new ExtensionNumberResponse { BaseTypeName = typeName };
        numbers.ExtensionNumber.AddRange(index.ExtensionsOf(typeName).Select(e => e.FieldNumber).Order());
        response.AllExtensionNumbersResponse = numbers;
    }

    private static ErrorResponse Error(StatusCode code, string message) =>
        new() { ErrorCode = (int)code, ErrorMessage = message };
}
