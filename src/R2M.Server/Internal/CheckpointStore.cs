using System.Globalization;
using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Server.Internal.Checkpoints;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>
/// Checkpoint directories: <c>state.safetensors</c> (R2M.Alignment.CheckpointState: policy weights and
/// AdamW moments, reward head and its moments, optimizer steps, versions, last schedule, the positions
/// of the R2M w/ Noise streams of Update and Score) and <c>client_state.bin</c>, written and read
/// through <see cref="CheckpointDirectory"/>: a new version folder and an atomically replaced
/// pointer, so the name loads the old or the new checkpoint at every instant, and a SHA-256
/// manifest checked on every load.
/// </summary>
internal static class CheckpointStore
{
    private const string StateFile = "state.safetensors";
    private const string ClientFile = "client_state.bin";
    private const string Format = "r2m-server/1";
    private const int MaxClientState = 16 * 1024 * 1024;

    /// <summary>Writes the checkpoint. The caller holds the admin gate (no training runs meanwhile).</summary>
    public static SavedCheckpoint Save(ServerState s, CheckpointDirectory checkpoints, CheckpointLocation at, ByteString clientState)
    {
        if (clientState.Length > MaxClientState) throw new InvalidInputException($"client_state has {clientState.Length} bytes, above 16 MiB");
        return checkpoints.Save(at, tmp =>
        {
            var cs = new CheckpointState();
            cs.Tensors["policy.params"] = (float[])s.TrainerModel.Parameters.Clone();
            cs.Tensors["policy.adamw.m"] = (float[])s.PolicyAdam.M.Clone();
            cs.Tensors["policy.adamw.v"] = (float[])s.PolicyAdam.V.Clone();
            cs.Counters["policy.adamw.step"] = [(ulong)s.PolicyAdam.Step];
            cs.Tensors["rm.head"] = (float[])s.Reward.Trainer.Parameters.Clone();
            cs.Tensors["rm.adamw.m"] = (float[])s.Reward.Optimizer.M.Clone();
            cs.Tensors["rm.adamw.v"] = (float[])s.Reward.Optimizer.V.Clone();
            cs.Counters["rm.adamw.step"] = [(ulong)s.Reward.Optimizer.Step];
            cs.Counters["versions"] = [s.PolicyVersion, s.RmVersion];
            // R2M w/ Noise draws fresh noise on every Update and Score: without the streams' positions a
            // resumed noise run would draw other noise than the run that never stopped.
            cs.WriteRng(UpdateNoiseKey, s.Reward.TrainNoise.GetState());
            cs.WriteRng(ScoreNoiseKey, s.Batcher.NoiseState);
            cs.Metadata["format"] = Format;
            cs.Metadata["head"] = HeadShape(s);
            cs.Metadata["policy"] = PolicyShape(s);
            if (s.LastSchedule is { } sch) cs.Metadata["schedule"] = JsonFormatter.Default.Format(sch);
            cs.Save(Path.Combine(tmp, StateFile));
            File.WriteAllBytes(Path.Combine(tmp, ClientFile), clientState.ToByteArray());
        });
    }

