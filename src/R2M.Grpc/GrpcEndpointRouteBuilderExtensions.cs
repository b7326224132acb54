using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using R2M.Grpc.Internal;

namespace R2M.Grpc;

/// <summary>Maps gRPC services onto ASP.NET Core endpoint routing.</summary>
public static class GrpcEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps every method of <paramref name="service"/> to <c>POST /package.Service/Method</c>.
    /// Methods without a handler answer UNIMPLEMENTED, as does any other gRPC path.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, GrpcServiceDefinition service)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        var registry = endpoints.ServiceProvider.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddR2MGrpc() before mapping gRPC services.");
        var runtime = CreateRuntime(endpoints.ServiceProvider);
        var builders = new List<IEndpointConventionBuilder>();
        foreach (var method in service.Descriptor.Methods)
        {
            var path = $"/{service.Descriptor.FullName}/{method.Name}";
            var handler = service.Methods.TryGetValue(method.Name, out var binding)
                ? binding.CreateRequestDelegate(runtime)
                : UnimplementedHandler.CreateForMethod(runtime, path);
            builders.Add(endpoints.MapPost(path, handler).WithDisplayName($"gRPC {path}"));
        }

        registry.Add(service.Descriptor);
        if (!registry.FallbackMapped)
        {
            registry.FallbackMapped = true;
            endpoints.MapPost("/{**path}", UnimplementedHandler.Create(runtime, registry)).WithDisplayName("gRPC unimplemented");
        }

        return new CompositeConventionBuilder(builders);
    }

    /// <summary>Binds handlers to <paramref name="descriptor"/> in <paramref name="bind"/> and maps it.</summary>
    public static IEndpointConventionBuilder MapGrpcService(
        this IEndpointRouteBuilder endpoints, ServiceDescriptor descriptor, Action<GrpcServiceDefinition> bind)
    {
        ArgumentNullException.ThrowIfNull(bind);
        var definition = new GrpcServiceDefinition(descriptor);
        bind(definition);
        return endpoints.MapGrpcService(definition);
    }

    /// <summary>Maps <c>grpc.health.v1.Health</c>; set statuses through the <see cref="GrpcHealthService"/> singleton.</summary>
    public static IEndpointConventionBuilder MapGrpcHealthService(this IEndpointRouteBuilder endpoints)
    {
        var health = endpoints.ServiceProvider.GetRequiredService<GrpcHealthService>();
        return endpoints.MapGrpcService(health.CreateDefinition());
    }

    /// <summary>
    /// Maps server reflection, <c>grpc.reflection.v1</c> and <c>grpc.reflection.v1alpha</c>, describing
    /// every service mapped on this host (including ones mapped later).
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcReflectionService(this IEndpointRouteBuilder endpoints)
    {
        var registry = endpoints.ServiceProvider.GetService<GrpcServiceRegistry>()
            ?? throw new InvalidOperationException("Call services.AddR2MGrpc() before mapping gRPC services.");
        var reflection = new ReflectionService(registry);
        var v1 = endpoints.MapGrpcService(reflection.CreateV1Definition());
        var v1alpha = endpoints.MapGrpcService(reflection.CreateV1AlphaDefinition());
        return new CompositeConventionBuilder([v1, v1alpha]);
    }

    private static ServerRuntime CreateRuntime(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<GrpcServerOptions>>().Value;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("R2M.Grpc.Server");
        var time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        return new ServerRuntime(options, logger, time);
    }

    private sealed class CompositeConventionBuilder(IReadOnlyList<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
    {
        public void Add(Action<EndpointBuilder> convention)
        {
            foreach (var builder in builders)
            {
                builder.Add(convention);
            }
        }

        public void Finally(Action<EndpointBuilder> finallyConvention)
        {
            foreach (var builder in builders)
            {
                builder.Finally(finallyConvention);
            }
        }
    }
}
