using System.Globalization;
using R2M.Api.V1;
using R2M.Sandbox;

namespace R2M.Client.Training;

/// <summary>
/// The Optimize items and Update groups of one step, built from its rollouts and rewards: one group
/// per prompt (docs/method.md section 1: group G_i of the K responses to x_i), group advantages on
/// the client (or the rewards for the server to turn into advantages), and each member's annotation
/// reward, which picks the GREBT winner and loser under PairSelection.Annotation.
/// </summary>
/// <param name="Items">Optimize items, group by group.</param>
/// <param name="Groups">Update groups, one per prompt.</param>
/// <param name="Grouped">(RM reward, gold or 0) per rollout, group by group (the layout RolloutMetrics reads).</param>
/// <param name="Seams">SEAM of each group where it is defined.</param>
internal sealed record StepBatch(List<PolicyItem> Items, List<PreferenceGroup> Groups, List<(double Reward, double Gold)> Grouped, List<double> Seams)
{
    public static StepBatch Build(int step, IReadOnlyList<Rollout> rollouts, IReadOnlyList<double> rewards, IReadOnlyList<double?> gold,
        PairLabelSource labels, bool serverAdvantages, Algorithm algorithm, double advantageEpsilon)
    {
        var groups = rollouts.Select((r, i) => (Rollout: r, Index: i)).GroupBy(x => x.Rollout.PromptIndex).OrderBy(g => g.Key).ToArray();
        var batch = new StepBatch(new List<PolicyItem>(rollouts.Count), new List<PreferenceGroup>(groups.Length), new List<(double, double)>(rollouts.Count), []);
        foreach (var g in groups)
        {
            string groupId = string.Create(CultureInfo.InvariantCulture, $"s{step}p{g.Key}");
            double[] r = g.Select(x => rewards[x.Index]).ToArray();
            double[] goldOfGroup = g.Select(x => gold[x.Index] ?? 0).ToArray();
            batch.Grouped.AddRange(r.Zip(goldOfGroup));
            double[] adv = serverAdvantages ? r
                : algorithm == Algorithm.Rloo ? GroupAdvantages.Rloo(r) : GroupAdvantages.Grpo(r, advantageEpsilon);
            // The annotation rewards pick w and l: the RM's own rewards (the paper, section 4.2), or
            // gold for the oracle diagnostic (PairLabels.SelectionRewards; not R2M).
            double[] selection = PairLabels.SelectionRewards(labels, r, goldOfGroup);
            var pg = new PreferenceGroup { GroupId = groupId };
            int j = 0;
            foreach (var x in g)
            {
                var item = new PolicyItem { RolloutId = x.Rollout.RolloutId, GroupId = groupId };
                if (serverAdvantages)
                {
                    item.Reward = (float)adv[j];
                }
                else
                {
                    item.Advantage = (float)adv[j];
                }

                batch.Items.Add(item);
                pg.Members.Add(new GroupMember { RolloutId = x.Rollout.RolloutId, AnnotationReward = (float)selection[j] });
                j++;
            }

            batch.Groups.Add(pg);
            // SEAM (docs/method.md section 7): rank disagreement between the policy's
            // length-normalized log-likelihood and the RM's reward within the group.
            double[] likelihood = g.Select(x => x.Rollout.Logprobs.Count == 0 ? 0 : (double)x.Rollout.Logprobs.Average()).ToArray();
            if (R2M.Alignment.Seam.Discrepancy(likelihood, r) is { } d)
            {
                batch.Seams.Add(d);
            }
        }

        return batch;
    }
}
