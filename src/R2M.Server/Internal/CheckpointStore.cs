using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using R2M.Api.V1;
using R2M.Grpc;
using R2M.Models;
using R2M.Models.Safetensors;

namespace R2M.Server.Internal;

/// <summary>
/// Checkpoint directories: policy/ (HF layout: config.json + model.safetensors), reward_head.safetensors
/// (head parameters and both AdamW moments), state.json (versions, optimizer step, schedule) and
/// client_state.bin. Written into a temporary sibling directory and renamed into place, so a reader
/// never sees a half-written checkpoint.
/// </summary>
internal static partial class CheckpointStore
{
    private const string StateFile = "state.json";
    private const string HeadFile = "reward_head.safetensors";
    private const string ClientFile = "client_state.bin";
    private const int MaxClientState = 16 * 1024 * 1024;

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex NamePattern();

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

    /// <summary>Writes the checkpoint. Caller holds the admin gate (no training runs meanwhile).</summary>
    public static long Save(ServerState s, string dir, ByteString clientState)
    {
        if (clientState.Length > MaxClientState) throw new InvalidInputException($"client_state has {clientState.Length} bytes, above 16 MiB");
        var parent = Path.GetDirectoryName(dir)!;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(dir)}.tmp-{Guid.NewGuid():N}");
        try
        {
            ModelCheckpoint.Save(s.Policy.Model, Path.Combine(tmp, "policy"));
            var head = s.Reward.Trainer;
            var opt = s.Reward.Optimizer;
            long n = head.Parameters.Length;
            SafetensorsWriter.Write(Path.Combine(tmp, HeadFile),
            [
                new SafetensorsEntry("head", [n], head.Parameters),
                new SafetensorsEntry("adam.m", [n], opt.M),
                new SafetensorsEntry("adam.v", [n], opt.V),
            ]);
            var state = new CheckpointState(1, s.PolicyVersion, s.RmVersion, opt.Step, head.Config.RmDim, head.Config.PolicyDim, head.Config.AttnDim,
                head.Config.Heads, s.LastSchedule is { } sch ? JsonFormatter.Default.Format(sch) : null);
            File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state));
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
        catch
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
            throw;
        }
    }

    /// <summary>Loads and swaps in a checkpoint; everything is validated before anything is replaced.</summary>
    public static (long Bytes, ByteString ClientState, Schedule? Schedule) Load(ServerState s, string dir, bool rewardOnly)
    {
        var statePath = Path.Combine(dir, StateFile);
        if (!File.Exists(statePath)) throw new CheckpointAccessException(StatusCode.NotFound, $"no checkpoint at '{dir}' ({StateFile} missing)");
        CheckpointState state;
        try
        {
            state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath)) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new CheckpointAccessException(StatusCode.DataLoss, $"'{statePath}' is not a valid checkpoint state: {e.Message}");
        }

        var cfg = s.Reward.Config;
        if ((state.RmDim, state.PolicyDim, state.AttnDim, state.Heads) != (cfg.RmDim, cfg.PolicyDim, cfg.AttnDim, cfg.Heads))
        {
            throw new PreconditionException($"'{statePath}': reward head shape (D_rm {state.RmDim}, D_p {state.PolicyDim}, d {state.AttnDim}, heads {state.Heads}) differs from the hosted one (D_rm {cfg.RmDim}, D_p {cfg.PolicyDim}, d {cfg.AttnDim}, heads {cfg.Heads})");
        }

        var headPath = Path.Combine(dir, HeadFile);
        float[] head, m, v;
        using (var f = SafetensorsFile.Open(headPath))
        {
            head = Read(f, "head", s.Reward.Trainer.Parameters.Length);
            m = Read(f, "adam.m", head.Length);
            v = Read(f, "adam.v", head.Length);
        }

        TransformerModel? policy = null;
        if (!rewardOnly)
        {
            policy = TransformerModel.Create(s.Policy.Model.Config);
            using var reader = CheckpointReader.Open(Path.Combine(dir, "policy"));
            ModelCheckpoint.LoadWeights(policy, reader);
        }

        // Validated: swap in. The caller holds the admin gate; the gates below keep Generate and Score consistent.
        if (policy is not null)
        {
            s.Policy.Gate.Wait();
            try
            {
                policy.Parameters.CopyTo(s.Policy.Model.Parameters, 0);
            }
            finally
            {
                s.Policy.Gate.Release();
            }
        }

        s.Reward.TrainGate.Wait();
        try
        {
            head.CopyTo(s.Reward.Trainer.Parameters, 0);
            s.Reward.RestoreOptimizer(m, v, state.AdamStep);
            // A full load restores the saved versions (same weights, same numbers); a head-only load is a new version.
            s.SetVersions(rewardOnly ? s.PolicyVersion : state.PolicyVersion, rewardOnly ? s.RmVersion + 1 : state.RmVersion);
        }
        finally
        {
            s.Reward.TrainGate.Release();
        }

        var schedule = state.Schedule is { } js ? JsonParser.Default.Parse<Schedule>(js) : null;
        s.LastSchedule = schedule;
        s.Store.Clear();
        var clientPath = Path.Combine(dir, ClientFile);
        var client = File.Exists(clientPath) ? ByteString.CopyFrom(File.ReadAllBytes(clientPath)) : ByteString.Empty;
        var bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(x => new FileInfo(x).Length);
        return (bytes, client, schedule);
    }

    private static float[] Read(SafetensorsFile f, string name, int expected)
    {
        if (!f.Tensors.TryGetValue(name, out var info)) throw new PreconditionException($"'{f.FilePath}': tensor '{name}' is missing");
        if (info.ElementCount != expected) throw new PreconditionException($"'{f.FilePath}': tensor '{name}' has {info.ElementCount} values, the hosted reward head needs {expected}");
        return f.ReadF32(name);
    }

    private sealed record CheckpointState(int Format, ulong PolicyVersion, ulong RmVersion, long AdamStep, int RmDim, int PolicyDim, int AttnDim, int Heads, string? Schedule);
}
