using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// Binds every mapped gRPC service the way Grpc.AspNetCore's own binder does (the generated static
/// <c>BindService(ServiceBinderBase, TBase)</c> named by <see cref="BindServiceMethodAttribute"/>, the
/// handler found by name on the service type, the type's and method's attributes as endpoint
/// metadata), with one difference: each request marshaller names the field of a string that is
/// not UTF-8. Google.Protobuf 3.30+ refuses such a string with "String is invalid UTF-8." and no
/// field, and Grpc.AspNetCore reads a unary request before any interceptor runs (the client would get
/// UNKNOWN). The wrapped deserializer locates the field in the raw bytes
/// (<see cref="Utf8FieldLocator"/>) and returns an empty message flagged in <see cref="Utf8Findings"/>;
/// <see cref="RequestInterceptor"/> then answers INVALID_ARGUMENT naming the field, so the rejection
/// is mapped, logged and counted like every other one. A marshaller is only a deserializer hook: the
/// generated code is the only other place one can be set.
/// </summary>
internal sealed class StrictUtf8MethodProvider<TService>(Utf8Findings findings) : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        var bind = typeof(TService).GetCustomAttribute<BindServiceMethodAttribute>(inherit: true);
        var method = bind?.BindType.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static).FirstOrDefault(m =>
            m.Name == bind.BindMethodName && m.GetParameters() is [var b, var s] && b.ParameterType == typeof(ServiceBinderBase) && s.ParameterType.IsAssignableFrom(typeof(TService)));
        if (method is null) return; // not a generated service (Grpc.AspNetCore's binder skips it the same way)
        method.Invoke(null, [new Binder(context, method.GetParameters()[1].ParameterType, findings), null]);
    }

    private sealed class Binder(ServiceMethodProviderContext<TService> context, Type baseType, Utf8Findings findings) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<UnaryServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(ServerCallContext));
            context.AddUnaryMethod(Strict(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ServerStreamingServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddServerStreamingMethod(Strict(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<ClientStreamingServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext));
            context.AddClientStreamingMethod(Strict(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Model<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddDuplexStreamingMethod(Strict(method), metadata, invoker);
        }

        /// <summary>The handler as an open-instance delegate over the service type, and the endpoint metadata (type attributes first, the method's last).</summary>
        private (TDelegate Invoker, List<object> Metadata) Model<TDelegate>(string name, params Type[] parameters)
            where TDelegate : Delegate
        {
            var handler = Handler(name, parameters) ?? throw new InvalidOperationException($"Could not find '{name}' on {typeof(TService)}.");
            List<object> metadata = [.. typeof(TService).GetCustomAttributes(inherit: true), .. handler.GetCustomAttributes(inherit: true)];
            // As Grpc.AspNetCore does: POST only, CORS preflight accepted (answered 405 without CORS middleware).
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return ((TDelegate)Delegate.CreateDelegate(typeof(TDelegate), handler), metadata);
        }

        /// <summary>The public override of the generated base's method (a method that merely hides it is skipped).</summary>
        private MethodInfo? Handler(string name, Type[] parameters)
        {
            for (var type = typeof(TService); type is not null; type = type.BaseType)
            {
                var m = type.GetMethod(name, BindingFlags.Public | BindingFlags.Instance, binder: null, parameters, modifiers: null);
                if (m is null) return null;
                if (m.IsVirtual && m.GetBaseDefinition().DeclaringType == baseType) return m;
            }

            return null;
        }

        private Method<TRequest, TResponse> Strict<TRequest, TResponse>(Method<TRequest, TResponse> method)
            where TRequest : class
            where TResponse : class
        {
            if (Activator.CreateInstance(typeof(TRequest)) is not IMessage { Descriptor: var descriptor }) return method;
            var inner = method.RequestMarshaller.ContextualDeserializer;
            TRequest Deserialize(DeserializationContext payload)
            {
                try
                {
                    return inner(payload);
                }
                catch (InvalidProtocolBufferException e) when (e.InnerException is System.Text.DecoderFallbackException)
                {
                    var empty = (TRequest)Activator.CreateInstance(typeof(TRequest))!;
                    findings.Flag(empty, Utf8FieldLocator.Find(payload.PayloadAsReadOnlySequence(), descriptor) ?? "a string field");
                    return empty;
                }
            }

            var marshaller = Marshallers.Create(method.RequestMarshaller.ContextualSerializer, Deserialize);
            return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
        }
    }
}

/// <summary>Installs <see cref="StrictUtf8MethodProvider{TService}"/> in place of Grpc.AspNetCore's binder provider.</summary>
internal static class StrictUtf8Binding
{
    /// <summary>
    /// Replaces the binder provider (an internal open generic that AddGrpc registers) with the strict
    /// one. Fails closed: if the package no longer registers it, start-up stops here rather than
    /// serving methods without the check.
    /// </summary>
    public static void Use(IServiceCollection services)
    {
        var binder = services.SingleOrDefault(IsGrpcBinder)
            ?? throw new InvalidOperationException("Grpc.AspNetCore no longer registers its BinderServiceMethodProvider; r2m-server's strict UTF-8 binding (Internal/Hosting/StrictUtf8MethodProvider) must be revisited");
        services.Remove(binder);
        services.AddSingleton(typeof(IServiceMethodProvider<>), typeof(StrictUtf8MethodProvider<>));
    }

    /// <summary>After the host is built: the binder provider must not have been registered again (a second AddGrpc would bind every method twice).</summary>
    public static void Verify(IServiceProvider services)
    {
        if (services.GetServices<IServiceMethodProvider<Grpc.HealthCheck.HealthServiceImpl>>().Any(p => IsGrpcBinderType(p.GetType())))
        {
            throw new InvalidOperationException("Grpc.AspNetCore's binder provider was registered again after r2m-server replaced it (AddGrpc called twice?)");
        }
    }

    private static bool IsGrpcBinder(ServiceDescriptor d) =>
        d.ServiceType == typeof(IServiceMethodProvider<>) && d.ImplementationType is { } t && IsGrpcBinderType(t);

    private static bool IsGrpcBinderType(Type t) =>
        t.Name == "BinderServiceMethodProvider`1" && t.Assembly == typeof(GrpcServiceOptions).Assembly;
}
