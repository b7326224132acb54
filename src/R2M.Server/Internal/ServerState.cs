using Microsoft.Extensions.Logging;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>Everything the services share: the hosted models, the rollout store, versions and limits.</summary>
internal sealed class ServerState : IAsyncDisposable
{
    private long _policyVersion = 1;
    private long _rmVersion = 1;
    private long _rolloutCounter;
    private Schedule? _lastSchedule;

    public ServerState(R2MServerOptions options, ServerMetrics metrics, ILogger logger, TimeProvider time)
    {
        Options = options;
        Metrics = metrics;
        Logger = logger;
        Time = time;
        Policy = HostedModel.Load(options.PolicyPath!);
        Log("policy", Policy);
        Reference = Policy.CloneFrozen();
        InitialPolicy = (float[])Policy.Model.Parameters.Clone();
        var rm = HostedModel.Load(options.RewardModelPath!);
        Log("reward model", rm);
        SharedTokenizer = File.ReadAllText(Policy.TokenizerPath) == File.ReadAllText(rm.TokenizerPath);
        Reward = new RewardEngine(rm, Policy.Width, options.AttentionDim, options.AttentionHeads, options.Seed);
        Store = new RolloutStore(options.RolloutStoreBytes, metrics);
        Batcher = new ScoreBatcher(Reward, options, metrics, logger, time);
        Nonce = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.NextInt64()))[..8].ToLowerInvariant();
        metrics.SetVersions(PolicyVersion, RmVersion);
    }

    public R2MServerOptions Options { get; }
    public ServerMetrics Metrics { get; }
    public ILogger Logger { get; }
    public TimeProvider Time { get; }
    public HostedModel Policy { get; }
    public HostedModel Reference { get; }
    public float[] InitialPolicy { get; }
    public RewardEngine Reward { get; }

    /// <summary>Policy and RM use the same tokenizer.json, so policy token ids are RM token ids.</summary>
    public bool SharedTokenizer { get; }
    public RolloutStore Store { get; }
    public ScoreBatcher Batcher { get; }

    /// <summary>Serializes Optimize, Update, checkpoint load/save and Reset against each other.</summary>
    public SemaphoreSlim AdminGate { get; } = new(1, 1);

    /// <summary>Per-process prefix of rollout ids, so ids are unique for the server's lifetime and across restarts.</summary>
    public string Nonce { get; }

    public ulong PolicyVersion => (ulong)Interlocked.Read(ref _policyVersion);
    public ulong RmVersion => (ulong)Interlocked.Read(ref _rmVersion);

    public Schedule? LastSchedule
    {
        get => Volatile.Read(ref _lastSchedule);
        set => Volatile.Write(ref _lastSchedule, value);
    }

    public string NextRolloutId() => $"ro-{Nonce}-{Interlocked.Increment(ref _rolloutCounter):x}";

    public ulong BumpPolicyVersion()
    {
        var v = (ulong)Interlocked.Increment(ref _policyVersion);
        Metrics.SetVersions(v, RmVersion);
        return v;
    }

    /// <summary>Trains nothing: reserves the next rm_version and publishes the trainer's weights under it.</summary>
    public ulong PublishReward()
    {
        var v = (ulong)Interlocked.Increment(ref _rmVersion);
        Reward.Publish(v);
        Metrics.SetVersions(PolicyVersion, v);
        return v;
    }

    /// <summary>Sets both versions (checkpoint load); rm_version is published with the loaded head.</summary>
    public void SetVersions(ulong policyVersion, ulong rmVersion)
    {
        Interlocked.Exchange(ref _policyVersion, (long)policyVersion);
        Interlocked.Exchange(ref _rmVersion, (long)rmVersion);
        Reward.Publish(rmVersion);
        Metrics.SetVersions(policyVersion, rmVersion);
    }

    private void Log(string role, HostedModel m) =>
        ServerLog.ModelLoaded(Logger, role, m.Directory, m.Model.Config.ModelType, m.Width, m.Model.Config.NumLayers, m.VocabSize, m.Model.ParameterCount);

    public ValueTask DisposeAsync() => Batcher.DisposeAsync();
}
