namespace R2M.Alignment;

/// <summary>Groups as consecutive runs of items (GREBT, advantages): the size checks every group-wise computation shares.</summary>
internal static class GroupSizes
{
    /// <summary>count items as whole groups of K; <paramref name="need"/> says what needs K &gt;= 2 ("a GREBT group").</summary>
    public static int[] Uniform(int count, int groupSize, string need)
    {
        if (groupSize < 2) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, $"{need} needs K >= 2 responses");
        if (count == 0 || count % groupSize != 0) throw new ArgumentException($"{count} rewards do not form whole groups of K = {groupSize}", "rewards");
        return [.. Enumerable.Repeat(groupSize, count / groupSize)];
    }

    /// <summary>Every K_i &gt;= 2 and the sizes cover exactly count items.</summary>
    public static void Check(ReadOnlySpan<int> groupSizes, int count, string need)
    {
        long total = 0;
        for (int i = 0; i < groupSizes.Length; i++)
        {
            if (groupSizes[i] < 2) throw new ArgumentOutOfRangeException(nameof(groupSizes), groupSizes[i], $"group {i}: {need} needs K >= 2 responses");
            total += groupSizes[i];
        }
        if (groupSizes.IsEmpty || total != count)
            throw new ArgumentException($"{count} rewards do not match {groupSizes.Length} groups of {total} members", nameof(groupSizes));
    }
}
