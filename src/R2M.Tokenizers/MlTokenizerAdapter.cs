using System.Buffers;
using Ml = Microsoft.ML.Tokenizers;

namespace R2M.Tokenizers;

/// <summary>
/// Our <see cref="Tokenizer"/> behind the abstract <see cref="Ml.Tokenizer"/> of Microsoft.ML.Tokenizers,
/// so code written against that package can take a HuggingFace-exact tokenizer; R2M code calls
/// <see cref="Tokenizer"/> directly. Ids, offsets and decoding are those of the wrapped tokenizer
/// (which always runs the file's whole pipeline: asking to skip normalization or pre-tokenization
/// throws <see cref="NotSupportedException"/> rather than silently giving other ids).
/// <see cref="Ml.EncodeSettings.MaxTokenCount"/> keeps the longest prefix of whole tokens that does not
/// cut a character. Decoding skips special tokens (<see cref="Inner"/> decodes them on request). The
/// <see cref="Ml.Tokenizer.Normalizer"/> and <see cref="Ml.Tokenizer.PreTokenizer"/>
/// properties are null: the tokenizer.json pipeline is not expressed in that package's types.
/// </summary>
public sealed class MlTokenizerAdapter : Ml.Tokenizer
{
    private readonly bool _addSpecialTokens;

    /// <param name="tokenizer">The tokenizer to expose.</param>
    /// <param name="addSpecialTokens">Apply the post-processor's template (e.g. BOS) on every encode, as HuggingFace's default does.</param>
    public MlTokenizerAdapter(Tokenizer tokenizer, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        Inner = tokenizer;
        _addSpecialTokens = addSpecialTokens;
    }

    /// <summary>The wrapped tokenizer.</summary>
    public Tokenizer Inner { get; }

    protected override Ml.EncodeResults<Ml.EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, Ml.EncodeSettings settings)
    {
        var (enc, count, consumed) = EncodeLimited(text, textSpan, settings);
        var tokens = new List<Ml.EncodedToken>(count);
        for (var i = 0; i < count; i++)
        {
            var (start, end) = enc.Offsets[i];
            tokens.Add(new Ml.EncodedToken(enc.Ids[i], Inner.IdToToken(enc.Ids[i]) ?? "", new Range(start, end)));
        }
        return new Ml.EncodeResults<Ml.EncodedToken> { Tokens = tokens, CharsConsumed = consumed };
    }

    protected override Ml.EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, Ml.EncodeSettings settings)
    {
        if (settings.MaxTokenCount == int.MaxValue)
        {
            CheckSettings(settings);
            var s = text ?? textSpan.ToString();
            return new Ml.EncodeResults<int> { Tokens = Inner.Encode(s, _addSpecialTokens), CharsConsumed = s.Length };
        }
        var (enc, count, consumed) = EncodeLimited(text, textSpan, settings);
        return new Ml.EncodeResults<int> { Tokens = enc.Ids[..count], CharsConsumed = consumed };
    }

    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, Ml.EncodeSettings settings) =>
        EncodeToIds(text, textSpan, settings).Tokens.Count;

    protected override int GetIndexByTokenCount(string? text, ReadOnlySpan<char> textSpan, Ml.EncodeSettings settings, bool fromEnd,
        out string? normalizedText, out int tokenCount)
    {
        normalizedText = null;
        if (!fromEnd)
        {
            var (_, count, consumed) = EncodeLimited(text, textSpan, settings);
            tokenCount = count;
            return consumed;
        }
        CheckSettings(settings);
        var s = text ?? textSpan.ToString();
        var enc = Inner.EncodeWithOffsets(s, _addSpecialTokens);
        // The shortest suffix of whole tokens within the budget, not starting inside a character.
        var first = Math.Max(0, enc.Ids.Length - settings.MaxTokenCount);
        while (first > 0 && first < enc.Ids.Length && SharesChar(enc, first)) first++;
        tokenCount = enc.Ids.Length - first;
        return first < enc.Ids.Length ? enc.Offsets[first].Start : s.Length;
    }

    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return Inner.Decode(ids.ToArray(), skipSpecialTokens: true);
    }

    /// <summary>Decodes as many leading ids as fit in <paramref name="destination"/> (special tokens skipped).</summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var all = ids.ToArray();
        var text = Inner.Decode(all, skipSpecialTokens: true);
        if (text.Length <= destination.Length)
        {
            text.CopyTo(destination);
            (idsConsumed, charsWritten) = (all.Length, text.Length);
            return OperationStatus.Done;
        }
        // Longest prefix of ids whose text fits (binary search: text length grows with the prefix).
        int lo = 0, hi = all.Length;
        while (lo < hi)
        {
            var mid = (lo + hi + 1) / 2;
            if (Inner.Decode(all.AsSpan(0, mid), skipSpecialTokens: true).Length <= destination.Length) lo = mid;
            else hi = mid - 1;
        }
        var prefix = Inner.Decode(all.AsSpan(0, lo), skipSpecialTokens: true);
        prefix.CopyTo(destination);
        (idsConsumed, charsWritten) = (lo, prefix.Length);
        return OperationStatus.DestinationTooSmall;
    }

    private (TokenizerEncoding Encoding, int Count, int CharsConsumed) EncodeLimited(string? text, ReadOnlySpan<char> textSpan,
        Ml.EncodeSettings settings)
    {
        CheckSettings(settings);
        var s = text ?? textSpan.ToString();
        var enc = Inner.EncodeWithOffsets(s, _addSpecialTokens);
        var count = Math.Min(enc.Ids.Length, settings.MaxTokenCount);
        // Never stop between two tokens that share a character (byte tokens of one emoji).
        while (count > 0 && count < enc.Ids.Length && SharesChar(enc, count)) count--;
        var consumed = count == enc.Ids.Length ? s.Length : count == 0 ? 0 : enc.Offsets[count - 1].End;
        return (enc, count, consumed);
    }

    // Token i starts inside the character range of token i-1; template tokens have empty ranges.
    private static bool SharesChar(TokenizerEncoding enc, int i) =>
        enc.Offsets[i].End > enc.Offsets[i].Start && enc.Offsets[i].Start < enc.Offsets[i - 1].End;

    private static void CheckSettings(Ml.EncodeSettings settings)
    {
        if (!settings.ConsiderNormalization || !settings.ConsiderPreTokenization)
        {
            throw new NotSupportedException("R2M tokenizers always run the whole tokenizer.json pipeline (normalizer and pre-tokenizer)");
        }
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.MaxTokenCount, nameof(settings.MaxTokenCount));
    }
}
