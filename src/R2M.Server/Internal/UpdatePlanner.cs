using R2M.Alignment;
using R2M.Api.V1;
using ApiPairSelection = R2M.Api.V1.PairSelection;

namespace R2M.Server.Internal;

/// <summary>Validates an Update call (reward_model.proto, Update errors) into an <see cref="UpdatePlan"/>; nothing is trained on failure.</summary>
internal static class UpdatePlanner
{
    public static UpdatePlan Plan(RewardHost reward, RolloutStore store, HostedModels models, R2MServerOptions options, UpdateConfig c, List<PreferenceGroup> groups)
    {
        var variant = ItemResolver.ToAlignment(c.Variant, "config.variant");
        var settings = VariantSettings.For(variant);
        if (settings.Training == RmTraining.None)
        {
            throw new PreconditionException($"variant {c.Variant} never trains the reward model, so Update is refused (common.proto, VariantConfig)");
        }

        var alpha = settings.AlphaOverride ?? (c.HasAlpha ? c.Alpha : 0.3f);
        Require(alpha is >= 0f and <= 1f, $"config.alpha {alpha} must be in [0, 1]");
        var lr = c.HasLearningRate ? c.LearningRate : reward.LearningRate;
        Require(float.IsFinite(lr) && lr >= 0, $"config.learning_rate {lr} must be finite and >= 0");
        var eps = c.HasGreEpsilon ? c.GreEpsilon : 1e-6f;
        Require(float.IsFinite(eps) && eps > 0, $"config.gre_epsilon {eps} must be finite and > 0");
        var clip = c.HasMaxGradNorm ? c.MaxGradNorm : 1f;
        Require(float.IsFinite(clip) && clip >= 0, $"config.max_grad_norm {clip} must be finite and >= 0");
        var steps = c.Steps == 0 ? 1 : (int)Math.Min(c.Steps, int.MaxValue);
        Require(steps <= 1000, $"config.steps {steps} is above 1000");
        var selection = c.PairSelection switch
        {
            ApiPairSelection.Unspecified or ApiPairSelection.Annotation => Alignment.PairSelection.AnnotationRewards,
            ApiPairSelection.Recomputed => Alignment.PairSelection.RecomputedRewards,
            _ => throw new InvalidInputException($"config.pair_selection {(int)c.PairSelection} is not a known PairSelection"),
        };
        var omega = ItemResolver.Omega(c.Variant, settings, c.Schedule, hasFeedback: true, "config");
        CheckShapes(groups, c.AllowRaggedGroups);
        var resolved = Resolve(store, models, options, groups);
        return new UpdatePlan(settings, resolved, omega, new GrebtOptions(alpha, eps, selection), lr, clip, steps, c.Schedule);
    }

    private static void CheckShapes(List<PreferenceGroup> groups, bool allowRagged)
    {
        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            RequestLimits.CheckId($"group {i} group_id", g.GroupId);
            var name = Name(g, i);
            Require(g.Members.Count >= 2, $"{name} has {g.Members.Count} member(s); GREBT needs groups of at least 2 (empty group)");
            var annotated = g.Members.Count(m => m.HasAnnotationReward);
            Require(annotated == 0 || annotated == g.Members.Count,
                $"{name}: {annotated} of {g.Members.Count} members carry annotation_reward; give it on every member or on none");
            for (var j = 0; j < g.Members.Count; j++)
            {
                var m = g.Members[j];
                Require(!m.HasAnnotationReward || float.IsFinite(m.AnnotationReward),
                    $"{name}.members[{j}].annotation_reward is {m.AnnotationReward}; NaN and Inf are rejected");
            }

            if (!allowRagged && g.Members.Count != groups[0].Members.Count)
            {
                throw new InvalidInputException(
                    $"{name} has {g.Members.Count} members but {Name(groups[0], 0)} has {groups[0].Members.Count}: groups must share one K " +
                    "(ragged groups; set config.allow_ragged_groups to accept them)");
            }
        }
    }

    private static List<List<UpdateMember>> Resolve(RolloutStore store, HostedModels models, R2MServerOptions options, List<PreferenceGroup> groups)
    {
        var ids = groups.SelectMany(g => g.Members).Where(m => m.SourceCase == GroupMember.SourceOneofCase.RolloutId).Select(m => m.RolloutId).ToList();
        foreach (var id in ids) RequestLimits.CheckId("members[].rollout_id", id);
        var found = store.GetAll(ids, "Update members[].rollout_id").ToDictionary(r => r.Id, StringComparer.Ordinal);
        var result = new List<List<UpdateMember>>(groups.Count);
        for (var i = 0; i < groups.Count; i++)
        {
            var list = new List<UpdateMember>();
            for (var j = 0; j < groups[i].Members.Count; j++)
            {
                list.Add(Member(models, options, groups[i].Members[j], $"{Name(groups[i], i)}.members[{j}]", found));
            }

            result.Add(list);
        }

        return result;
    }

    private static UpdateMember Member(HostedModels models, R2MServerOptions options, GroupMember m, string field, Dictionary<string, StoredRollout> found)
    {
        float? annotation = m.HasAnnotationReward ? m.AnnotationReward : null;
        if (m.SourceCase == GroupMember.SourceOneofCase.RolloutId)
        {
            var e = found[m.RolloutId];
            if (e.RmTokensError is { } err) throw new InvalidInputException($"{field}: {err}");
            if (m.HiddenStates is not null) throw new InvalidInputException($"{field}: hidden_states are only for inline members (a rollout id uses its stored, refreshed ones)");
            var f = e.Feedback;
            return new UpdateMember(e.RmTokens, f.Hidden, f.Rows, annotation, e);
        }

        if (m.SourceCase != GroupMember.SourceOneofCase.Inline) throw new InvalidInputException($"{field} has neither rollout_id nor inline");
        var tokens = ItemResolver.RmTokens(models.Reward, m.Inline, options.MaxTextBytes, $"{field}.inline", out _);
        var max = options.MaxHiddenStateBytesPerItem;
        var rows = 0;
        var hidden = m.HiddenStates is null ? [] : TensorCodec.DecodeRows(m.HiddenStates, models.Policy.Width, max, $"R2M:MaxHiddenStateBytesPerItem ({max} bytes per member)", $"{field}.hidden_states", out rows);
        return new UpdateMember(tokens, hidden, rows, annotation, null);
    }

    private static string Name(PreferenceGroup g, int index) => g.GroupId.Length > 0 ? $"group '{g.GroupId}'" : $"group {index}";

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new InvalidInputException(message);
    }
}
