using Grpc.HealthCheck;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// The statuses grpc.health.v1 (Grpc.HealthCheck's <see cref="HealthServiceImpl"/>, Check and
/// Watch) reports for the whole server ("") and for each mapped service: NOT_SERVING from
/// start-up until the host is ready, then SERVING; NOT_SERVING again while it stops.
/// </summary>
internal sealed class ServingStatusBoard(HealthServiceImpl health)
{
    private readonly List<string> _services = [""];

    public IReadOnlyList<string> Services => _services;

    /// <summary>Registers a service name (full protobuf name) at NOT_SERVING.</summary>
    public void Add(string service)
    {
        if (!_services.Contains(service)) _services.Add(service);
        health.SetStatus(service, ServingStatus.NotServing);
    }

    public void SetAll(ServingStatus status)
    {
        foreach (var s in _services) health.SetStatus(s, status);
    }
}
