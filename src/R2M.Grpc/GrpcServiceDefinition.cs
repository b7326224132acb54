using Google.Protobuf;
using Google.Protobuf.Reflection;
using R2M.Grpc.Internal;

namespace R2M.Grpc;

/// <summary>
/// Binds the methods of a protobuf <see cref="ServiceDescriptor"/> to handler delegates. Method
/// names, streaming flags and message types come from the descriptor, so no generated gRPC stubs
/// are needed; each Add call checks that the handler's shape and message types match it. Methods
/// left unbound answer UNIMPLEMENTED.
/// </summary>
public sealed class GrpcServiceDefinition
{
    private readonly Dictionary<string, MethodBinding> _methods = new(StringComparer.Ordinal);

    public GrpcServiceDefinition(ServiceDescriptor descriptor)
    {
        Descriptor = descriptor ?? throw new ArgumentNullException(nameof(descriptor));
    }

    public ServiceDescriptor Descriptor { get; }

    internal IReadOnlyDictionary<string, MethodBinding> Methods => _methods;

    public GrpcServiceDefinition AddUnary<TRequest, TResponse>(string methodName, UnaryServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(methodName, false, false, typeof(TRequest), typeof(TResponse), handler,
            m => new UnaryMethodBinding<TRequest, TResponse>(m, handler));

    public GrpcServiceDefinition AddServerStreaming<TRequest, TResponse>(
        string methodName, ServerStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(methodName, false, true, typeof(TRequest), typeof(TResponse), handler,
            m => new ServerStreamingMethodBinding<TRequest, TResponse>(m, handler));

    public GrpcServiceDefinition AddClientStreaming<TRequest, TResponse>(
        string methodName, ClientStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(methodName, true, false, typeof(TRequest), typeof(TResponse), handler,
            m => new ClientStreamingMethodBinding<TRequest, TResponse>(m, handler));

    public GrpcServiceDefinition AddDuplexStreaming<TRequest, TResponse>(
        string methodName, DuplexStreamingServerMethod<TRequest, TResponse> handler)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
        => Add(methodName, true, true, typeof(TRequest), typeof(TResponse), handler,
            m => new DuplexStreamingMethodBinding<TRequest, TResponse>(m, handler));

    private GrpcServiceDefinition Add(
        string methodName, bool clientStreaming, bool serverStreaming, Type request, Type response,
        Delegate handler, Func<MethodDescriptor, MethodBinding> create)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var method = Descriptor.FindMethodByName(methodName)
            ?? throw new ArgumentException($"Service '{Descriptor.FullName}' has no method '{methodName}'.", nameof(methodName));
        if (method.IsClientStreaming != clientStreaming || method.IsServerStreaming != serverStreaming)
        {
            throw new ArgumentException(
                $"Method '{Descriptor.FullName}/{methodName}' is {Shape(method.IsClientStreaming, method.IsServerStreaming)}, " +
                $"but a {Shape(clientStreaming, serverStreaming)} handler was given.", nameof(methodName));
        }

        CheckType(method, "request", method.InputType, request);
        CheckType(method, "response", method.OutputType, response);
        if (!_methods.TryAdd(methodName, create(method)))
        {
            throw new ArgumentException($"Method '{Descriptor.FullName}/{methodName}' is already bound.", nameof(methodName));
        }

        return this;
    }

    private static void CheckType(MethodDescriptor method, string role, MessageDescriptor expected, Type given)
    {
        if (expected.ClrType != given)
        {
            throw new ArgumentException(
                $"Method '{method.Service.FullName}/{method.Name}' takes {role} type '{expected.FullName}' " +
                $"({expected.ClrType?.FullName ?? "no generated type"}), but the handler uses '{given.FullName}'.");
        }
    }

    private static string Shape(bool clientStreaming, bool serverStreaming) => (clientStreaming, serverStreaming) switch
    {
        (false, false) => "unary",
        (false, true) => "server-streaming",
        (true, false) => "client-streaming",
        _ => "bidirectional-streaming",
    };
}
