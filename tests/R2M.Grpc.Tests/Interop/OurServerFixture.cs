using System.Collections.Concurrent;

namespace R2M.Grpc.Tests.Interop;

/// <summary>
/// Our Kestrel server (the server helper's <see cref="InteropTestServer"/>) configured for the
/// interop suite: receive limit raised for the 64 MiB case, and an interceptor that records which
/// calls' handlers observed cancellation, so the suite can check a client cancel reached the handler.
/// </summary>
internal sealed class OurInteropServer : IAsyncDisposable
{
    private readonly InteropTestServer _server;

    private OurInteropServer(InteropTestServer server, CancelObserver observer)
    {
        _server = server;
        Observer = observer;
    }

    public CancelObserver Observer { get; }

    public string Target => $"127.0.0.1:{_server.Address.Port}";

    public static async Task<OurInteropServer> StartAsync()
    {
        var observer = new CancelObserver();
        var server = await InteropTestServer.StartAsync(o =>
        {
            o.MaxReceiveMessageSize = 80 * InteropCases.MiB;
            o.Interceptors.Add(observer);
        });
        return new OurInteropServer(server, observer);
    }

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    /// <summary>Records the <c>x-case</c> header of every server-streaming call whose token fired.</summary>
    internal sealed class CancelObserver : ServerInterceptor
    {
        private readonly ConcurrentQueue<string> _cancelled = new();

        public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
            TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
            ServerStreamingServerMethod<TRequest, TResponse> continuation)
        {
            var tag = context.RequestHeaders.GetValue("x-case") ?? "";
            using var registration = context.CancellationToken.Register(() => _cancelled.Enqueue(tag));
            await continuation(request, responseStream, context);
        }

        public async Task<bool> WaitForCancelAsync(string tag, TimeSpan timeout)
        {
            var until = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < until)
            {
                if (_cancelled.Contains(tag))
                {
                    return true;
                }

                await Task.Delay(50);
            }

            return false;
        }
    }
}
