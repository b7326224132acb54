namespace R2M.Sandbox;

/// <summary>
/// One task instance: the digits to sort. <see cref="Text"/> is the prompt the policy sees
/// ("sort 7 3 9 1 =") and <see cref="Target"/> the ideal response text (" 1 3 7 9"), which the
/// policy follows with its end-of-sequence token.
/// </summary>
public sealed record SortPrompt
{
    public SortPrompt(IReadOnlyList<int> digits)
    {
        ArgumentNullException.ThrowIfNull(digits);
        if (digits.Count == 0)
        {
            throw new ArgumentException("a sort prompt needs at least one digit", nameof(digits));
        }
        for (int i = 0; i < digits.Count; i++)
        {
            if (digits[i] is < 0 or > 9)
            {
                throw new ArgumentOutOfRangeException(nameof(digits), $"digits[{i}] = {digits[i]} is not a digit 0..9");
            }
        }
        Digits = digits.ToArray();
        Sorted = Digits.Order().ToArray();
        Text = SandboxText.FormatPrompt(Digits);
        Target = SandboxText.FormatResponse(Sorted, bangs: 0);
    }

    /// <summary>The digits in prompt order.</summary>
    public IReadOnlyList<int> Digits { get; }

    /// <summary>The digits in ascending order (duplicates kept): the gold answer.</summary>
    public IReadOnlyList<int> Sorted { get; }

    /// <summary>The prompt text, e.g. "sort 7 3 9 1 =".</summary>
    public string Text { get; }

    /// <summary>The ideal response text, e.g. " 1 3 7 9" (EOS not included).</summary>
    public string Target { get; }

    public bool Equals(SortPrompt? other) => other is not null && Digits.SequenceEqual(other.Digits);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (int d in Digits)
        {
            hash.Add(d);
        }
        return hash.ToHashCode();
    }

    public override string ToString() => Text;
}
