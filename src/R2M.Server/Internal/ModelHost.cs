using Grpc.Core;

namespace R2M.Server.Internal;

/// <summary>
/// The loading phase of r2m-server: <see cref="ModelLoader"/> loads the models after Kestrel bound its
/// ports, then (R2M:ResumeFrom) restores a checkpoint. Until the models are loaded, resolving the
/// services that need them is UNAVAILABLE; until the server is ready every r2m call is UNAVAILABLE,
/// with a message saying why, and grpc.health.v1 reports NOT_SERVING, so clients retry and probes wait.
/// </summary>
internal sealed class ModelHost
{
    private readonly TaskCompletionSource<HostedModels> _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The loaded models (DI resolves the model services from here); UNAVAILABLE before.</summary>
    public HostedModels Models => _loaded.Task.IsCompletedSuccessfully ? _loaded.Task.Result : throw NotYet();

    /// <summary>Completes once the models are loaded and any checkpoint is restored; faults with the loading error.</summary>
    public Task Ready => _ready.Task;

    /// <summary>UNAVAILABLE until <see cref="Ready"/>: a call must not see the state before the resumed checkpoint.</summary>
    public void EnsureReady()
    {
        if (!_ready.Task.IsCompletedSuccessfully) throw NotYet();
    }

    public void SetLoaded(HostedModels models) => _loaded.TrySetResult(models);

    public void SetReady() => _ready.TrySetResult();

    public void SetFailed(Exception error)
    {
        _loaded.TrySetException(error);
        _ready.TrySetException(error);
    }

    private RpcException NotYet() => new(new Status(StatusCode.Unavailable,
        _ready.Task.IsFaulted
            ? "r2m-server failed to load its models and is stopping; see its log"
            : "r2m-server is still loading its models; retry when grpc.health.v1.Health reports SERVING"));
}
