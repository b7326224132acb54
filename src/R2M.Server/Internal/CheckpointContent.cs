using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>
/// What a checkpoint holds (R2M.Alignment <see cref="CheckpointState"/>) and how it is restored into the
/// services; <see cref="CheckpointStore"/> handles the directories and files. The content is the SERVED
/// snapshot: the served policy weights with their AdamW moments, the served head with its moments and
/// Update's noise position, the versions, the last schedule and Score's noise position (both R2M w/ Noise
/// streams: without them a resumed noise run would draw other noise than the run that never stopped).
/// Used under the write gate, so no write publishes meanwhile.
/// </summary>
internal sealed class CheckpointContent(PolicyHost policy, RewardHost reward, RolloutStore store)
{
    private const string Format = "r2m-server/1";

    /// <summary>Counter names of the noise streams (6 words each, CheckpointState.WriteRng); the Update one is named as in R2MRewardModel checkpoints.</summary>
    private const string UpdateNoiseKey = "rm.noise_rng";
    private const string ScoreNoiseKey = "rm.score_noise_rng";

    public CheckpointState Capture()
    {
        var p = policy.Served;
        var r = reward.Served;
        var cs = new CheckpointState();
        cs.Tensors["policy.params"] = p.Policy.Parameters.ToArray();
        cs.Tensors["policy.adamw.m"] = (float[])p.Optimizer.M.Clone();
        cs.Tensors["policy.adamw.v"] = (float[])p.Optimizer.V.Clone();
        cs.Counters["policy.adamw.step"] = [(ulong)p.Optimizer.Step];
        cs.Tensors["rm.head"] = (float[])r.Head.Parameters.Clone();
        cs.Tensors["rm.adamw.m"] = (float[])r.Optimizer.M.Clone();
        cs.Tensors["rm.adamw.v"] = (float[])r.Optimizer.V.Clone();
        cs.Counters["rm.adamw.step"] = [(ulong)r.Optimizer.Step];
        cs.Counters["versions"] = [policy.Version, reward.Version];
        cs.WriteRng(UpdateNoiseKey, r.NoiseRngState);
        cs.WriteRng(ScoreNoiseKey, reward.ScoreNoiseState);
        cs.Metadata["format"] = Format;
        cs.Metadata["head"] = HeadShape();
        cs.Metadata["policy"] = PolicyShape();
        if (reward.LastSchedule is { } sch) cs.Metadata["schedule"] = JsonFormatter.Default.Format(sch);
        return cs;
    }

    /// <summary>
    /// Validates everything <paramref name="cs"/> must hold for the hosted models (nothing is assigned yet) and
    /// returns the schedule and the action that restores it: through the scratch copies and one publish each,
    /// as a write does. Versions only grow (the saved ones, or the current + 1 when larger); the rollout store
    /// and RTE cache are cleared (their hidden states belong to the old policy, admin.proto LoadCheckpoint).
    /// </summary>
    public (Action Apply, Schedule? Schedule) Prepare(CheckpointState cs, string path, bool rewardOnly)
    {
        Expect(cs, "format", Format, path);
        Expect(cs, "head", HeadShape(), path);
        if (!rewardOnly) Expect(cs, "policy", PolicyShape(), path);
        Schedule? schedule;
        float[]? pp = null, pm = null, pv = null, hp, hm, hv;
        ulong pStep = 0, hStep;
        ulong[] versions;
        Rng.State? updateNoise, scoreNoise;
        try
        {
            int np = policy.Served.Policy.Parameters.Length, nh = reward.Served.Head.Parameters.Length;
            if (!rewardOnly) (pp, pm, pv, pStep) = (cs.Tensor("policy.params", np), cs.Tensor("policy.adamw.m", np), cs.Tensor("policy.adamw.v", np), cs.Counter("policy.adamw.step", 1)[0]);
            (hp, hm, hv, hStep) = (cs.Tensor("rm.head", nh), cs.Tensor("rm.adamw.m", nh), cs.Tensor("rm.adamw.v", nh), cs.Counter("rm.adamw.step", 1)[0]);
            versions = cs.Counter("versions", 2);
            // Noise states are absent in checkpoints written before they were saved: the streams then go on where they are.
            (updateNoise, scoreNoise) = (OptionalRng(cs, UpdateNoiseKey), OptionalRng(cs, ScoreNoiseKey));
        }
        catch (InvalidDataException e)
        {
            throw new PreconditionException(e.Message);
        }

        try
        {
            schedule = cs.Metadata.TryGetValue("schedule", out var js) ? JsonParser.Default.Parse<Schedule>(js) : null;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new CheckpointAccessException(StatusCode.DataLoss, $"'{path}': metadata 'schedule' is not a Schedule: {e.Message}");
        }

        return (() =>
        {
            if (pp is not null)
            {
                var p = policy.Scratch;
                pp.CopyTo(p.Policy.Parameters);
                pm!.CopyTo(p.Optimizer.M, 0);
                pv!.CopyTo(p.Optimizer.V, 0);
                p.Optimizer.Step = (long)pStep;
                policy.Publish(versions[0]);
            }
            else
            {
                policy.Advance(0);
            }

            var r = reward.Scratch;
            hp.CopyTo(r.Head.Parameters, 0);
            hm.CopyTo(r.Optimizer.M, 0);
            hv.CopyTo(r.Optimizer.V, 0);
            r.Optimizer.Step = (long)hStep;
            if (updateNoise is { } un) r.NoiseRngState = un;
            reward.Publish(versions[1]);
            if (scoreNoise is { } sn) reward.ScoreNoiseState = sn;
            store.Clear();
            reward.Cache.Clear();
            reward.LastSchedule = schedule;
        }, schedule);
    }

    private static Rng.State? OptionalRng(CheckpointState cs, string name) => cs.Counters.ContainsKey(name) ? cs.ReadRng(name) : null;

    private static void Expect(CheckpointState cs, string key, string expected, string path)
    {
        if (!cs.Metadata.TryGetValue(key, out var v))
        {
            throw new CheckpointAccessException(StatusCode.DataLoss, $"'{path}': metadata '{key}' is missing (not an r2m-server checkpoint)");
        }

        if (v != expected)
        {
            throw new PreconditionException($"'{path}': {key} is {v}, the hosted models need {expected}");
        }
    }

    private string HeadShape()
    {
        var c = reward.Config;
        return string.Create(CultureInfo.InvariantCulture, $"D_rm {c.RmDim}, D_p {c.PolicyDim}, d {c.AttnDim}, heads {c.Heads}, phi bias {c.PhiBias}");
    }

    private string PolicyShape()
    {
        var c = policy.Meta.Model.Config;
        return string.Create(CultureInfo.InvariantCulture, $"{c.ModelType} hidden {c.HiddenSize} layers {c.NumLayers} vocab {c.VocabSize} parameters {policy.Meta.Model.ParameterCount}");
    }
}
