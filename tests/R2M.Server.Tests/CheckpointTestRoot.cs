using System.Text;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using R2M.Server.Internal;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Tests;

/// <summary>A temporary checkpoint root for the CheckpointDirectory tests, with a store over it whose step hook a test sets.</summary>
internal sealed class CheckpointTestRoot : IDisposable
{
    public CheckpointTestRoot()
    {
        Root = Path.Combine(Path.GetTempPath(), $"r2m-ckdir-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Root);
        Store = new CheckpointDirectory(Root, allowArbitraryPaths: false, NullLogger.Instance, step => Hook?.Invoke(step));
    }

    public string Root { get; }

    public CheckpointDirectory Store { get; }

    /// <summary>Runs after each save step (throw to inject a fault).</summary>
    public Action<SaveStep>? Hook { get; set; }

    public string Folder(string name) => Path.Combine(Root, name);

    /// <summary>Saves two files whose content is <paramref name="payload"/>.</summary>
    public SavedCheckpoint Save(string name, string payload) => Store.Save(Store.Resolve(name, ""), dir =>
    {
        File.WriteAllText(Path.Combine(dir, "a.bin"), payload);
        File.WriteAllText(Path.Combine(dir, "b.bin"), payload + payload);
    });

    /// <summary>Opens (verifies) the name and returns its payload.</summary>
    public string Load(string name)
    {
        var opened = Store.Open(Store.Resolve(name, ""));
        var a = File.ReadAllText(opened.PathOf("a.bin"));
        Assert.Equal(a + a, File.ReadAllText(opened.PathOf("b.bin")));
        return a;
    }

    /// <summary>The entries of a checkpoint folder, sorted ("CURRENT", "v-00000002", ...).</summary>
    public string[] Entries(string name) =>
        [.. Directory.EnumerateFileSystemEntries(Folder(name)).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    public static CheckpointAccessException Fails(Action action, StatusCode code, params string[] fragments)
    {
        var e = Assert.Throws<CheckpointAccessException>(action);
        Assert.True(code == e.Code, $"expected {code}, got {e.Code}: {e.Message}");
        foreach (var f in fragments) Assert.Contains(f, e.Message, StringComparison.Ordinal);
        return e;
    }

    public static void WriteText(string path, string text) => File.WriteAllBytes(path, Encoding.ASCII.GetBytes(text));

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}
