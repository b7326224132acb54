using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using R2M.Server;

namespace R2M.Interop.Tests;

/// <summary>
/// <see cref="InteropTestService"/> served on 127.0.0.1 (port 0) by r2m-server's own host
/// configuration (R2MServer.BuildHost without models: the same Kestrel limits, Grpc.AspNetCore
/// options, interceptors, health, reflection and access table), with the receive limit raised
/// for the 64 MiB case and an observer of handler cancellation.
/// </summary>
public sealed class InteropHost : IAsyncDisposable
{
    public const int MiB = 1024 * 1024;

    private readonly WebApplication _app;

    private InteropHost(WebApplication app, CancelObserver observer, string scheme)
    {
        _app = app;
        Observer = observer;
        Port = R2MServer.GetPort(app);
        Address = new Uri($"{scheme}://127.0.0.1:{Port}");
    }

    /// <summary>http://127.0.0.1:PORT (cleartext HTTP/2, prior knowledge) or https:// with a certificate.</summary>
    public Uri Address { get; }

    public int Port { get; }

    public string Target => $"127.0.0.1:{Port}";

    public IServiceProvider Services => _app.Services;

    internal CancelObserver Observer { get; }

    public static async Task<InteropHost> StartAsync(Action<R2MServerOptions>? configure = null, Action<WebApplication>? map = null)
    {
        var observer = new CancelObserver();
        R2MServerOptions? seen = null;
        var app = R2MServer.BuildHost([], o =>
        {
            o.Port = 0;
            o.MaxReceiveMessageBytes = 80 * MiB;
            o.MaxSendMessageBytes = 80 * MiB;
            configure?.Invoke(o);
            seen = o;
        }, hostModels: false, mapServices: app =>
        {
            app.MapGrpcService<InteropTestService>();
            map?.Invoke(app);
        }, services: s =>
        {
            s.AddSingleton(observer);
            s.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
            // Inside the host's own interceptors: sees the handler's token as the service does.
            s.Configure<Grpc.AspNetCore.Server.GrpcServiceOptions>(o => o.Interceptors.Add<CancelObserver>());
        });
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return new InteropHost(app, observer, seen!.CertificatePath is null ? "http" : "https");
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    /// <summary>Records the <c>x-case</c> header of every server-streaming call whose handler token fired.</summary>
    internal sealed class CancelObserver : Interceptor
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
