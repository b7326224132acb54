using System.Text;
using System.Text.Json;
using R2M.Tokenizers;

namespace R2M.Sandbox;

/// <summary>
/// The tiny models' vocabulary and its HuggingFace tokenizer.json: a byte-level BPE
/// (docs/specs.md section 4) whose merges make every sandbox symbol one token.
///
/// Text is split with the GPT-2 pattern (so " 7", " !", "sort" are separate pieces), bytes map
/// to GPT-2's printable characters (space is 'Ġ', U+0120), and the merges join "Ġ"+digit,
/// "Ġ=", "Ġ!" and s-o-r-t. Characters outside the vocabulary become &lt;unk&gt;. Special
/// tokens are added tokens (matched before splitting); the post-processor puts &lt;bos&gt; in
/// front of every encoded text, as Llama-family tokenizers do.
///
/// Ids: 0 &lt;pad&gt;, 1 &lt;bos&gt;, 2 &lt;eos&gt;, 3 &lt;unk&gt;, then the base characters, then
/// one id per merge in merge order (36 tokens in all).
/// </summary>
public static class SandboxVocabulary
{
    public const string PadToken = "<pad>";
    public const string BosToken = "<bos>";
    public const string EosToken = "<eos>";
    public const string UnkToken = "<unk>";
    public const int PadId = 0;
    public const int BosId = 1;
    public const int EosId = 2;
    public const int UnkId = 3;

    // GPT-2's byte-to-unicode map sends the space byte 0x20 to U+0120 (docs/specs.md section 4).
    private const string Space = "\u0120";

    private static readonly string[] Specials = [PadToken, BosToken, EosToken, UnkToken];

    // Printable ASCII maps to itself under GPT-2's byte-to-unicode table.
    private static readonly string[] BaseSymbols =
        ["!", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "=", "o", "r", "s", "t", Space];

    /// <summary>Merges in rank order (rank = index): the lowest rank merges first.</summary>
    public static IReadOnlyList<(string Left, string Right)> Merges { get; } = BuildMerges();

    /// <summary>All tokens, index = id (initialized after <see cref="Merges"/>: static initializers run in textual order).</summary>
    public static IReadOnlyList<string> Tokens { get; } =
        [.. Specials, .. BaseSymbols, .. Merges.Select(m => m.Left + m.Right)];

    public static int VocabSize => Tokens.Count;

