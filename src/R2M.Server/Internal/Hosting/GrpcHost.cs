using System.Security.Cryptography.X509Certificates;
using Grpc.HealthCheck;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// The one configuration of r2m-server's gRPC host, used by r2m-server and by the hosts of the
/// test services (interop, hostile input), so both are served exactly alike: Kestrel endpoints
/// and limits, Grpc.AspNetCore options and interceptors, grpc.health.v1, reflection, the access
/// table and /metrics. Call <see cref="Configure"/> on the builder, map the services, then
/// <see cref="Map"/> last (the access table is read from the mapped endpoints).
/// </summary>
internal static class GrpcHost
{
    private const int MiB = 1024 * 1024;
    private const string MetricsConnection = "r2m.metrics-connection";

    public static void Configure(WebApplicationBuilder builder, R2MServerOptions options)
    {
        var s = builder.Services;
        s.AddSingleton(options);
        s.TryAddSingleton(TimeProvider.System);
        s.AddSingleton<ServerMetrics>();
        s.AddSingleton<ApiKeyCheck>();
        s.AddSingleton<MethodAccessTableHolder>();
        s.AddSingleton<ErrorReporter>();
        s.AddSingleton<InFlightBudget>();
        s.AddSingleton<Utf8Findings>();
        s.AddSingleton<CallInterceptor>();
        s.AddSingleton<AccessInterceptor>();
        s.AddSingleton<RequestInterceptor>();
        s.AddSingleton<HealthServiceImpl>();
        s.AddSingleton<ServingStatusBoard>();
        s.AddGrpc(o =>
        {
            // Per-message limits (the request body of a stream is unbounded, see Kestrel below).
            o.MaxReceiveMessageSize = options.MaxReceiveMessageBytes;
            o.MaxSendMessageSize = options.MaxSendMessageBytes;
            o.EnableDetailedErrors = options.DetailedErrors;
            // Outermost first: errors are mapped, logged and counted around the key check, and
            // requests are checked (UTF-8, in-flight bytes) only once the key has been.
            o.Interceptors.Add<CallInterceptor>();
            o.Interceptors.Add<AccessInterceptor>();
            o.Interceptors.Add<RequestInterceptor>();
        });
        StrictUtf8Binding.Use(s);
        s.AddGrpcReflection();
        builder.WebHost.ConfigureKestrel(k => ConfigureKestrel(k, options));
    }

    /// <summary>
    /// Health, reflection, the access table (fails naming a method without an access option) and
    /// /metrics. With <paramref name="servingWhenStarted"/> health turns SERVING once Kestrel has
    /// bound; otherwise the caller turns it (r2m-server: after the models load).
    /// </summary>
    public static void Map(WebApplication app, bool servingWhenStarted)
    {
        StrictUtf8Binding.Verify(app.Services);
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
        var table = MethodAccessTable.FromEndpoints(new CompositeEndpointDataSource(((IEndpointRouteBuilder)app).DataSources));
        app.Services.GetRequiredService<MethodAccessTableHolder>().Set(table);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(GrpcHost).FullName!);
        var board = app.Services.GetRequiredService<ServingStatusBoard>();
        foreach (var (method, requirement) in table.Methods)
        {
            HostLog.MethodAccess(logger, method, requirement);
            var service = method[1..method.LastIndexOf('/')];
            if (!service.StartsWith("grpc.", StringComparison.Ordinal))
            {
                board.Add(service); // the standard services (health, reflection) get no status of their own
            }
        }

