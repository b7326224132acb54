using System.Text;

namespace R2M.Server.Internal;

/// <summary>
/// Fixed limits of request fields that are not worth an option (docs/server.md, "Limits"), and the
/// checks of client ids and of texts the server tokenizes. Each message names the field and the limit.
/// </summary>
internal static class RequestLimits
{
    /// <summary>Most characters of a client-chosen id (item_id, rollout_id, group_id, request_id): ids are echoed in replies and errors.</summary>
    public const int MaxIdLength = 128;

    /// <summary>Most stop strings per Generate; every one is searched in every decoded prefix of every response.</summary>
    public const int MaxStopStrings = 32;

    /// <summary>Most characters of one stop string.</summary>
    public const int MaxStopStringLength = 256;

    /// <summary>Most stop token ids per Generate; each sampled token is compared with all of them.</summary>
    public const int MaxStopTokenIds = 256;

    /// <summary>INVALID_ARGUMENT for an id over <see cref="MaxIdLength"/> characters.</summary>
    public static void CheckId(string field, string id)
    {
        if (id.Length > MaxIdLength)
        {
            throw new InvalidInputException($"{field} has {id.Length} characters; at most {MaxIdLength}");
        }
    }

    /// <summary>
    /// RESOURCE_EXHAUSTED naming R2M:MaxTextBytes when <paramref name="text"/> has more UTF-8 bytes than
    /// <paramref name="maxBytes"/>; checked before tokenizing, which costs far more memory and time
    /// than the text itself. Every UTF-16 unit is at least one UTF-8 byte, so a long string is
    /// refused without counting.
    /// </summary>
    public static void CheckText(string field, string text, int maxBytes)
    {
        if (text.Length <= maxBytes && Encoding.UTF8.GetByteCount(text) <= maxBytes) return;
        var size = text.Length > maxBytes ? $"at least {text.Length}" : $"{Encoding.UTF8.GetByteCount(text)}";
        throw new LimitExceededException($"{field} has {size} UTF-8 bytes, above R2M:MaxTextBytes ({maxBytes}); it is refused before tokenizing");
    }
}
