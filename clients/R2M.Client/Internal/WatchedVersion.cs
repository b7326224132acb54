using R2M.Api.V1;

namespace R2M.Client.Internal;

/// <summary>
/// The server version a non-idempotent call advances each time the server applies it:
/// Policy.Optimize increments policy_version by one (policy.proto OptimizeReply.policy_version),
/// RewardModel.Update increments rm_version by one (reward_model.proto UpdateReply.rm_version), and
/// versions never go back while a server runs (admin.proto Reset). Reading it (Admin.Info) before the
/// first attempt and again after a transient failure tells whether that attempt was applied and only
/// its reply was lost, in which case re-sending it would apply it twice.
/// </summary>
internal sealed record WatchedVersion(string Name, Func<InfoReply, ulong> Read)
{
    public static WatchedVersion Policy { get; } = new("policy_version", i => i.PolicyVersion);

    public static WatchedVersion RewardModel { get; } = new("rm_version", i => i.RmVersion);

    /// <summary>Null when the version did not move (the failed attempt was not applied: safe to re-send); else why not.</summary>
    public string? WhyNotResend(ulong before, ulong now) =>
        now == before ? null
        : now > before ? $"it was applied by the server ({Name} moved from {before} to {now}) but its reply was lost; it must not be re-sent, as that would apply it twice"
        : $"the server's {Name} went back from {before} to {now}: the server restarted and lost its state (this call's effect included); resume the run from a checkpoint";
}