    private static readonly Dictionary<string, int> TokenIds =
        Tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i, StringComparer.Ordinal);

    // The encoder is R2M.Tokenizers over this vocabulary's own tokenizer.json: the same file the
    // server loads, so training data and served prompts are tokenized by one implementation.
    private static readonly Lazy<Tokenizer> Bpe = new(() => Tokenizer.FromJson(TokenizerJson()));

    /// <summary>The id of a token string, or -1.</summary>
    public static int IdOf(string token) => TokenIds.GetValueOrDefault(token, -1);

    /// <summary>
    /// Encodes with this vocabulary's tokenizer.json (R2M.Tokenizers): special tokens first, GPT-2
    /// split, byte-level mapping, BPE merges by rank, &lt;unk&gt; for characters outside the
    /// vocabulary; &lt;bos&gt; prepended when <paramref name="addBos"/>.
    /// </summary>
    public static int[] Encode(string text, bool addBos = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Bpe.Value.Encode(text, addSpecialTokens: addBos);
    }

    /// <summary>
    /// A training sequence: &lt;bos&gt;, the prompt's tokens, the response's tokens, &lt;eos&gt;;
    /// <c>PromptLength</c> counts &lt;bos&gt; and the prompt, so positions from PromptLength on are
    /// the response (the SFT loss and the policy's log-probs cover those). Identical to encoding
    /// the concatenated text, because a sandbox response starts with a space (a new GPT-2 piece).
    /// </summary>
    public static (int[] Ids, int PromptLength) EncodeExample(string prompt, string response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(response);
        int[] head = Encode(prompt, addBos: true);
        int[] tail = Encode(response, addBos: false);
        return ([.. head, .. tail, EosId], head.Length);
    }

    /// <summary>Decodes ids to text; special tokens are dropped unless <paramref name="keepSpecial"/>.</summary>
    public static string Decode(IEnumerable<int> ids, bool keepSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)Tokens.Count)
            {
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside the sandbox vocabulary (size {Tokens.Count})");
            }
            if (id < Specials.Length && !keepSpecial)
            {
                continue;
            }
            sb.Append(id < Specials.Length ? Tokens[id] : Tokens[id].Replace(Space, " ", StringComparison.Ordinal));
        }
        return sb.ToString();
    }

    /// <summary>
    /// The tokenizer.json text (HuggingFace tokenizers format, docs/specs.md section 4): BPE model
    /// with legacy "a b" merges, ByteLevel pre-tokenizer (GPT-2 regex, no prefix space),
    /// TemplateProcessing adding &lt;bos&gt;, ByteLevel decoder.
    /// </summary>
    public static string TokenizerJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            WriteAddedTokens(w);
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            WriteByteLevel(w);
            w.WriteEndObject();
            WritePostProcessor(w);
            w.WriteStartObject("decoder");
            WriteByteLevel(w);
            w.WriteEndObject();
            WriteModel(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// Writes tokenizer.json and a matching tokenizer_config.json (special token names) into
    /// <paramref name="directory"/>, creating it if needed.
    /// </summary>
    public static void WriteTokenizerFiles(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), TokenizerJson());
        string config = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["bos_token"] = BosToken,
            ["eos_token"] = EosToken,
            ["pad_token"] = PadToken,
            ["unk_token"] = UnkToken,
            ["model_max_length"] = 64,
            // transformers' default clean-up would glue " !" to the digit before it on decode.
            ["clean_up_tokenization_spaces"] = false,
        }, new JsonSerializerOptions { WriteIndented = true });
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config);
    }

    private static List<(string Left, string Right)> BuildMerges()
    {
        var merges = new List<(string Left, string Right)> { ("s", "o"), ("r", "t"), ("so", "rt") };
        for (char d = '0'; d <= '9'; d++)
        {
            merges.Add((Space, d.ToString()));
        }
        merges.Add((Space, "="));
        merges.Add((Space, "!"));
        return merges;
    }

    private static void WriteAddedTokens(Utf8JsonWriter w)
    {
        w.WriteStartArray("added_tokens");
        for (int id = 0; id < Specials.Length; id++)
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteString("content", Specials[id]);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteByteLevel(Utf8JsonWriter w)
    {
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
    }

    private static void WritePostProcessor(Utf8JsonWriter w)
    {
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        WriteSpecialPiece(w, BosToken);
        WriteSequencePiece(w, "A");
        w.WriteEndArray();
        w.WriteStartArray("pair");
        WriteSpecialPiece(w, BosToken);
        WriteSequencePiece(w, "A");
        WriteSequencePiece(w, "B");
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        w.WriteStartObject(BosToken);
        w.WriteString("id", BosToken);
        w.WriteStartArray("ids");
        w.WriteNumberValue(BosId);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        w.WriteStringValue(BosToken);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSpecialPiece(Utf8JsonWriter w, string token)
    {
        w.WriteStartObject();
        w.WriteStartObject("SpecialToken");
        w.WriteString("id", token);
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSequencePiece(Utf8JsonWriter w, string sequence)
    {
        w.WriteStartObject();
        w.WriteStartObject("Sequence");
        w.WriteString("id", sequence);
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteModel(Utf8JsonWriter w)
    {
        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteString("unk_token", UnkToken);
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        w.WriteBoolean("ignore_merges", false);
        w.WriteStartObject("vocab");
        for (int id = 0; id < Tokens.Count; id++)
        {
            w.WriteNumber(Tokens[id], id);
        }
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach ((string left, string right) in Merges)
        {
            w.WriteStringValue(left + " " + right);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
