namespace R2M.Tokenizers.Internal;

/// <summary>
/// GPT-2 byte-to-unicode table (GPT-2's bytes_to_unicode): bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF
/// map to the same code point; the other 68 bytes, in ascending order, map to U+0100 + n.
/// </summary>
internal static class ByteLevelTable
{
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>Inverse table indexed by char (length 0x144); -1 for chars that are not byte images.</summary>
    public static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var t = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            var direct = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            t[b] = direct ? (char)b : (char)(0x100 + n++);
        }
        return t;
    }

    private static short[] BuildCharToByte()
    {
        var t = new short[0x144];
        Array.Fill(t, (short)-1);
        for (var b = 0; b < 256; b++) t[ByteToChar[b]] = (short)b;
        return t;
    }
}
