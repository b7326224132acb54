namespace R2M.Api;

/// <summary>
/// "Did you mean" for mistyped names (r2m-server flags, r2m-client config keys): the known name
/// nearest by Levenshtein distance, when the distance is small enough to be a plausible typo.
/// </summary>
public static class NameSuggestions
{
    /// <summary>The known name closest to <paramref name="name"/> (case-insensitive), or null when none is within max(2, length / 3) edits.</summary>
    public static string? Nearest(string name, IEnumerable<string> known)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(known);
        string k = name.ToLowerInvariant();
        (string Name, int Distance)? best = null;
        foreach (string candidate in known)
        {
            int d = Distance(k, candidate.ToLowerInvariant());
            if (best is null || d < best.Value.Distance)
            {
                best = (candidate, d);
            }
        }

        return best is { } b && b.Distance <= Math.Max(2, name.Length / 3) ? b.Name : null;
    }

    /// <summary>Levenshtein distance (insert, delete, substitute: cost 1), one row of the table at a time.</summary>
    public static int Distance(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            row[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }
}
