using System.Globalization;

namespace R2M.Sandbox;

/// <summary>
/// The sandbox's true reward (docs/sandbox.md "The task and its data"): the length of the longest common
/// subsequence of the response symbols (up to EOS) and the sorted digits, divided by the longer
/// of the two lengths. In [0, 1]; 1 only for the exact sorted answer. Every extra symbol (an
/// appended '!', a repeated digit) lengthens the denominator, so it costs reward; every missing
/// or misplaced digit shortens the LCS.
/// </summary>
public static class GoldReward
{
    /// <summary>The gold reward of <paramref name="response"/> for <paramref name="prompt"/>.</summary>
    public static double Score(SortPrompt prompt, string? response)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return Score(prompt.Sorted, SandboxText.ParseResponse(response).Symbols);
    }

    /// <summary>Gold reward of parsed response symbols against the sorted digits.</summary>
    public static double Score(IReadOnlyList<int> sortedDigits, IReadOnlyList<string> responseSymbols)
    {
        ArgumentNullException.ThrowIfNull(sortedDigits);
        ArgumentNullException.ThrowIfNull(responseSymbols);
        if (sortedDigits.Count == 0)
        {
            throw new ArgumentException("the gold answer has no digits", nameof(sortedDigits));
        }
        string[] target = sortedDigits.Select(d => d.ToString(CultureInfo.InvariantCulture)).ToArray();
        int lcs = LongestCommonSubsequence(target, responseSymbols);
        return (double)lcs / Math.Max(target.Length, responseSymbols.Count);
    }

    /// <summary>Classic O(n m) dynamic program over one rolling row.</summary>
    public static int LongestCommonSubsequence<T>(IReadOnlyList<T> a, IReadOnlyList<T> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var comparer = EqualityComparer<T>.Default;
        var row = new int[b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
        {
            int diagonal = 0; // row[j-1] of the previous i
            for (int j = 1; j <= b.Count; j++)
            {
                int above = row[j];
                row[j] = comparer.Equals(a[i - 1], b[j - 1]) ? diagonal + 1 : Math.Max(above, row[j - 1]);
                diagonal = above;
            }
        }
        return row[b.Count];
    }
}
