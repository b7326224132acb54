using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>
/// Token ids of the texts and id lists that Generate and TeacherForce take (policy.proto), checked
/// against the policy's vocabulary, context and the server's text limit; one place for both calls.
/// </summary>
internal static class PolicyInputs
{
    /// <summary>A prompt as the policy sees it: text with the tokenizer's special tokens, or ids as given.</summary>
    public static int[] Prompt(Prompt p, string field, HostedModel policy, int maxTextBytes)
    {
        if (p.ContentCase == Api.V1.Prompt.ContentOneofCase.Text) RequestLimits.CheckText($"{field}.text", p.Text, maxTextBytes);
        if (p.ContentCase == Api.V1.Prompt.ContentOneofCase.TokenIds) policy.CheckLength(p.TokenIds.Ids.Count, $"{field}.token_ids");
        int[] ids = p.ContentCase switch
        {
            Api.V1.Prompt.ContentOneofCase.Text => policy.Tokenizer.Encode(p.Text, addSpecialTokens: true),
            Api.V1.Prompt.ContentOneofCase.TokenIds => [.. p.TokenIds.Ids],
            _ => [],
        };
        if (ids.Length == 0) throw new InvalidInputException($"{field} is empty (give text or token_ids)");
        policy.CheckTokens(ids, $"{field}.token_ids.ids");
        return ids;
    }

    /// <summary>
    /// TeacherForce's items: the count is checked against the per-call rollout limit before any text
    /// is tokenized; each response is text (no special tokens, EOS appended on request) or ids.
    /// </summary>
    public static List<(int[] Prompt, int[] Response)> TeacherForceItems(TeacherForceRequest request, HostedModel policy, R2MServerOptions options)
    {
        if (request.Items.Count == 0) throw new InvalidInputException("items is empty; give at least one (prompt, response) pair");
        if (request.Items.Count > options.MaxRolloutsPerGenerate)
        {
            throw new LimitExceededException($"{request.Items.Count} items, above the per-call rollout limit {options.MaxRolloutsPerGenerate} (R2M:MaxRolloutsPerGenerate)");
        }

        var result = new List<(int[], int[])>(request.Items.Count);
        for (var i = 0; i < request.Items.Count; i++)
        {
            var item = request.Items[i];
            var field = $"items[{i}]";
            var prompt = Prompt(item.Prompt ?? new Prompt(), $"{field}.prompt", policy, options.MaxTextBytes);
            var response = Response(item, field, policy, options.MaxTextBytes);
            policy.CheckLength(prompt.Length + response.Length, $"{field} (prompt + response)");
            result.Add((prompt, response));
        }

        return result;
    }

    private static int[] Response(TeacherForceItem item, string field, HostedModel policy, int maxTextBytes)
    {
        int[] ids;
        switch (item.ResponseCase)
        {
            case TeacherForceItem.ResponseOneofCase.ResponseText:
                RequestLimits.CheckText($"{field}.response_text", item.ResponseText, maxTextBytes);
                ids = policy.Tokenizer.Encode(item.ResponseText, addSpecialTokens: false);
                if (item.AppendEos)
                {
                    if (policy.EosTokenId < 0) throw new InvalidInputException($"{field}.append_eos is set but the policy {policy.Name} has no EOS token");
                    ids = [.. ids, policy.EosTokenId];
                }

                break;
            case TeacherForceItem.ResponseOneofCase.ResponseTokenIds:
                policy.CheckLength(item.ResponseTokenIds.Ids.Count, $"{field}.response_token_ids");
                ids = [.. item.ResponseTokenIds.Ids];
                policy.CheckTokens(ids, $"{field}.response_token_ids.ids");
                break;
            default:
                ids = [];
                break;
        }

        if (ids.Length == 0) throw new InvalidInputException($"{field} has an empty response (give response_text or response_token_ids)");
        return ids;
    }
}
