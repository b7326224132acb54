using Microsoft.Extensions.Logging;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Models;

namespace R2M.Server.Internal;

/// <summary>Everything the services share: the hosted models, the rollout store, versions and limits.</summary>
internal sealed class ServerState : IAsyncDisposable
{
    private long _policyVersion = 1;
    private long _rmVersion = 1;
    private long _seedCounter;
    private Schedule? _lastSchedule;

    public ServerState(R2MServerOptions options, ServerMetrics metrics, ILogger logger, TimeProvider time)
    {
        Options = options;
        Metrics = metrics;
        Logger = logger;
        Time = time;
        Policy = HostedModel.Load(options.PolicyPath!, "policy");
        if (Policy.Model.Config.Head != ModelHead.CausalLm)
        {
            throw new InvalidOperationException($"policy '{Policy.Directory}' has a {Policy.Model.Config.Head} head; the policy must be a causal LM");
        }

        Log("policy", Policy);
        Reference = Policy.CloneFrozen();
        TrainerModel = HostedModel.CopyOf(Policy.Model);
        InitialPolicy = (float[])Policy.Model.Parameters.Clone();
        PolicyAdam = new AdamWOptimizer(InitialPolicy.Length, new AdamWOptions(options.PolicyLearningRate));
        var rm = HostedModel.Load(options.RewardModelPath!, "reward model");
        Log("reward model", rm);
        SharedTokenizer = File.ReadAllText(Policy.TokenizerPath) == File.ReadAllText(rm.TokenizerPath)
            && Policy.VocabSize == rm.VocabSize;
        try
        {
            Reward = new RewardEngine(rm, Policy.Width, options.AttentionDim, options.AttentionHeads, options.Seed, options.RewardLearningRate);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"reward model '{rm.Directory}': {e.Message}", e);
        }

        Store = new RolloutStore(options.RolloutStoreBytes, metrics);
        Batcher = new ScoreBatcher(Reward, options, metrics, logger, time);
        metrics.SetVersions(PolicyVersion, RmVersion);
    }

    public R2MServerOptions Options { get; }
    public ServerMetrics Metrics { get; }
    public ILogger Logger { get; }
    public TimeProvider Time { get; }

    /// <summary>The serving policy (Generate reads it under its gate).</summary>
    public HostedModel Policy { get; }

    /// <summary>The frozen reference policy (KL term).</summary>
    public HostedModel Reference { get; }

    /// <summary>
    /// The copy Optimize trains; its weights are copied into <see cref="Policy"/> under the policy gate
    /// when a step finishes, so Generate never sees half-updated weights and is not blocked by training.
    /// </summary>
    public TransformerModel TrainerModel { get; }

    /// <summary>AdamW moments of the policy (persist across Optimize calls).</summary>
    public AdamWOptimizer PolicyAdam { get; set; }

    public float[] InitialPolicy { get; }
    public RewardEngine Reward { get; }

    /// <summary>Policy and RM use the same tokenizer.json, so policy token ids are RM token ids.</summary>
    public bool SharedTokenizer { get; }
    public RolloutStore Store { get; }
    public ScoreBatcher Batcher { get; }

    /// <summary>Serializes Optimize, Update, checkpoint save/load and Reset against each other.</summary>
    public SemaphoreSlim AdminGate { get; } = new(1, 1);

    /// <summary>Replies of recent identified Optimize/Update calls (request_id), for re-sends after a lost reply.</summary>
    public WriteReplies Replies { get; } = new();

    public ulong PolicyVersion => (ulong)Interlocked.Read(ref _policyVersion);
    public ulong RmVersion => (ulong)Interlocked.Read(ref _rmVersion);

    public Schedule? LastSchedule
    {
        get => Volatile.Read(ref _lastSchedule);
        set => Volatile.Write(ref _lastSchedule, value);
    }

    /// <summary>A sampler seed for a request without one (distinct per call, reproducible per server seed).</summary>
    public ulong NextSeed() => Options.Seed + (ulong)Interlocked.Increment(ref _seedCounter) * 0x9E3779B97F4A7C15UL;

    /// <summary>Copies the trained weights into the serving policy (atomic for Generate) and bumps policy_version.</summary>
    public async Task<ulong> PublishPolicyAsync(CancellationToken ct)
    {
        await Policy.Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            TrainerModel.Parameters.CopyTo(Policy.Model.Parameters, 0);
            var v = (ulong)Interlocked.Increment(ref _policyVersion);
            Metrics.SetVersions(v, RmVersion);
            return v;
        }
        finally
        {
            Policy.Gate.Release();
        }
    }

    /// <summary>Reserves the next rm_version and publishes the trainer head under it.</summary>
    public ulong PublishReward()
    {
        var v = (ulong)Interlocked.Increment(ref _rmVersion);
        Reward.Publish(v);
        Metrics.SetVersions(PolicyVersion, v);
        return v;
    }

    /// <summary>Versions only grow (protos: stale scores stay detectable), also across Reset and LoadCheckpoint.</summary>
    public void AdvanceVersions(ulong policyAtLeast, ulong rmAtLeast)
    {
        var p = Math.Max(PolicyVersion + 1, policyAtLeast);
        var r = Math.Max(RmVersion + 1, rmAtLeast);
        Interlocked.Exchange(ref _policyVersion, (long)p);
        Interlocked.Exchange(ref _rmVersion, (long)r);
        Reward.Publish(r);
        Metrics.SetVersions(p, r);
    }

    private void Log(string role, HostedModel m) =>
        ServerLog.ModelLoaded(Logger, role, m.Directory, m.Model.Config.ModelType, m.Width, m.Model.Config.NumLayers, m.VocabSize, m.Model.ParameterCount);

    public ValueTask DisposeAsync() => Batcher.DisposeAsync();
}
