using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;
using R2M.Api.V1;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Internal;

/// <summary>
/// Checkpoint directories: <c>state.safetensors</c> (what <see cref="CheckpointContent"/> captures: the
/// served snapshot) and <c>client_state.bin</c>, written and read through <see cref="CheckpointDirectory"/>:
/// a new version folder and an atomically replaced pointer, so the name loads the old or the new
/// checkpoint at every instant, and a SHA-256 manifest checked on every load.
/// </summary>
internal static class CheckpointStore
{
    private const string StateFile = "state.safetensors";
    private const string ClientFile = "client_state.bin";
    private const int MaxClientState = 16 * 1024 * 1024;

    /// <summary>Writes the checkpoint. The caller holds the write gate (no write publishes meanwhile).</summary>
    public static SavedCheckpoint Save(CheckpointContent content, CheckpointDirectory checkpoints, CheckpointLocation at, ByteString clientState)
    {
        if (clientState.Length > MaxClientState) throw new InvalidInputException($"client_state has {clientState.Length} bytes, above 16 MiB");
        return checkpoints.Save(at, tmp =>
        {
            content.Capture().Save(Path.Combine(tmp, StateFile));
            File.WriteAllBytes(Path.Combine(tmp, ClientFile), clientState.ToByteArray());
        });
    }

    /// <summary>
    /// Loads and swaps in a checkpoint; everything is validated (and read) before anything is replaced. The
    /// caller holds the write gate. Versions only grow: the loaded ones, or the current ones + 1 when larger.
    /// </summary>
    public static (long Bytes, ByteString ClientState, Schedule? Schedule) Load(CheckpointContent content, CheckpointDirectory checkpoints, CheckpointLocation at, bool rewardOnly)
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

        var (apply, schedule) = content.Prepare(cs, statePath, rewardOnly);
        var client = opened.TryPathOf(ClientFile) is { } clientPath ? ByteString.CopyFrom(File.ReadAllBytes(clientPath)) : ByteString.Empty;
        apply();
        return (opened.Bytes, client, schedule);
    }
}
