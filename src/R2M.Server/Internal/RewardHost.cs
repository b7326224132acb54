using R2M.Alignment;
using R2M.Api.V1;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>
/// The R2M reward model: the frozen backbone with R2M.Alignment's <see cref="TransformerRteSource"/> (RTEs
/// in one batched pass) and <see cref="RteCache"/>, and the head as a double buffer of two
/// <see cref="R2MRewardModel"/>s (head weights, AdamW state, Update's noise stream): one served, with
/// rm_version, one the scratch copy the next Update trains. Score holds the serving lock for the whole
/// head pass of a batch, so a batch sees one head; <see cref="Publish"/> swaps the roles under that lock
/// and then re-syncs the loser, which no Score can hold any more. Score's own noise stream (R2M w/ Noise)
/// is one stream whatever head serves, so it lives here, beside the buffers.
/// </summary>
internal sealed class RewardHost
{
    /// <summary>Startup seeds of Update's (as R2M.Alignment's default) and Score's noise streams.</summary>
    private const ulong UpdateNoiseSeed = 0x5EED, ScoreNoiseSeed = 0x5C0E;

    private readonly R2MRewardModel[] _slots = new R2MRewardModel[2];
    private readonly HostedModel _backbone;
    private readonly TransformerRteSource _rtes;
    private readonly float[] _phi;
    private readonly float _bias;
    private readonly ulong _seed;
    private readonly ServerMetrics _metrics;
    private readonly Lock _serving = new();
    private readonly Rng _scoreNoise = new(ScoreNoiseSeed);
    private (int Slot, ulong Version) _served = (0, 1);
    private Schedule? _lastSchedule;

    public RewardHost(HostedModels models, R2MServerOptions options, ServerMetrics metrics)
    {
        _backbone = models.Reward;
        _metrics = metrics;
        _seed = options.Seed;
        _rtes = new TransformerRteSource(_backbone.Model);
        try
        {
            // phi starts from the pretrained RM's scoring head (score.weight row 0, or out_proj with bias).
            (_phi, _bias, var hasBias) = _rtes.ScoringHead();
            Config = new R2MHeadConfig(_backbone.Width, models.Policy.Width, options.AttentionDim, options.AttentionHeads, hasBias);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"reward model '{_backbone.Directory}': {e.Message}", e);
        }

        LearningRate = options.RewardLearningRate;
        for (var i = 0; i < 2; i++)
        {
            var head = new R2MHead(Config);
            head.Initialize(_phi, _bias, _seed);
            _slots[i] = new R2MRewardModel(head, new RewardModelOptions(Optimizer: new AdamWOptions(LearningRate), NoiseSeed: UpdateNoiseSeed));
        }

        // Every stored rollout's RTE fits: the cache holds up to R2M:RolloutStoreBytes of them (LRU beyond).
        Cache = new RteCache((int)Math.Clamp(options.RolloutStoreBytes / (4L * _backbone.Width), 64, 1 << 24));
        metrics.SetRmVersion(Version);
    }

    public R2MHeadConfig Config { get; }

    /// <summary>The default learning rate of Update (R2M:RewardLearningRate).</summary>
    public float LearningRate { get; }

    public HostedModel Backbone => _backbone;

    /// <summary>RTEs of stored rollouts by id (the backbone is frozen, so they never go stale).</summary>
    public RteCache Cache { get; }

    public ulong Version
    {
        get
        {
            lock (_serving) return _served.Version;
        }
    }

    /// <summary>The schedule of the last Score or Update that carried one (Info, checkpoints).</summary>
    public Schedule? LastSchedule
    {
        get => Volatile.Read(ref _lastSchedule);
        set => Volatile.Write(ref _lastSchedule, value);
    }

    /// <summary>The copy the running Update trains (write gate only).</summary>
    public R2MRewardModel Scratch => _slots[1 - _served.Slot];

    /// <summary>The served head, its AdamW state and Update's noise stream, for checkpoints (write gate only).</summary>
    public R2MRewardModel Served => _slots[_served.Slot];

    /// <summary>Runs <paramref name="score"/> with the served head, its rm_version and Score's noise stream, all held still meanwhile.</summary>
    public T Score<T>(Func<R2MHead, ulong, Rng, T> score)
    {
        lock (_serving)
        {
            return score(_slots[_served.Slot].Head, _served.Version, _scoreNoise);
        }
    }

    /// <summary>
    /// RTEs (D_rm each) of RM token sequences: cached by rollout id where one is given, the missing ones in one
    /// right-padded pass of the frozen backbone (under its gate: the model is not thread-safe).
    /// </summary>
    public float[][] Rtes(IReadOnlyList<int[]> sequences, IReadOnlyList<string?> rolloutIds, CancellationToken ct) =>
        Cache.GetOrAddMany(rolloutIds, missing =>
        {
            _backbone.Gate.Wait(ct);
            try
            {
                return _rtes.ComputeRtes([.. missing.Select(i => sequences[i])]);
            }
            finally
            {
                _backbone.Gate.Release();
            }
        });

    /// <summary>
    /// The scratch head becomes the served one with the next rm_version (at least <paramref name="atLeast"/>),
    /// then the old buffer takes the new state. Returns the version.
    /// </summary>
    public ulong Publish(ulong atLeast = 0)
    {
        ulong version;
        lock (_serving)
        {
            version = Math.Max(_served.Version + 1, atLeast);
            _served = (1 - _served.Slot, version);
        }

        Scratch.CopyStateFrom(Served);
        _metrics.SetRmVersion(version);
        return version;
    }

    /// <summary>Discards whatever the failed write did to the scratch copy (weights, moments, noise position).</summary>
    public void Rollback() => Scratch.CopyStateFrom(Served);

    /// <summary>Position of Score's noise stream (checkpoints); read and set between batches.</summary>
    public Rng.State ScoreNoiseState
    {
        get
        {
            lock (_serving) return _scoreNoise.GetState();
        }

        set
        {
            lock (_serving) _scoreNoise.SetState(value);
        }
    }

    /// <summary>
    /// The startup head (or the cross-attention re-drawn from <paramref name="seed"/>), fresh moments and both
    /// noise streams' startup states (admin.proto Reset: a reset run repeats exactly), in the scratch copy and
    /// Score's stream; publish to serve them.
    /// </summary>
    public void ResetScratch(ulong? seed)
    {
        Scratch.Head.Initialize(_phi, _bias, seed ?? _seed);
        Scratch.Optimizer.Reset();
        Scratch.NoiseRngState = new Rng(UpdateNoiseSeed).GetState();
        ScoreNoiseState = new Rng(ScoreNoiseSeed).GetState();
    }
}
