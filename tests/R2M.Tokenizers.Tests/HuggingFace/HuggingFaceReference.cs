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
            return Array.ConvertAll(_tokenizer.Encode(TestText.WithoutLoneSurrogates(text)), x => (int)x);
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


    public void Dispose() => _tokenizer.Dispose();
}
