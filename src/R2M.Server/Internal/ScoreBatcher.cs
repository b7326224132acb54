using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using R2M.Alignment;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>One item waiting to be scored. Either <see cref="Entry"/> (by rollout id) or inline data.</summary>
internal sealed class ScoreWork
{
    public required int[] RmTokens { get; init; }
    public float[]? Rte { get; set; }
    public float[] Hidden { get; init; } = [];
    public int Rows { get; init; }
    public required float Omega { get; init; }
    public bool Noise { get; init; }
    public StoredRollout? Entry { get; init; }
    public TaskCompletionSource<ScoreOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal readonly record struct ScoreOutcome(float Reward, float VanillaReward, float Omega, ulong RmVersion);

/// <summary>
/// Dynamic batching across all Score streams: the first waiting item opens a batch that collects
/// more items for at most the wait window (or until the batch is full), then one forward of the
/// frozen backbone computes the missing RTEs and the head scores every item with ONE snapshot.
/// </summary>
internal sealed class ScoreBatcher : IAsyncDisposable
{
    private readonly Channel<ScoreWork> _queue = Channel.CreateUnbounded<ScoreWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly RewardEngine _engine;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _window;
    private readonly int _maxBatch;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private const ulong NoiseSeed = 0x5C0E;
    private readonly Rng _noise = new(NoiseSeed);

    /// <summary>Guards <see cref="_noise"/>: the batcher thread draws from it while an admin call may save or restore it.</summary>
    private readonly Lock _noiseLock = new();

    public ScoreBatcher(RewardEngine engine, R2MServerOptions options, ServerMetrics metrics, ILogger logger, TimeProvider time)
    {
        (_engine, _metrics, _logger, _time) = (engine, metrics, logger, time);
        _window = TimeSpan.FromMilliseconds(options.ScoreBatchWindowMs);
        _maxBatch = options.ScoreMaxBatch;
        // A dedicated thread: the backbone forward is long synchronous CPU work, and on a thread-pool
        // thread it would starve Kestrel's I/O (and the streams feeding this batcher) on small machines.
        _loop = Task.Factory.StartNew(Loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>State of the Score noise stream (R2M w/ Noise), for checkpoints; read and set between items.</summary>
    public Rng.State NoiseState
    {
        get
        {
            lock (_noiseLock) return _noise.GetState();
        }

        set
        {
            lock (_noiseLock) _noise.SetState(value);
        }
    }

    /// <summary>Puts the Score noise stream back to its startup state (Reset).</summary>
    public void ResetNoise() => NoiseState = new Rng(NoiseSeed).GetState();

    public Task<ScoreOutcome> EnqueueAsync(ScoreWork work)
    {
        if (!_queue.Writer.TryWrite(work))
        {
            work.Done.TrySetException(new InvalidOperationException("the server is shutting down"));
        }

        return work.Done.Task;
    }

    private void Loop()
    {
        var reader = _queue.Reader;
        try
        {
            while (reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult())
            {
                var batch = new List<ScoreWork>();
                if (!reader.TryRead(out var first)) continue;
                batch.Add(first);
                Fill(reader, batch);
                Process(batch);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private void Fill(ChannelReader<ScoreWork> reader, List<ScoreWork> batch)
    {
        var deadline = _time.GetTimestamp() + (long)(_window.TotalSeconds * _time.TimestampFrequency);
        while (batch.Count < _maxBatch)
        {
            if (reader.TryRead(out var next))
            {
                batch.Add(next);
                continue;
            }

            var remaining = TimeSpan.FromSeconds((double)(deadline - _time.GetTimestamp()) / _time.TimestampFrequency);
            if (remaining <= TimeSpan.Zero) return;
            // The window runs on the injected clock (TimeProvider), so tests can drive it.
            using var window = new CancellationTokenSource(remaining, _time);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, window.Token);
            try
            {
                if (!reader.WaitToReadAsync(wait.Token).AsTask().GetAwaiter().GetResult()) return;
            }
            catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private void Process(List<ScoreWork> batch)
    {
        try
        {
            FillRtes(batch);
        }
        catch (Exception e)
        {
            foreach (var w in batch) w.Done.TrySetException(e);
            return;
        }

        // One snapshot for the whole batch: every item of it carries the same rm_version.
        var snap = _engine.Current;
        foreach (var w in batch)
        {
            try
            {
                var hidden = w.Hidden;
                if (w.Noise)
                {
                    lock (_noiseLock) hidden = RewardEngine.NoiseLike(w.Hidden, _noise);
                }

                var input = new RewardInput(w.Rte!, hidden, w.Rows);
                var vanilla = snap.Head.VanillaScore(w.Rte!);
                // omega == 1 is the vanilla score exactly (R2MHead.Forward's vanilla path): no second phi pass.
                var reward = w.Omega < 1f ? snap.Head.Score(input, w.Omega) : vanilla;
                if (w.Entry is { } entry) entry.LastReward = reward;
                w.Done.TrySetResult(new ScoreOutcome(reward, vanilla, w.Omega, snap.Version));
            }
            catch (Exception e)
            {
                w.Done.TrySetException(e);
            }
        }

        _metrics.RecordBatch(batch.Count);
        ServerLog.ScoredBatch(_logger, batch.Count, snap.Version);
    }

    private void FillRtes(List<ScoreWork> batch)
    {
        foreach (var w in batch)
        {
            w.Rte ??= w.Entry?.Rte;
        }

        var missing = batch.Where(w => w.Rte is null).ToList();
        if (missing.Count == 0) return;
        var rtes = _engine.ComputeRtes(missing.Select(w => w.RmTokens).ToList(), _stop.Token);
        for (var i = 0; i < missing.Count; i++)
        {
            missing[i].Rte = rtes[i];
            if (missing[i].Entry is { } e) e.Rte = rtes[i];
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        while (_queue.Reader.TryRead(out var w)) w.Done.TrySetException(new OperationCanceledException("server stopping"));
        _stop.Dispose();
    }
}
