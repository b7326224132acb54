// The child process of the checkpoint crash test (tests/R2M.Server.Tests/CheckpointCrashTests.cs).
//   save ROOT NAME PAYLOAD STEP   saves through the server's CheckpointDirectory and kills itself
//                                 (SIGKILL, as kill -9) right after STEP (a SaveStep, "writing" for
//                                 halfway through the files, or "none")
//   load ROOT NAME                does what a restarted server does (clean-up, then open the name) and
//                                 prints "loaded PAYLOAD" or "status CODE: MESSAGE", then the folder's entries
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using R2M.Alignment;
using R2M.Server.Internal;
using R2M.Server.Internal.Checkpoints;

const string StateFile = "state.safetensors";
const string ClientFile = "client_state.bin";
const int Values = 1 << 16;

var (mode, root, name) = (args[0], args[1], args[2]);
if (mode == "save")
{
    var payload = int.Parse(args[3], CultureInfo.InvariantCulture);
    var crashAt = args[4];
    var store = new CheckpointDirectory(root, allowArbitraryPaths: false, NullLogger.Instance, step =>
    {
        if (step.ToString() == crashAt) Die();
    });
    store.Save(store.Resolve(name, ""), dir =>
    {
        var state = new CheckpointState();
        state.Tensors["payload"] = [.. Enumerable.Range(0, Values).Select(i => Value(payload, i))];
        state.Metadata["payload"] = payload.ToString(CultureInfo.InvariantCulture);
        state.Save(Path.Combine(dir, StateFile));
        var client = ClientBytes(payload);
        using var fs = new FileStream(Path.Combine(dir, ClientFile), FileMode.CreateNew);
        fs.Write(client.AsSpan(0, client.Length / 2));
        fs.Flush();
        if (crashAt == "writing") Die();
        fs.Write(client.AsSpan(client.Length / 2));
    });
    Console.WriteLine("saved");
    return 0;
}

var loader = new CheckpointDirectory(root, allowArbitraryPaths: false, NullLogger.Instance, hook: null);
loader.CleanUp();
var at = loader.Resolve(name, "");
try
{
    var opened = loader.Open(at);
    var state = CheckpointState.Load(opened.PathOf(StateFile));
    var payload = int.Parse(state.Metadata["payload"], CultureInfo.InvariantCulture);
    var tensor = state.Tensor("payload", Values);
    var consistent = Enumerable.Range(0, Values).All(i => tensor[i] == Value(payload, i))
        && File.ReadAllBytes(opened.PathOf(ClientFile)).AsSpan().SequenceEqual(ClientBytes(payload));
    Console.WriteLine(consistent ? $"loaded {payload}" : $"inconsistent {payload}");
}
catch (CheckpointAccessException e)
{
    Console.WriteLine($"status {e.Code}: {e.Message}");
}

string?[] entries = Directory.Exists(at.Directory) ? [.. Directory.EnumerateFileSystemEntries(at.Directory).Select(Path.GetFileName).Order(StringComparer.Ordinal)] : [];
Console.WriteLine($"entries {string.Join(",", entries)}");
return 0;

static float Value(int payload, int i) => payload * 1000 + (i % 997);

static byte[] ClientBytes(int payload) => System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat($"payload {payload};", 4096)));

static void Die()
{
    Console.Out.Flush();
    Process.GetCurrentProcess().Kill();
    Thread.Sleep(Timeout.Infinite);
}
