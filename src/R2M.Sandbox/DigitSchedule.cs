namespace R2M.Sandbox;

/// <summary>
/// How many digits the RL prompts of each step have: a window [Min, Max] (the count is drawn
/// uniformly in it) that starts at [<see cref="StartMin"/>, <see cref="StartMax"/>] and moves up one
/// digit at a time, <see cref="Shift"/> times, in equal phases over the run. With Shift = 0 the
/// window never moves (the spurious task). Steps are 1-based, as r2m-client counts them.
/// </summary>
/// <example>
/// StartMin 3, StartMax 6, Shift 3, T = 100: steps 1-25 draw 3-6 digits, 26-50 draw 4-7,
/// 51-75 draw 5-8, 76-100 draw 6-9.
/// </example>
public sealed record DigitSchedule(int StartMin, int StartMax, int Shift)
{
    /// <summary>Largest digit count any window may reach (<see cref="SandboxOptions.MaxDigits"/>'s limit).</summary>
    public const int MaxDigits = 12;

    /// <summary>A window that never moves.</summary>
    public static DigitSchedule Fixed(int min, int max) => new(min, max, 0);

    /// <summary>Number of phases (Shift + 1).</summary>
    public int Phases => Shift + 1;

    /// <summary>The window of the last phase.</summary>
    public (int Min, int Max) FinalRange => (StartMin + Shift, StartMax + Shift);

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad value.</summary>
    public void Validate()
    {
        if (StartMin < 1) throw new ArgumentException($"DigitSchedule.StartMin = {StartMin} must be >= 1", nameof(StartMin));
        if (StartMax < StartMin) throw new ArgumentException($"DigitSchedule.StartMax = {StartMax} must be >= StartMin ({StartMin})", nameof(StartMax));
        if (Shift < 0) throw new ArgumentException($"DigitSchedule.Shift = {Shift} must be >= 0", nameof(Shift));
        if (StartMax + Shift > MaxDigits)
            throw new ArgumentException($"DigitSchedule: the last window ends at {StartMax + Shift} digits, more than {MaxDigits}", nameof(Shift));
    }

    /// <summary>Phase 0..Shift of 1-based <paramref name="step"/> of <paramref name="totalSteps"/>: floor((step - 1) (Shift + 1) / T).</summary>
    public int Phase(int step, int totalSteps)
    {
        Check(step, totalSteps);
        return (int)((long)(step - 1) * Phases / totalSteps);
    }

    /// <summary>The digit-count window of a step.</summary>
    public (int Min, int Max) Range(int step, int totalSteps)
    {
        int phase = Phase(step, totalSteps);
        return (StartMin + phase, StartMax + phase);
    }

    private static void Check(int step, int totalSteps)
    {
        if (totalSteps < 1) throw new ArgumentOutOfRangeException(nameof(totalSteps), totalSteps, "the run needs T >= 1 steps");
        if (step < 1 || step > totalSteps) throw new ArgumentOutOfRangeException(nameof(step), step, $"step must be in 1..T = {totalSteps}");
    }
}
