using R2M.Alignment;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>Validation and conversion of request items shared by Score and Update.</summary>
internal static class ItemResolver
{
    /// <summary>Variants whose Score fuses policy feedback (common.proto, VariantConfig table).</summary>
    public static bool FusesFeedback(VariantConfig v) => v is VariantConfig.Unspecified or VariantConfig.R2M
        or VariantConfig.R2MWithoutTrain or VariantConfig.R2MWithNoise or VariantConfig.R2MWithoutBt or VariantConfig.R2MWithoutGre;

    /// <summary>omega(t) for a variant and schedule; 1 when the item is scored without feedback.</summary>
    public static float Omega(VariantConfig variant, Schedule? schedule, bool hasFeedback, string field)
    {
        if (!Enum.IsDefined(variant))
        {
            throw new InvalidInputException($"{field}.variant {(int)variant} is not a known VariantConfig");
        }

        if (!FusesFeedback(variant) || !hasFeedback)
        {
            return 1f;
        }

        if (schedule is null || schedule.TotalSteps == 0)
        {
            throw new InvalidInputException($"{field}.schedule.total_steps is 0 (or the schedule is missing); variant {variant} fuses feedback with omega(t) and needs t and T");
        }

        if (schedule.Step > schedule.TotalSteps)
        {
            throw new InvalidInputException($"{field}.schedule.step {schedule.Step} is larger than total_steps {schedule.TotalSteps}");
        }

        var floor = schedule.HasOmegaFloor ? schedule.OmegaFloor : 0.6f;
        if (!(floor >= 0f && floor <= 1f))
        {
            throw new InvalidInputException($"{field}.schedule.omega_floor {floor} must be in [0, 1]");
        }

        return OmegaSchedule.Omega((long)schedule.Step, (long)schedule.TotalSteps, floor);
    }

    /// <summary>Reward-model token ids of an inline item (text tokenized by the RM's own tokenizer).</summary>
    public static int[] RmTokens(HostedModel rm, InlineItem item, string field)
    {
        int[] prompt = item.PromptCase switch
        {
            InlineItem.PromptOneofCase.PromptText => rm.Tokenizer.Encode(item.PromptText, addSpecialTokens: true),
            InlineItem.PromptOneofCase.PromptTokenIds => [.. item.PromptTokenIds.Ids],
            _ => [],
        };
        int[] response = item.ResponseCase switch
        {
            InlineItem.ResponseOneofCase.ResponseText => rm.Tokenizer.Encode(item.ResponseText, addSpecialTokens: false),
            InlineItem.ResponseOneofCase.ResponseTokenIds => [.. item.ResponseTokenIds.Ids],
            _ => [],
        };
        if (item.PromptCase == InlineItem.PromptOneofCase.PromptTokenIds) rm.CheckTokens(prompt, $"{field}.prompt_token_ids.ids");
        if (item.ResponseCase == InlineItem.ResponseOneofCase.ResponseTokenIds) rm.CheckTokens(response, $"{field}.response_token_ids.ids");
        var all = prompt.Concat(response).ToArray();
        if (all.Length == 0)
        {
            throw new InvalidInputException($"{field} is empty: give a prompt and/or a response (text or reward-model token ids)");
        }

        rm.CheckLength(all.Length, $"{field} (prompt + response)");
        return all;
    }

    /// <summary>RM tokens of a policy rollout: the policy's text re-tokenized by the RM's tokenizer.</summary>
    public static int[] RmTokensOfRollout(HostedModel policy, HostedModel rm, bool sharedTokenizer, int[] prompt, int[] response, string field)
    {
        if (sharedTokenizer)
        {
            int[] same = [.. prompt, .. response];
            rm.CheckTokens(same, field);
            rm.CheckLength(same.Length, field);
            return same;
        }

        var p = rm.Tokenizer.Encode(policy.Tokenizer.Decode(prompt, skipSpecialTokens: true), addSpecialTokens: true);
        var r = rm.Tokenizer.Encode(policy.Tokenizer.Decode(response, skipSpecialTokens: false), addSpecialTokens: false);
        var all = p.Concat(r).ToArray();
        rm.CheckLength(all.Length, $"{field} re-tokenized for the reward model");
        return all;
    }
}
