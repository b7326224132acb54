using R2M.Alignment;
using R2M.Models;

namespace R2M.Server.Internal;

/// <summary>
/// The policy as a double buffer of two R2M.Alignment <see cref="PolicyOptimizer"/>s, each over its own
/// weights and AdamW state: one is served (Generate reads it under the policy gate), the other is the
/// scratch copy the next Optimize trains. <see cref="Publish"/> swaps their roles under the gate (one
/// reference swap, with policy_version) and re-syncs the loser from the winner, so both hold the served
/// state again before the next write; <see cref="Rollback"/> re-syncs the scratch copy after a failed
/// write. Nothing is allocated per call; the moments stay in the optimizers between calls. Only writes
/// (under <see cref="WriteGate"/>) touch the scratch copy or publish.
/// </summary>
internal sealed class PolicyHost
{
    private readonly PolicyOptimizer[] _slots = new PolicyOptimizer[2];
    private readonly float[] _initial;
    private readonly HostedModel _meta;
    private readonly ServerMetrics _metrics;
    private readonly ulong _seed;
    private int _served;
    private long _version = 1;
    private long _seedCounter;

    public PolicyHost(HostedModels models, R2MServerOptions options, ServerMetrics metrics)
    {
        _meta = models.Policy;
        _metrics = metrics;
        _seed = options.Seed;
        // Betas, epsilon and weight decay are fixed here; each Optimize passes its own learning rate.
        var defaults = new PolicyOptimizerOptions(Optimizer: new AdamWOptions(options.PolicyLearningRate));
        _slots[0] = new PolicyOptimizer(new TransformerPolicy(_meta.Model), defaults);
        _slots[1] = new PolicyOptimizer(new TransformerPolicy(HostedModel.CopyOf(_meta.Model)), defaults);
        _initial = _meta.Model.Parameters.ToArray();
        metrics.SetPolicyVersion(Version);
    }

    /// <summary>Tokenizer, limits and shape of the policy (the same for both buffers).</summary>
    public HostedModel Meta => _meta;

    public ulong Version => (ulong)Interlocked.Read(ref _version);

    /// <summary>The default learning rate of Optimize (R2M:PolicyLearningRate).</summary>
    public float LearningRate => _slots[0].Options.OptimizerOrDefault.LearningRate;

    /// <summary>The copy the running write trains (write gate only).</summary>
    public PolicyOptimizer Scratch => _slots[1 - _served];

    /// <summary>The served weights and their AdamW state, for checkpoints (write gate only: no write swaps meanwhile).</summary>
    public PolicyOptimizer Served => _slots[_served];

    /// <summary>Runs <paramref name="read"/> on the served weights and their version under the policy gate (Generate).</summary>
    public async Task<T> ReadAsync<T>(Func<TransformerModel, ulong, T> read, CancellationToken ct)
    {
        await _meta.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return read(Model(_slots[_served]), Version);
        }
        finally
        {
            _meta.Gate.Release();
        }
    }

    /// <summary>
    /// The one place a trained policy is published: the scratch copy becomes the served one together with
    /// the next policy_version (at least <paramref name="atLeast"/>), under the gate, so Generate sees either
    /// the old weights and version or the new ones. Then the old buffer takes the new state.
    /// </summary>
    public ulong Publish(ulong atLeast = 0)
    {
        ulong version;
        // Synchronous: writes run on a worker thread (their training is synchronous CPU work too).
        _meta.Gate.Wait();
        try
        {
            _served = 1 - _served;
            version = Math.Max(Version + 1, atLeast);
            Interlocked.Exchange(ref _version, (long)version);
        }
        finally
        {
            _meta.Gate.Release();
        }

        // No reader can hold the old buffer now: Generate reads the served one under the gate.
        Scratch.CopyStateFrom(Served);
        _metrics.SetPolicyVersion(version);
        return version;
    }

    /// <summary>Discards whatever the failed write did to the scratch copy.</summary>
    public void Rollback() => Scratch.CopyStateFrom(Served);

    /// <summary>Versions only grow (stale scores stay detectable): a checkpoint load that keeps the weights still moves it.</summary>
    public ulong Advance(ulong atLeast)
    {
        var version = Math.Max(Version + 1, atLeast);
        Interlocked.Exchange(ref _version, (long)version);
        _metrics.SetPolicyVersion(version);
        return version;
    }

    /// <summary>Startup weights and fresh moments in the scratch copy (admin.proto Reset); publish to serve them.</summary>
    public void ResetScratch()
    {
        _initial.CopyTo(Scratch.Policy.Parameters);
        Scratch.Optimizer.Reset();
    }

    /// <summary>A sampler seed for a request without one (distinct per call, reproducible per server seed).</summary>
    public ulong NextSeed() => _seed + ((ulong)Interlocked.Increment(ref _seedCounter) * 0x9E3779B97F4A7C15UL);

    private static TransformerModel Model(PolicyOptimizer slot) => ((TransformerPolicy)slot.Policy).Model;
}