    /// <summary>
    /// Loads and swaps in a checkpoint; everything is validated before anything is replaced. The caller
    /// holds the admin gate. Versions only grow: the loaded ones, or the current ones + 1 when larger.
    /// </summary>
    public static (long Bytes, ByteString ClientState, Schedule? Schedule) Load(ServerState s, CheckpointDirectory checkpoints, CheckpointLocation at, bool rewardOnly)
    {
        var opened = checkpoints.Open(at);
        var statePath = opened.PathOf(StateFile);
        CheckpointState cs;
        try
        {
            cs = CheckpointState.Load(statePath);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or FormatException or System.Text.Json.JsonException or Models.Safetensors.SafetensorsException)
        {
            throw new CheckpointAccessException(StatusCode.DataLoss, $"'{statePath}' is not a readable checkpoint: {e.Message}");
        }

        var c = Validate(s, cs, statePath, rewardOnly);
        if (!rewardOnly)
        {
            c.Policy!.CopyTo(s.TrainerModel.Parameters, 0);
            s.Policy.Gate.Wait();
            try
            {
                c.Policy.CopyTo(s.Policy.Model.Parameters, 0);
            }
            finally
            {
                s.Policy.Gate.Release();
            }

            var adam = new AdamWOptimizer(c.Policy.Length, s.PolicyAdam.Options);
            c.PolicyM!.CopyTo(adam.M, 0);
            c.PolicyV!.CopyTo(adam.V, 0);
            adam.Step = (long)c.PolicyStep;
            s.PolicyAdam = adam;
        }

        c.Head.CopyTo(s.Reward.Trainer.Parameters, 0);
        c.HeadM.CopyTo(s.Reward.Optimizer.M, 0);
        c.HeadV.CopyTo(s.Reward.Optimizer.V, 0);
        s.Reward.Optimizer.Step = (long)c.HeadStep;
        if (c.UpdateNoise is { } un) s.Reward.TrainNoise.SetState(un);
        if (c.ScoreNoise is { } sn) s.Batcher.NoiseState = sn;
        // The rollout store's hidden states belong to the old policy (admin.proto LoadCheckpoint).
        s.Store.Clear();
        s.AdvanceVersions(rewardOnly ? 0 : c.Versions[0], c.Versions[1]);
        var schedule = cs.Metadata.TryGetValue("schedule", out var js) ? JsonParser.Default.Parse<Schedule>(js) : null;
        s.LastSchedule = schedule;
        var client = opened.TryPathOf(ClientFile) is { } clientPath ? ByteString.CopyFrom(File.ReadAllBytes(clientPath)) : ByteString.Empty;
        return (opened.Bytes, client, schedule);
    }

    /// <summary>Counter names of the noise streams (6 words each, CheckpointState.WriteRng); the Update one is named as in R2M.Alignment's R2MRewardModel checkpoints.</summary>
    private const string UpdateNoiseKey = "rm.noise_rng";
    private const string ScoreNoiseKey = "rm.score_noise_rng";

    /// <summary>Noise states are null in checkpoints written before they were saved: the streams then go on where they are.</summary>
    private sealed record Loaded(float[]? Policy, float[]? PolicyM, float[]? PolicyV, ulong PolicyStep, float[] Head, float[] HeadM, float[] HeadV, ulong HeadStep, ulong[] Versions,
        Rng.State? UpdateNoise, Rng.State? ScoreNoise);

    private static Loaded Validate(ServerState s, CheckpointState cs, string path, bool rewardOnly)
    {
        Expect(cs, "format", Format, path);
        Expect(cs, "head", HeadShape(s), path);
        if (!rewardOnly) Expect(cs, "policy", PolicyShape(s), path);
        try
        {
            int np = s.TrainerModel.Parameters.Length, nh = s.Reward.Trainer.Parameters.Length;
            return new Loaded(
                rewardOnly ? null : cs.Tensor("policy.params", np),
                rewardOnly ? null : cs.Tensor("policy.adamw.m", np),
                rewardOnly ? null : cs.Tensor("policy.adamw.v", np),
                rewardOnly ? 0 : cs.Counter("policy.adamw.step", 1)[0],
                cs.Tensor("rm.head", nh), cs.Tensor("rm.adamw.m", nh), cs.Tensor("rm.adamw.v", nh),
                cs.Counter("rm.adamw.step", 1)[0], cs.Counter("versions", 2),
                OptionalRng(cs, UpdateNoiseKey), OptionalRng(cs, ScoreNoiseKey));
        }
        catch (InvalidDataException e)
        {
            throw new PreconditionException(e.Message);
        }
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

    private static string HeadShape(ServerState s)
    {
        var c = s.Reward.Config;
        return string.Create(CultureInfo.InvariantCulture, $"D_rm {c.RmDim}, D_p {c.PolicyDim}, d {c.AttnDim}, heads {c.Heads}, phi bias {c.PhiBias}");
    }

    private static string PolicyShape(ServerState s)
    {
        var c = s.Policy.Model.Config;
        return string.Create(CultureInfo.InvariantCulture, $"{c.ModelType} hidden {c.HiddenSize} layers {c.NumLayers} vocab {c.VocabSize} parameters {s.Policy.Model.ParameterCount}");
    }
}
