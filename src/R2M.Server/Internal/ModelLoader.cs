using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using R2M.Server.Internal.Checkpoints;
using R2M.Server.Internal.Hosting;

namespace R2M.Server.Internal;

/// <summary>
/// Removes what unfinished checkpoint saves left under the checkpoint root, then loads the policy
/// and the reward model (and R2M:ResumeFrom) once Kestrel has bound its ports, so
/// the port is open and health answers NOT_SERVING while large models load; then publishes the
/// state and flips health to SERVING. A load failure is printed as <c>r2m-server: ...</c> on stderr
/// and stops the host with exit code 1 (R2MServer.RunAsync).
/// </summary>
internal sealed class ModelLoader(
    ModelHost host, ServingStatusBoard health, R2MServerOptions options, ServerMetrics metrics, CheckpointDirectory checkpoints,
    ILogger<ModelLoader> logger, TimeProvider time, IHostApplicationLifetime lifetime, LoadGate? gate = null) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        using (stoppingToken.Register(() => started.TrySetCanceled(stoppingToken)))
        {
            try
            {
                await started.Task.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        ServerLog.LoadingModels(logger);
        var start = time.GetTimestamp();
        try
        {
            if (gate is not null)
            {
                await gate.Opened.WaitAsync(stoppingToken).ConfigureAwait(false);
            }

            var state = await Task.Run(Load, stoppingToken).ConfigureAwait(false);
            host.SetLoaded(state);
            health.SetAll(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving);
            ServerLog.ModelsReady(logger, time.GetElapsedTime(start).TotalSeconds);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            ServerLog.LoadFailed(logger, e);
            host.SetFailed(e);
            await Console.Error.WriteLineAsync($"r2m-server: {e.Message}").ConfigureAwait(false);
            lifetime.StopApplication();
        }
    }

    private ServerState Load()
    {
        // Before anything can save or load: the admin service answers UNAVAILABLE until the state is published.
        checkpoints.CleanUp();
        var state = new ServerState(options, metrics, logger, time);
        try
        {
            Resume(state);
            return state;
        }
        catch
        {
            state.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    private void Resume(ServerState state)
    {
        if (options.ResumeFrom is { Length: > 0 } resume)
        {
            try
            {
                var at = checkpoints.ResolveResume(resume);
                var (bytes, _, _) = CheckpointStore.Load(state, checkpoints, at, rewardOnly: false);
                ServerLog.Checkpoint(logger, "resumed", at.Directory, state.PolicyVersion, state.RmVersion, bytes);
            }
            catch (Exception e) when (e is CheckpointAccessException or InvalidInputException or PreconditionException)
            {
                throw new InvalidOperationException($"R2M:ResumeFrom '{resume}': {e.Message}", e);
            }
        }
    }
}

/// <summary>Holds model loading back until <see cref="Opened"/> completes (tests observe the loading phase with it).</summary>
internal sealed class LoadGate
{
    private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Opened => _opened.Task;

    public void Open() => _opened.TrySetResult();
}
