using Google.Protobuf.Reflection;
using Grpc.Core;

namespace R2M.Server.Tests;

/// <summary>
/// Calls any method by its descriptor with an empty request message (raw bytes), so tests can walk
/// every method of a service without naming one; returns the call's status.
/// </summary>
internal static class RawCall
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    public static async Task<Status> StatusAsync(ChannelBase channel, MethodDescriptor method, string? authorization)
    {
        var type = (method.IsClientStreaming, method.IsServerStreaming) switch
        {
            (false, false) => MethodType.Unary,
            (false, true) => MethodType.ServerStreaming,
            (true, false) => MethodType.ClientStreaming,
            _ => MethodType.DuplexStreaming,
        };
        var m = new Method<byte[], byte[]>(type, method.Service.FullName, method.Name, Bytes, Bytes);
        var headers = authorization is null ? null : new Metadata { { "authorization", authorization } };
        var options = new CallOptions(headers, DateTime.UtcNow + TestServer.Timeout);
        var invoker = channel.CreateCallInvoker();
        try
        {
            switch (type)
            {
                case MethodType.Unary:
                    await invoker.AsyncUnaryCall(m, null, options, []);
                    break;
                case MethodType.ServerStreaming:
                    using (var call = invoker.AsyncServerStreamingCall(m, null, options, []))
                    {
                        while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        {
                        }
                    }

                    break;
                case MethodType.ClientStreaming:
                    using (var call = invoker.AsyncClientStreamingCall(m, null, options))
                    {
                        await WriteOneAsync(call.RequestStream);
                        await call.ResponseAsync;
                    }

                    break;
                default:
                    using (var call = invoker.AsyncDuplexStreamingCall(m, null, options))
                    {
                        await WriteOneAsync(call.RequestStream);
                        while (await call.ResponseStream.MoveNext(CancellationToken.None))
                        {
                        }
                    }

                    break;
            }

            return Status.DefaultSuccess;
        }
        catch (RpcException e)
        {
            return e.Status;
        }
    }

    private static async Task WriteOneAsync(IClientStreamWriter<byte[]> writer)
    {
        try
        {
            await writer.WriteAsync([]);
            await writer.CompleteAsync();
        }
        catch (RpcException)
        {
            // The server ended the call first; its status is read from the response.
        }
        catch (InvalidOperationException)
        {
        }
    }
}
