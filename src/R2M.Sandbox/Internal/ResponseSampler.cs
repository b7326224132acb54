namespace R2M.Sandbox.Internal;

/// <summary>
/// Makes plausible responses of varying quality from a prompt's sorted digits: the exact answer,
/// or the answer with one to three corruptions of the kinds a small model makes (two digits
/// swapped, a digit dropped, repeated, replaced or inserted, the prompt echoed unsorted).
/// </summary>
internal static class ResponseSampler
{
    /// <summary>Digits of a response: exact with probability <paramref name="correctProbability"/>.</summary>
    public static List<int> SampleDigits(SandboxRandom random, SortPrompt prompt, double correctProbability)
    {
        var digits = prompt.Sorted.ToList();
        if (random.Bernoulli(correctProbability))
        {
            return digits;
        }
        int corruptions = random.NextInt(1, 3);
        for (int c = 0; c < corruptions; c++)
        {
            Corrupt(random, digits, prompt);
        }
        // A corruption can undo another (swap twice); force at least one real difference.
        if (digits.SequenceEqual(prompt.Sorted))
        {
            digits.RemoveAt(random.NextInt(digits.Count));
        }
        return digits;
    }

    /// <summary>A '!' count: 0 with probability 1 - <paramref name="bangProbability"/>, else 1..maxBangs.</summary>
    public static int SampleBangs(SandboxRandom random, double bangProbability, int maxBangs) =>
        random.Bernoulli(bangProbability) ? random.NextInt(1, maxBangs) : 0;

    private static void Corrupt(SandboxRandom random, List<int> digits, SortPrompt prompt)
    {
        switch (random.NextInt(6))
        {
            case 0 when digits.Count >= 2:
                int i = random.NextInt(digits.Count - 1);
                (digits[i], digits[i + 1]) = (digits[i + 1], digits[i]);
                break;
            case 1 when digits.Count >= 2:
                digits.RemoveAt(random.NextInt(digits.Count));
                break;
            case 2:
                int r = random.NextInt(digits.Count);
                digits.Insert(r, digits[r]);
                break;
            case 3:
                digits[random.NextInt(digits.Count)] = random.NextInt(10);
                break;
            case 4:
                digits.Insert(random.NextInt(digits.Count + 1), random.NextInt(10));
                break;
            default:
                digits.Clear();
                digits.AddRange(prompt.Digits);
                break;
        }
    }
}
