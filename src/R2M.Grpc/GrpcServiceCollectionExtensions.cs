using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using R2M.Grpc.Internal;

namespace R2M.Grpc;

/// <summary>Registers the gRPC server and configures Kestrel for it.</summary>
public static class GrpcServiceCollectionExtensions
{
    /// <summary>
    /// Adds the gRPC server: options, routing, the service registry (for reflection), the health
    /// service and a <see cref="TimeProvider"/> (the system clock unless one is registered).
    /// </summary>
    public static IServiceCollection AddR2MGrpc(this IServiceCollection services, Action<GrpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddOptions<GrpcServerOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.AddRouting();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<GrpcServiceRegistry>();
        services.TryAddSingleton<GrpcHealthService>();
        return services;
    }

    /// <summary>
    /// Listens for gRPC on <paramref name="endPoint"/>: cleartext HTTP/2 with prior knowledge, or
    /// HTTP/2 over TLS (ALPN "h2") when <paramref name="certificate"/> is given.
    /// </summary>
    public static void ListenGrpc(this KestrelServerOptions kestrel, IPEndPoint endPoint, X509Certificate2? certificate = null)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        kestrel.Listen(endPoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        });
    }
}