        board.SetAll(ServingStatus.NotServing);
        if (servingWhenStarted) app.Lifetime.ApplicationStarted.Register(() => board.SetAll(ServingStatus.Serving));
        app.Lifetime.ApplicationStopping.Register(() => board.SetAll(ServingStatus.NotServing));
        MapMetrics(app, logger);
    }

    /// <summary>The TLS certificate of R2M:CertificatePath: PEM (key in R2M:CertificateKeyPath or in the same file) or PKCS#12.</summary>
    public static X509Certificate2 LoadCertificate(R2MServerOptions o)
    {
        var path = o.CertificatePath ?? throw new InvalidOperationException("R2M:CertificatePath is not set");
        if (o.CertificateKeyPath is { } key) return X509Certificate2.CreateFromPemFile(path, key);
        return File.ReadAllText(path).Contains("-----BEGIN", StringComparison.Ordinal)
            ? X509Certificate2.CreateFromPemFile(path)
            : X509CertificateLoader.LoadPkcs12FromFile(path, password: null);
    }

    private static void ConfigureKestrel(KestrelServerOptions k, R2MServerOptions o)
    {
        k.AddServerHeader = false;
        var ip = o.ListenAddress();
        var certificate = o.CertificatePath is null ? null : LoadCertificate(o);
        k.Listen(ip, o.Port, l =>
        {
            // HTTP/2 only: cleartext with prior knowledge, or TLS where ALPN must pick "h2". An
            // HTTP/1.x request on this port is answered 400 and the connection closed.
            l.Protocols = HttpProtocols.Http2;
            if (certificate is not null) l.UseHttps(certificate);
        });
        if (o.MetricsPort is { } metricsPort)
        {
            k.Listen(ip, metricsPort, l =>
            {
                l.Protocols = HttpProtocols.Http1;
                l.Use(next => connection =>
                {
                    connection.Items[MetricsConnection] = true;
                    return next(connection);
                });
            });
        }

        var limits = k.Limits;
        // Kestrel's 30 MB request-body default would cut unary messages that the per-message limit
        // allows; Grpc.AspNetCore lifts it for streams itself. The message limits bound memory.
        limits.MaxRequestBodySize = null;
        limits.MaxRequestHeadersTotalSize = 32 * 1024;
        // Kestrel pauses a response writer once 64 KiB are buffered; room for a few 1 MiB messages
        // lets a handler serialize the next message while the previous one is sent (hidden states).
        limits.MaxResponseBufferSize = 4 * MiB;
        limits.MaxConcurrentConnections = 1024;
        limits.Http2.MaxStreamsPerConnection = 100;
        limits.Http2.MaxRequestHeaderFieldSize = 16 * 1024;
        limits.Http2.HeaderTableSize = 4096;
        limits.Http2.MaxFrameSize = 16 * 1024;
        // Large messages in flight: windows big enough that one stream is not stalled by acks.
        limits.Http2.InitialConnectionWindowSize = 16 * MiB;
        limits.Http2.InitialStreamWindowSize = 8 * MiB;
        // Dead peers are found by HTTP/2 PING (RFC 9113 section 6.7), not by waiting forever.
        limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(60);
        limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(20);
    }

    /// <summary>GET /metrics (Prometheus text) on the metrics port only, behind the key when every call needs it.</summary>
    private static void MapMetrics(WebApplication app, ILogger logger)
    {
        var options = app.Services.GetRequiredService<R2MServerOptions>();
        if (options.MetricsPort is null) return;
        var key = app.Services.GetRequiredService<ApiKeyCheck>();
        var registry = app.Services.GetRequiredService<ServerMetrics>().Registry;
        app.MapWhen(c => c.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(MetricsConnection) == true, branch =>
        {
            branch.Use(async (context, next) =>
            {
                if (key.Applies(KeyRequirement.WhenRequiredForAll)
                    && key.Reject(context.Request.Headers.Authorization.Select(v => v ?? "").ToList(), "/metrics") is { } reason)
                {
                    HostLog.MetricsRefused(logger, reason);
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await context.Response.WriteAsync(reason).ConfigureAwait(false);
                    return;
                }

                await next(context).ConfigureAwait(false);
            });
            branch.UseMetricServer(settings => settings.Registry = registry, "/metrics");
            branch.Run(context =>
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            });
        });
    }
}
