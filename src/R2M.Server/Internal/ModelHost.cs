using Grpc.Core;

namespace R2M.Server.Internal;

/// <summary>
/// Holds the <see cref="ServerState"/> once <see cref="ModelLoader"/> has loaded the models (after
/// Kestrel bound its ports). Until then every r2m call is UNAVAILABLE with a message saying why, and
/// grpc.health.v1 reports NOT_SERVING, so clients retry and probes wait.
/// </summary>
internal sealed class ModelHost : IAsyncDisposable
{
    private readonly TaskCompletionSource<ServerState> _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ServerState? _state;

    /// <summary>The loaded state; UNAVAILABLE while the models are loading (or failed to load).</summary>
    public ServerState State => Volatile.Read(ref _state) ?? throw new RpcException(new Status(StatusCode.Unavailable,
        _loaded.Task.IsFaulted
            ? "r2m-server failed to load its models and is stopping; see its log"
            : "r2m-server is still loading its models; retry when grpc.health.v1.Health reports SERVING"));

    /// <summary>Completes when the models are loaded; faults with the loading error.</summary>
    public Task<ServerState> Loaded => _loaded.Task;

    public void SetLoaded(ServerState state)
    {
        Volatile.Write(ref _state, state);
        _loaded.TrySetResult(state);
    }

    public void SetFailed(Exception error) => _loaded.TrySetException(error);

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _state) is { } state)
        {
            await state.DisposeAsync().ConfigureAwait(false);
        }
    }
}
