namespace R2M.Sandbox.Internal;

/// <summary>Sub-stream ids, so each data set of one seed is independent of the others' sizes.</summary>
internal static class SeedStreams
{
    public const ulong Prompts = 1;
    public const ulong Sft = 2;
    public const ulong PreferenceTrain = 3;
    public const ulong PreferenceHeldOut = 4;
}
