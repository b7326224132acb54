using System.Collections.Frozen;
using System.Reflection;
using Google.Protobuf.Reflection;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;
using R2M.Api.V1;
using HealthService = Grpc.Health.V1.Health;
using ReflectionV1 = Grpc.Reflection.V1.ServerReflection;
using ReflectionV1Alpha = Grpc.Reflection.V1Alpha.ServerReflection;
using ServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// Which calls need the API key, read once from the descriptors of every mapped gRPC method: the
/// <c>(r2m.v1.access)</c> option of r2m/v1/options.proto, found through the generated service base
/// (<see cref="BindServiceMethodAttribute"/> names the generated class whose static
/// <c>Descriptor</c> describes the service, as Grpc.AspNetCore itself binds services). Fail
/// closed: a mapped method without the option, or whose descriptor cannot be found, stops the
/// server at start-up with a message naming it. The two standard services cannot carry our
/// option, so their rule is declared here, once: health never needs the key, reflection is a read.
/// </summary>
internal sealed class MethodAccessTable
{
    private static readonly FrozenDictionary<string, KeyRequirement> StandardServices = new Dictionary<string, KeyRequirement>
    {
        [HealthService.Descriptor.FullName] = KeyRequirement.None,
        [ReflectionV1.Descriptor.FullName] = KeyRequirement.WhenRequiredForAll,
        [ReflectionV1Alpha.Descriptor.FullName] = KeyRequirement.WhenRequiredForAll,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private readonly FrozenDictionary<string, KeyRequirement> _byPath;

    private MethodAccessTable(FrozenDictionary<string, KeyRequirement> byPath) => _byPath = byPath;

    /// <summary>Method paths ("/package.Service/Method") and what each needs.</summary>
    public IReadOnlyDictionary<string, KeyRequirement> Methods => _byPath;

    /// <summary>Builds the table from the gRPC endpoints mapped on <paramref name="endpoints"/>; throws naming the first method without an access option.</summary>
    public static MethodAccessTable FromEndpoints(EndpointDataSource endpoints)
    {
        var table = new Dictionary<string, KeyRequirement>(StringComparer.Ordinal);
        foreach (var metadata in endpoints.Endpoints.Select(e => e.Metadata.GetMetadata<GrpcMethodMetadata>()).OfType<GrpcMethodMetadata>())
        {
            table[metadata.Method.FullName] = Requirement(metadata);
        }

        return new MethodAccessTable(table.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>The declared access of one method descriptor; null when the method has no (r2m.v1.access) option.</summary>
    public static Access? DeclaredAccess(MethodDescriptor method) =>
        method.GetOptions() is { } options && options.HasExtension(OptionsExtensions.Access) && options.GetExtension(OptionsExtensions.Access) != Access.Unspecified
            ? options.GetExtension(OptionsExtensions.Access)
            : null;

    /// <summary>What a call of <paramref name="path"/> needs; a path not in the table (grpc-dotnet's UNIMPLEMENTED answers) needs nothing.</summary>
    public KeyRequirement For(string path) => _byPath.GetValueOrDefault(path, KeyRequirement.None);

    private static KeyRequirement Requirement(GrpcMethodMetadata metadata)
    {
        var method = metadata.Method;
        if (StandardServices.TryGetValue(method.ServiceName, out var standard))
        {
            return standard;
        }

        var descriptor = ServiceDescriptorOf(metadata.ServiceType)?.FindMethodByName(method.Name)
            ?? throw new InvalidOperationException($"gRPC method {method.FullName} ({metadata.ServiceType.Name}) has no protobuf descriptor, so its (r2m.v1.access) option cannot be read; derive the service from its generated base class");
        return DeclaredAccess(descriptor) switch
        {
            Access.Read => KeyRequirement.WhenRequiredForAll,
            Access.Write => KeyRequirement.Always,
            _ => throw new InvalidOperationException(
                $"gRPC method {method.FullName} declares no access: add `option (r2m.v1.access) = READ;` or `= WRITE;` to it in {descriptor.File.Name} (r2m/v1/options.proto); r2m-server refuses to serve a method whose access is not declared"),
        };
    }

    private static ServiceDescriptor? ServiceDescriptorOf(Type serviceType)
    {
        var bind = serviceType.GetCustomAttribute<BindServiceMethodAttribute>(inherit: true);
        return bind?.BindType.GetProperty(nameof(HealthService.Descriptor), BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as ServiceDescriptor;
    }
}
