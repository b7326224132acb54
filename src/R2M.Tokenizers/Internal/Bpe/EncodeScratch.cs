using R2M.Tokenizers.Internal.PreTokenization;

namespace R2M.Tokenizers.Internal.Bpe;

/// <summary>Per-thread reusable buffers for one encode call (never shared between threads).</summary>
internal sealed class EncodeScratch
{
    [ThreadStatic] private static EncodeScratch? t_instance;

    private byte[] _bytes = new byte[256];

    public static EncodeScratch ForCurrentThread => t_instance ??= new EncodeScratch();

    public int[] Symbols { get; private set; } = new int[256];
    public MergeScratch Merge { get; } = new();
    public List<Piece> PiecesA { get; } = new();
    public List<Piece> PiecesB { get; } = new();
    public List<(int Start, int Length)> Matches { get; } = new();
    public List<Segment> Segments { get; } = new();
    public List<int> Ids { get; } = new();

    /// <summary>Characters (bytes, for byte-level models) of the current encode that no vocabulary token covers: mapped to unk_token or dropped.</summary>
    public int Unknown { get; set; }

    public byte[] Bytes(int n)
    {
        if (_bytes.Length < n) _bytes = new byte[n * 2];
        return _bytes;
    }

    public int[] SymbolBuffer(int n)
    {
        if (Symbols.Length < n) Symbols = new int[n * 2];
        return Symbols;
    }
}
