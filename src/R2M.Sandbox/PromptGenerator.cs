using R2M.Sandbox.Internal;

namespace R2M.Sandbox;

/// <summary>
/// Deterministic stream of sort prompts: the same seed and options give the same prompts on any
/// machine (SplitMix64, not System.Random). Digits are drawn uniformly with repetition, the
/// count uniformly in [MinDigits, MaxDigits].
/// </summary>
public sealed class PromptGenerator
{
    private readonly SandboxOptions _options;
    private readonly SandboxRandom _random;

    public PromptGenerator(ulong seed, SandboxOptions? options = null)
        : this(seed, options, SeedStreams.Prompts)
    {
    }

    /// <summary>Prompts from another sub-stream of the seed (evaluation prompts disjoint from training prompts).</summary>
    internal PromptGenerator(ulong seed, SandboxOptions? options, ulong stream)
    {
        _options = options ?? new SandboxOptions();
        _options.Validate();
        _random = SandboxRandom.Derive(seed, stream);
    }

    public SortPrompt Next() => NextPrompt(_random, _options);

    /// <summary>The next <paramref name="count"/> prompts.</summary>
    public IReadOnlyList<SortPrompt> Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var prompts = new SortPrompt[count];
        for (int i = 0; i < count; i++)
        {
            prompts[i] = Next();
        }
        return prompts;
    }

    internal static SortPrompt NextPrompt(SandboxRandom random, SandboxOptions options)
    {
        int n = random.NextInt(options.MinDigits, options.MaxDigits);
        var digits = new int[n];
        for (int i = 0; i < n; i++)
        {
            digits[i] = random.NextInt(10);
        }
        return new SortPrompt(digits);
    }
}
