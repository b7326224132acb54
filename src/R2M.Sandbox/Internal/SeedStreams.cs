namespace R2M.Sandbox.Internal;

/// <summary>Sub-stream ids, so each data set of one seed is independent of the others' sizes.</summary>
internal static class SeedStreams
{
    public const ulong Prompts = 1;
    public const ulong Sft = 2;
    public const ulong PreferenceTrain = 3;
    public const ulong PreferenceHeldOut = 4;
    public const ulong PreferenceGold = 5;
    public const ulong EvalPrompts = 6;
    public const ulong SftOrder = 7;
    public const ulong RewardOrder = 8;
    public const ulong GoldOrder = 9;
    public const ulong EvalSampling = 10;
    public const ulong PolicyInit = 11;
    public const ulong RewardInit = 12;

    /// <summary>RL prompts of one step: stream (StepPrompts &lt;&lt; 32) | step, so every step of a run has its own stream.</summary>
    public const ulong StepPrompts = 13;

    /// <summary>Bootstrap resampling of per-seed results (SeedStatistics).</summary>
    public const ulong Bootstrap = 14;

    public static ulong ForStep(ulong stream, int step) => (stream << 32) | (uint)step;
}
