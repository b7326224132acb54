using System.Globalization;
using System.Text.RegularExpressions;
using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Tensors;

namespace R2M.Server.Internal;

/// <summary>
/// Checkpoint directories: <c>state.safetensors</c> (R2M.Alignment.CheckpointState: policy weights and
/// AdamW moments, reward head and its moments, optimizer steps, versions, last schedule, the positions
/// of the R2M w/ Noise streams of Update and Score) and <c>client_state.bin</c>. Written into a temporary sibling directory and renamed into place, so a
/// reader never sees a half-written checkpoint.
/// </summary>
internal static partial class CheckpointStore
{
    private const string StateFile = "state.safetensors";
    private const string ClientFile = "client_state.bin";
    private const string Format = "r2m-server/1";
    private const int MaxClientState = 16 * 1024 * 1024;

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NamePattern();

    /// <summary>The absolute directory of a name (under the root) or a path (admin.proto SaveCheckpointRequest).</summary>
    public static string Resolve(R2MServerOptions o, string name, string path)
    {
        var hasName = !string.IsNullOrEmpty(name);
        var hasPath = !string.IsNullOrEmpty(path);
        if (hasName == hasPath) throw new InvalidInputException("give exactly one of name and path");
        var root = Path.GetFullPath(o.CheckpointRoot);
        if (hasName)
        {
            if (!NamePattern().IsMatch(name) || name is "." or "..") throw new InvalidInputException($"name '{name}' has characters outside [A-Za-z0-9._-] (or is . or ..)");
            return Path.Combine(root, name);
        }

        var full = Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(root, path));
        if (!o.AllowArbitraryCheckpointPaths && !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new CheckpointAccessException(StatusCode.PermissionDenied, $"path '{path}' resolves to '{full}', outside the checkpoint root '{root}' (R2M:AllowArbitraryCheckpointPaths is false)");
        }

        return full;
    }

    /// <summary>Writes the checkpoint. The caller holds the admin gate (no training runs meanwhile).</summary>
    public static long Save(ServerState s, string dir, ByteString clientState)
    {
        if (clientState.Length > MaxClientState) throw new InvalidInputException($"client_state has {clientState.Length} bytes, above 16 MiB");
        var parent = Path.GetDirectoryName(dir)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(dir)}.tmp-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(tmp);
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
            var bytes = Directory.EnumerateFiles(tmp, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            if (Directory.Exists(dir))
            {
                var old = dir + $".old-{Guid.NewGuid():N}";
                Directory.Move(dir, old);
                Directory.Move(tmp, dir);
                Directory.Delete(old, recursive: true);
            }
            else
            {
                Directory.Move(tmp, dir);
            }

            return bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw new CheckpointAccessException(StatusCode.Internal, $"writing checkpoint '{dir}' failed: {e.Message}");
        }
    }

    /// <summary>
    /// Loads and swaps in a checkpoint; everything is validated before anything is replaced. The caller
    /// holds the admin gate. Versions only grow: the loaded ones, or the current ones + 1 when larger.
    /// </summary>
    public static (long Bytes, ByteString ClientState, Schedule? Schedule) Load(ServerState s, string dir, bool rewardOnly)
    {
        var statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}' ({StateFile} missing)");
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
        var clientPath = Path.Combine(dir, ClientFile);
        var client = File.Exists(clientPath) ? ByteString.CopyFrom(File.ReadAllBytes(clientPath)) : ByteString.Empty;
        var bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(x => new FileInfo(x).Length);
        return (bytes, client, schedule);
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
