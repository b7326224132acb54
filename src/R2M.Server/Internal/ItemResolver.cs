using R2M.Alignment;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>Validation and conversion of request items shared by Score and Update.</summary>
internal static class ItemResolver
{
    /// <summary>The wire variant as R2M.Alignment's (common.proto VariantConfig table = docs/method.md section 4).</summary>
    public static AlignmentVariant ToAlignment(VariantConfig v, string field) => v switch
    {
        VariantConfig.Unspecified or VariantConfig.R2M => AlignmentVariant.R2M,
        VariantConfig.Vanilla => AlignmentVariant.Vanilla,
        VariantConfig.R2MWithoutTrain => AlignmentVariant.WithoutTrain,
        VariantConfig.R2MWithNoise => AlignmentVariant.WithNoise,
        VariantConfig.IterativeRmHead => AlignmentVariant.IterativeHead,
        VariantConfig.R2MWithoutBt => AlignmentVariant.WithoutBT,
        VariantConfig.R2MWithoutGre => AlignmentVariant.WithoutGRE,
        VariantConfig.PretrainedRm => AlignmentVariant.Pretrained,
        _ => throw new InvalidInputException($"{field} {(int)v} is not a known VariantConfig"),
    };

    /// <summary>
    /// omega(t) for a variant (already resolved to <paramref name="settings"/> by the caller) and schedule;
    /// 1 when the item is scored without feedback.
    /// </summary>
    public static float Omega(VariantConfig variant, VariantSettings settings, Schedule? schedule, bool hasFeedback, string field)
    {
        if (!settings.UsesFeedback || !hasFeedback)
        {
            return 1f;
        }

        if (schedule is null || schedule.TotalSteps == 0)
        {
            throw new InvalidInputException($"{field}.schedule.total_steps is 0 (or the schedule is missing); variant {variant} fuses feedback with omega(t) and needs t and T");
        }

        var floor = schedule.HasOmegaFloor ? schedule.OmegaFloor : 0.6f;
        if (!(floor >= 0f && floor <= 1f))
        {
            throw new InvalidInputException($"{field}.schedule.omega_floor {floor} must be in [0, 1]");
        }

        // common.proto Schedule: t > T counts as T. Both are uint64 on the wire; beyond 2^63 - 1 they
        // are clamped before the signed cast (omega only depends on t / T).
        var total = Math.Min(schedule.TotalSteps, long.MaxValue);
        return OmegaSchedule.Omega((long)Math.Min(schedule.Step, total), (long)total, floor);
    }

    /// <summary>
    /// Reward-model token ids of an inline item (text tokenized by the RM's own tokenizer). Texts are
    /// measured against <paramref name="maxTextBytes"/> (R2M:MaxTextBytes) and id lists against the
    /// context before anything is tokenized or copied. <paramref name="unknownCharacters"/> counts the
    /// characters of the texts that the RM's vocabulary does not cover (ScoreReply.unknown_tokens).
    /// </summary>
    public static int[] RmTokens(HostedModel rm, InlineItem item, int maxTextBytes, string field, out int unknownCharacters)
    {
        int unknownPrompt = 0, unknownResponse = 0;
        if (item.PromptCase == InlineItem.PromptOneofCase.PromptText) RequestLimits.CheckText($"{field}.prompt_text", item.PromptText, maxTextBytes);
        if (item.ResponseCase == InlineItem.ResponseOneofCase.ResponseText) RequestLimits.CheckText($"{field}.response_text", item.ResponseText, maxTextBytes);
        var ids = checked((item.PromptCase == InlineItem.PromptOneofCase.PromptTokenIds ? item.PromptTokenIds.Ids.Count : 0)
            + (item.ResponseCase == InlineItem.ResponseOneofCase.ResponseTokenIds ? item.ResponseTokenIds.Ids.Count : 0));
        rm.CheckLength(ids, $"{field} (prompt + response token ids)");
        int[] prompt = item.PromptCase switch
        {
            InlineItem.PromptOneofCase.PromptText => rm.Tokenizer.Encode(item.PromptText, addSpecialTokens: true, out unknownPrompt),
            InlineItem.PromptOneofCase.PromptTokenIds => [.. item.PromptTokenIds.Ids],
            _ => [],
        };
        int[] response = item.ResponseCase switch
        {
            InlineItem.ResponseOneofCase.ResponseText => rm.Tokenizer.Encode(item.ResponseText, addSpecialTokens: false, out unknownResponse),
            InlineItem.ResponseOneofCase.ResponseTokenIds => [.. item.ResponseTokenIds.Ids],
            _ => [],
        };
        if (item.PromptCase == InlineItem.PromptOneofCase.PromptTokenIds) rm.CheckTokens(prompt, $"{field}.prompt_token_ids.ids");
        if (item.ResponseCase == InlineItem.ResponseOneofCase.ResponseTokenIds) rm.CheckTokens(response, $"{field}.response_token_ids.ids");
        unknownCharacters = unknownPrompt + unknownResponse;
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
