using System.Threading.Channels;
using R2M.Grpc.Health.V1;
using ServingStatus = R2M.Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Grpc;

/// <summary>
/// <c>grpc.health.v1.Health</c> (grpc/grpc doc/health-checking.md). Statuses are set by the
/// application; "" is the whole server and starts as SERVING. Check on an unknown service is
/// NOT_FOUND; Watch sends the current status at once and then every change (SERVICE_UNKNOWN for an
/// unknown service, keeping the stream open).
/// </summary>
public sealed class GrpcHealthService
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [""] = ServingStatus.Serving };
    private readonly Dictionary<string, List<Channel<ServingStatus>>> _watchers = new(StringComparer.Ordinal);

    /// <summary>Sets a service's status and notifies its watchers.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            _statuses[service] = status;
            Notify(service, status);
        }
    }

    /// <summary>Forgets a service: Check answers NOT_FOUND, watchers see SERVICE_UNKNOWN.</summary>
    public void ClearStatus(string service)
    {
        lock (_lock)
        {
            if (_statuses.Remove(service))
            {
                Notify(service, ServingStatus.ServiceUnknown);
            }
        }
    }

    /// <summary>The current status, or null when the service is unknown.</summary>
    public ServingStatus? GetStatus(string service)
    {
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var s) ? s : null;
        }
    }

    internal GrpcServiceDefinition CreateDefinition() =>
        new GrpcServiceDefinition(HealthReflection.Descriptor.Services[0])
            .AddUnary<HealthCheckRequest, HealthCheckResponse>("Check", CheckAsync)
            .AddServerStreaming<HealthCheckRequest, HealthCheckResponse>("Watch", WatchAsync);

    private Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, ServerCallContext context)
    {
        var status = GetStatus(request.Service)
            ?? throw new RpcException(new Status(StatusCode.NotFound, $"Unknown service '{request.Service}'."));
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    private async Task WatchAsync(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> stream, ServerCallContext context)
    {
        // Only the latest status matters to a watcher; older undelivered ones are dropped.
        var channel = Channel.CreateBounded<ServingStatus>(new BoundedChannelOptions(1)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_lock)
        {
            channel.Writer.TryWrite(_statuses.TryGetValue(request.Service, out var s) ? s : ServingStatus.ServiceUnknown);
            if (!_watchers.TryGetValue(request.Service, out var list))
            {
                _watchers[request.Service] = list = [];
            }

            list.Add(channel);
        }

        try
        {
            await foreach (var status in channel.Reader.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
            {
                await stream.WriteAsync(new HealthCheckResponse { Status = status }).ConfigureAwait(false);
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers[request.Service].Remove(channel);
            }
        }
    }

    private void Notify(string service, ServingStatus status)
    {
        if (_watchers.TryGetValue(service, out var list))
        {
            foreach (var channel in list)
            {
                channel.Writer.TryWrite(status);
            }
        }
    }
}
