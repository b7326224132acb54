using R2M.Api.V1;

namespace R2M.Client.Internal;

/// <summary>
/// The server version a non-idempotent call advances each time the server applies it:
/// Policy.Optimize increments policy_version by one (policy.proto OptimizeReply.policy_version),
/// RewardModel.Update increments rm_version by one (reward_model.proto UpdateReply.rm_version), and
/// versions never go back while a server runs (admin.proto Reset). Read (Admin.Info) before the
/// first attempt and again after a transient failure, it tells whether a re-send is safe: every
/// attempt carries the same request_id, so the server answers a re-send of an applied call with
/// the first reply; only a version that went back (a restarted server that lost its state, and
/// with it the remembered replies) makes a re-send unsafe.
/// </summary>
internal sealed record WatchedVersion(string Name, Func<InfoReply, ulong> Read)
{
    public static WatchedVersion Policy { get; } = new("policy_version", i => i.PolicyVersion);

    public static WatchedVersion RewardModel { get; } = new("rm_version", i => i.RmVersion);

    /// <summary>Null when re-sending is safe (the version did not move, or moved up: see the type); else why not.</summary>
    public string? WhyNotResend(ulong before, ulong now) =>
        now >= before ? null
        : $"the server's {Name} went back from {before} to {now}: the server restarted and lost its state (this call's effect included); resume the run from a checkpoint";
}
