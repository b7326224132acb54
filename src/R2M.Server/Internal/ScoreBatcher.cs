using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using R2M.Alignment;

namespace R2M.Server.Internal;

/// <summary>One item waiting to be scored: RM tokens, feedback h (Rows, D_p), its omega and feedback source; <see cref="Entry"/> when by rollout id.</summary>
internal sealed class ScoreWork
{
    public required int[] RmTokens { get; init; }
    public float[] Hidden { get; init; } = [];
    public int Rows { get; init; }
    public required float Omega { get; init; }
    public FeedbackSource Feedback { get; init; } = FeedbackSource.Policy;
    public StoredRollout? Entry { get; init; }
    public TaskCompletionSource<ScoreOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal readonly record struct ScoreOutcome(float Reward, float VanillaReward, float Omega, ulong RmVersion);

/// <summary>
/// Dynamic batching across all Score streams, on a thread of its own: the first waiting item opens a
/// batch that collects more items for at most the wait window (or until the batch is full); then the
/// batch's missing RTEs come from one backbone pass and R2M.Alignment scores all of it with ONE head
/// snapshot (<see cref="R2MRewardModel.Score(R2MHead, IReadOnlyList{RewardItem}, R2M.Tensors.Rng, Span{float})"/>:
/// one head forward per distinct omega). The batching and threading live here; the scoring is the library's.
/// </summary>
internal sealed class ScoreBatcher : IAsyncDisposable
{
    private readonly Channel<ScoreWork> _queue = Channel.CreateUnbounded<ScoreWork>(new UnboundedChannelOptions { SingleReader = true });
    private readonly RewardHost _reward;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TimeSpan _window;
    private readonly int _maxBatch;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ScoreBatcher(RewardHost reward, R2MServerOptions options, ServerMetrics metrics, ILogger<ScoreBatcher> logger, TimeProvider time)
    {
        (_reward, _metrics, _logger, _time) = (reward, metrics, logger, time);
        _window = TimeSpan.FromMilliseconds(options.ScoreBatchWindowMs);
        _maxBatch = options.ScoreMaxBatch;
        // A dedicated thread: the backbone forward is long synchronous CPU work, and on a thread-pool
        // thread it would starve Kestrel's I/O (and the streams feeding this batcher) on small machines.
        _loop = Task.Factory.StartNew(Loop, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

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
        float[][] rtes;
        try
        {
            rtes = _reward.Rtes([.. batch.Select(w => w.RmTokens)], [.. batch.Select(w => w.Entry?.Id)], _stop.Token);
        }
        catch (Exception e)
        {
            foreach (var w in batch) w.Done.TrySetException(e);
            return;
        }

        var items = batch.Select((w, i) => new RewardItem(new RewardInput(rtes[i], w.Hidden, w.Rows), w.Omega, w.Feedback)).ToList();
        // One head snapshot for the whole batch: every item of it carries the same rm_version.
        var version = _reward.Score((head, v, noise) =>
        {
            var rewards = new float[items.Count];
            try
            {
                R2MRewardModel.Score(head, items, noise, rewards);
                for (var i = 0; i < batch.Count; i++) Complete(batch[i], head, items[i], rewards[i], v);
            }
            catch (ArgumentException)
            {
                // The library checks the whole batch before computing anything: score the items one by one
                // so that only the bad one gets the error (in-band, naming what was wrong).
                for (var i = 0; i < batch.Count; i++) ScoreAlone(batch[i], head, items[i], v, noise);
            }

            return v;
        });
        _metrics.RecordBatch(batch.Count);
        ServerLog.ScoredBatch(_logger, batch.Count, version);
    }

    private static void ScoreAlone(ScoreWork work, R2MHead head, RewardItem item, ulong version, R2M.Tensors.Rng noise)
    {
        try
        {
            Span<float> reward = stackalloc float[1];
            R2MRewardModel.Score(head, [item], noise, reward);
            Complete(work, head, item, reward[0], version);
        }
        catch (Exception e)
        {
            work.Done.TrySetException(e);
        }
    }

    private static void Complete(ScoreWork work, R2MHead head, RewardItem item, float reward, ulong version)
    {
        if (work.Entry is { } entry) entry.LastReward = reward;
        work.Done.TrySetResult(new ScoreOutcome(reward, head.VanillaScore(item.Input.Rte.Span), item.EffectiveOmega, version));
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
