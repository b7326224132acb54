using System.Text;

namespace R2M.Tokenizers.Internal.Unicode;

/// <summary>
/// Unicode Normalization Form C (UAX #15). Ours because the hosts run with InvariantGlobalization,
/// where <see cref="string.Normalize()"/> silently returns non-ASCII text unchanged. Data comes from
/// the generated <see cref="NfcData"/>; Hangul syllables are (de)composed algorithmically (UAX #15
/// section 16 / Unicode chapter 3.12).
/// </summary>
internal static class Nfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, byte> s_ccc = BuildCcc();
    private static readonly Dictionary<int, (int First, int Second)> s_decomp = BuildDecomp();
    private static readonly Dictionary<long, int> s_compose = BuildCompose();
    // One bit per BMP char: set when the char might change under NFC (has a decomposition, a
    // non-zero combining class, may combine with a preceding char, or is a high surrogate of
    // such an astral char). Text without any set bit is already NFC: the quick check of UAX #15 section 9.
    private static readonly ulong[] s_unsafe = BuildUnsafe();

    public static string Normalize(string text)
    {
        if (IsQuickYes(text))
        {
            return text;
        }
        var cps = new List<int>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var cp = (int)text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cp = char.ConvertToUtf32(text[i], text[i + 1]);
                i++;
            }
            Decompose(cp, cps);
        }
        Reorder(cps);
        Compose(cps);
        var sb = new StringBuilder(text.Length);
        foreach (var cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp); else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    internal static bool IsQuickYes(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c >= 0x300 && (s_unsafe[c >> 6] & (1UL << (c & 63))) != 0)
            {
                return false;
            }
        }
        return true;
    }

    private static int Ccc(int cp) => cp < 0x300 ? 0 : s_ccc.GetValueOrDefault(cp);

    private static void Decompose(int cp, List<int> output)
    {
        if (cp >= SBase && cp < SBase + SCount)
        {
            var s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (cp >= 0xC0 && s_decomp.TryGetValue(cp, out var d))
        {
            Decompose(d.First, output);
            if (d.Second >= 0) Decompose(d.Second, output);
            return;
        }
        output.Add(cp);
    }

    // Canonical ordering: stable sort of each run of non-starters by combining class (UAX #15 section 3).
    private static void Reorder(List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var c = Ccc(cps[i]);
            if (c == 0) continue;
            var j = i;
            var cp = cps[i];
            while (j > 0 && Ccc(cps[j - 1]) > c)
            {
                cps[j] = cps[j - 1];
                j--;
            }
            cps[j] = cp;
        }
    }

    // Canonical composition algorithm (UAX #15 section 4, "Composition"): a char combines with the
    // last starter unless blocked by an intervening char of equal or higher class.
    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        var starter = 0;
        var lastClass = Ccc(cps[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var i = 1; i < cps.Count; i++)
        {
            var ch = cps[i];
            var cls = Ccc(ch);
            // lastClass == 0 means the previous char is the starter itself (nothing in between).
            if ((lastClass < cls || lastClass == 0) && TryCompose(cps[starter], ch, out var composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (cls == 0) starter = write;
            lastClass = cls;
            cps[write++] = ch;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int a, int b, out int composite)
    {
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return s_compose.TryGetValue(((long)a << 21) | (uint)b, out composite);
    }

    private static Dictionary<int, byte> BuildCcc()
    {
        var d = new Dictionary<int, byte>();
        var cps = NfcData.CccCodePoints;
        var vals = NfcData.CccValues;
        for (var i = 0; i < cps.Length; i++) d[cps[i]] = vals[i];
        return d;
    }

    private static Dictionary<int, (int, int)> BuildDecomp()
    {
        var d = new Dictionary<int, (int, int)>();
        var cps = NfcData.DecompCodePoints;
        for (var i = 0; i < cps.Length; i++) d[cps[i]] = (NfcData.DecompFirst[i], NfcData.DecompSecond[i]);
        return d;
    }

    private static Dictionary<long, int> BuildCompose()
    {
        var excluded = new HashSet<int>(NfcData.CompositionExclusions.ToArray());
        var d = new Dictionary<long, int>();
        var cps = NfcData.DecompCodePoints;
        for (var i = 0; i < cps.Length; i++)
        {
            if (NfcData.DecompSecond[i] >= 0 && !excluded.Contains(cps[i]))
            {
                d[((long)NfcData.DecompFirst[i] << 21) | (uint)NfcData.DecompSecond[i]] = cps[i];
            }
        }
        return d;
    }

    private static ulong[] BuildUnsafe()
    {
        var bits = new ulong[1024];
        void Mark(int cp)
        {
            var c = cp < 0x10000 ? cp : char.ConvertFromUtf32(cp)[0];
            bits[c >> 6] |= 1UL << (c & 63);
        }
        foreach (var cp in NfcData.CccCodePoints) Mark(cp);
        foreach (var cp in NfcData.DecompCodePoints) Mark(cp);
        foreach (var key in s_compose.Keys) Mark((int)(key & 0x1FFFFF));
        for (var cp = VBase; cp < VBase + VCount; cp++) Mark(cp);
        for (var cp = TBase + 1; cp < TBase + TCount; cp++) Mark(cp);
        // Precomposed Hangul syllables LV may absorb a following trailing jamo, which is marked above.
        return bits;
    }
}
