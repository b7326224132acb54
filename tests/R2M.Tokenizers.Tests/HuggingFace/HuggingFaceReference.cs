using HfTokenizer = Tokenizers.DotNet.Tokenizer;

namespace R2M.Tokenizers.Tests.HuggingFace;

/// <summary>
/// HuggingFace's Rust tokenizers (the library transformers runs) through the Tokenizers.DotNet FFI
/// wrapper: <c>encode(text, add_special_tokens=true)</c> and <c>decode(ids, skip_special_tokens=true)</c>.
/// The wrapper refuses text with unpaired surrogates (Rust strings are UTF-8); <see cref="Encode"/>
/// replaces them with U+FFFD first, which is what our tokenizer documents doing.
/// Not thread-safe (one native handle): callers lock.
/// </summary>
internal sealed class HuggingFaceReference : IDisposable
{
    private readonly HfTokenizer _tokenizer;

    public HuggingFaceReference(string tokenizerJsonPath) => _tokenizer = new HfTokenizer(vocabPath: tokenizerJsonPath);

    public int[] Encode(string text)
    {
        lock (_tokenizer)
        {
            return Array.ConvertAll(_tokenizer.Encode(WithoutLoneSurrogates(text)), x => (int)x);
        }
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var u = new uint[ids.Length];
        for (var i = 0; i < ids.Length; i++) u[i] = (uint)ids[i];
        lock (_tokenizer)
        {
            return _tokenizer.Decode(u);
        }
    }

    public static string WithoutLoneSurrogates(string s)
    {
        var chars = s.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    public void Dispose() => _tokenizer.Dispose();
}
