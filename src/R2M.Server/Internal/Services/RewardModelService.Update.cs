using Google.Protobuf;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Grpc;

namespace R2M.Server.Internal.Services;

internal sealed partial class RewardModelService
{
    private async Task<UpdateReply> UpdateAsync(IAsyncStreamReader<PreferenceGroup> requests, ServerCallContext context)
    {
        var groups = new List<PreferenceGroup>();
        UpdateConfig? config = null;
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var g = requests.Current;
            var label = Label(g, groups.Count);
            if (config is null)
            {
                config = g.Config ?? throw new InvalidInputException($"{label}: the first PreferenceGroup must carry config");
            }
            else if (g.Config is not null && !g.Config.Equals(config))
            {
                throw new InvalidInputException($"{label}: config differs from the first message's config (it may only be repeated unchanged)");
            }

            groups.Add(g);
        }

        if (config is null || groups.Count == 0)
        {
            throw new InvalidInputException("Update received no groups: send at least one PreferenceGroup (the first with config)");
        }

        var plan = UpdatePlanner.Plan(state, config, groups);
        await state.AdminGate.WaitAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            return await UpdateTrainer.RunAsync(state, plan, context.CancellationToken).ConfigureAwait(false);
        }
        finally
        {
            state.AdminGate.Release();
        }
    }

    internal static string Label(PreferenceGroup g, int index) =>
        string.IsNullOrEmpty(g.GroupId) ? $"group #{index}" : $"group '{g.GroupId}'";
}

/// <summary>One validated group member: where its RTE comes from and its feedback.</summary>
internal sealed record UpdateMember(StoredRollout? Entry, int[] RmTokens, float[] Hidden, int Rows, float? Annotation);

internal sealed record UpdatePlan(
    VariantConfig Variant, GrebtOptions Grebt, float LearningRate, float Omega, int Steps, float MaxGradNorm,
    List<List<UpdateMember>> Groups, Schedule? Schedule);

/// <summary>Validates an Update stream completely before anything is trained.</summary>
internal static class UpdatePlanner
{
    public static UpdatePlan Plan(ServerState state, UpdateConfig c, List<PreferenceGroup> groups)
    {
        var variant = c.Variant;
        if (!Enum.IsDefined(variant)) throw new InvalidInputException($"config.variant {(int)variant} is not a known VariantConfig");
        if (variant is VariantConfig.Vanilla or VariantConfig.R2MWithoutTrain or VariantConfig.PretrainedRm)
        {
            throw new PreconditionException($"variant {variant} never trains the reward model; Update is refused");
        }

        var alpha = variant switch
        {
            VariantConfig.R2MWithoutBt => 1f,
            VariantConfig.R2MWithoutGre => 0f,
            _ => c.HasAlpha ? c.Alpha : 0.3f,
        };
        Range("config.alpha", alpha, 0, 1);
        var lr = c.HasLearningRate ? c.LearningRate : state.Options.RewardLearningRate;
        Range("config.learning_rate", lr, 0, 1);
        var eps = c.HasGreEpsilon ? c.GreEpsilon : 1e-6f;
        if (!(eps > 0) || !float.IsFinite(eps)) throw new InvalidInputException($"config.gre_epsilon {eps} must be positive and finite");
        var clip = c.HasMaxGradNorm ? c.MaxGradNorm : 1f;
        Range("config.max_grad_norm", clip, 0, float.MaxValue);
        if (c.Steps > 10_000) throw new InvalidInputException($"config.steps {c.Steps} is above 10000");
        if (!Enum.IsDefined(c.PairSelection)) throw new InvalidInputException($"config.pair_selection {(int)c.PairSelection} is not a known PairSelection");
        var selection = c.PairSelection == Api.V1.PairSelection.Recomputed ? Alignment.PairSelection.RecomputedRewards : Alignment.PairSelection.AnnotationRewards;
        var feedback = ItemResolver.FusesFeedback(variant);
        var omega = ItemResolver.Omega(variant, c.Schedule, feedback, "config");
        var members = Resolve(state, groups, c.AllowRaggedGroups);
        return new UpdatePlan(variant, new GrebtOptions(alpha, eps, selection), lr, omega, Math.Max(1, (int)c.Steps), clip, members, c.Schedule);
    }

    private static void Range(string field, float v, float lo, float hi)
    {
        if (!(v >= lo && v <= hi) || !float.IsFinite(v)) throw new InvalidInputException($"{field} {v} must be in [{lo}, {hi}]");
    }

    private static List<List<UpdateMember>> Resolve(ServerState state, List<PreferenceGroup> groups, bool ragged)
    {
        var ids = groups.SelectMany(g => g.Members).Where(m => m.SourceCase == GroupMember.SourceOneofCase.RolloutId).Select(m => m.RolloutId).ToList();
        var found = state.Store.GetAll(ids, "Update rollout_id").ToDictionary(r => r.Id, StringComparer.Ordinal);
        var k = groups[0].Members.Count;
        var result = new List<List<UpdateMember>>();
        for (var gi = 0; gi < groups.Count; gi++)
        {
            var g = groups[gi];
            var label = RewardModelService.Label(g, gi);
            if (g.Members.Count == 0) throw new InvalidInputException($"{label} is empty; a group needs at least 2 members");
            if (g.Members.Count < 2) throw new InvalidInputException($"{label} has {g.Members.Count} member; a GREBT group needs at least 2");
            if (!ragged && g.Members.Count != k)
            {
                throw new InvalidInputException($"{label} has {g.Members.Count} members but the first group has K = {k} (K mismatch; set allow_ragged_groups for ragged groups)");
            }

            var annotated = g.Members.Count(m => m.HasAnnotationReward);
            if (annotated != 0 && annotated != g.Members.Count)
            {
                throw new InvalidInputException($"{label}: {annotated} of {g.Members.Count} members have annotation_reward; give it to all members or to none");
            }

            result.Add(g.Members.Select((m, mi) => Member(state, m, $"{label} member {mi}", found)).ToList());
        }

        return result;
    }

    private static UpdateMember Member(ServerState state, GroupMember m, string field, Dictionary<string, StoredRollout> found)
    {
        if (m.HasAnnotationReward && !float.IsFinite(m.AnnotationReward))
        {
            throw new InvalidInputException($"{field}: annotation_reward is {m.AnnotationReward}; NaN and Inf are rejected");
        }

        float? annotation = m.HasAnnotationReward ? m.AnnotationReward : null;
        switch (m.SourceCase)
        {
            case GroupMember.SourceOneofCase.RolloutId:
                var r = found[m.RolloutId];
                if (r.RmTokensError is { } why) throw new InvalidInputException($"{field}: {why}");
                if (m.HiddenStates is not null) throw new InvalidInputException($"{field}: hidden_states given with a rollout_id; the stored ones are used");
                return new UpdateMember(r, r.RmTokens, r.Hidden, r.Rows, annotation ?? r.LastReward);
            case GroupMember.SourceOneofCase.Inline:
                var tokens = ItemResolver.RmTokens(state.Reward.Backbone, m.Inline, $"{field} inline");
                var hidden = new List<float>();
                var rows = m.HiddenStates is null ? 0 : TensorCodec.DecodeRows(m.HiddenStates, state.Policy.Width, $"{field} hidden_states", hidden);
                return new UpdateMember(null, tokens, [.. hidden], rows, annotation);
            default:
                throw new InvalidInputException($"{field} has neither rollout_id nor inline");
        }
    }
}
