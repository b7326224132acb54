using Google.Protobuf.Reflection;

namespace R2M.Grpc.Internal;

/// <summary>The services mapped on this host; server reflection lists them.</summary>
internal sealed class GrpcServiceRegistry
{
    private readonly Lock _lock = new();
    private readonly List<ServiceDescriptor> _services = [];

    public bool FallbackMapped { get; set; }

    public void Add(ServiceDescriptor service)
    {
        lock (_lock)
        {
            if (!_services.Any(s => s.FullName == service.FullName))
            {
                _services.Add(service);
            }
        }
    }

    public IReadOnlyList<ServiceDescriptor> Snapshot()
    {
        lock (_lock)
        {
            return [.. _services];
        }
    }
}
