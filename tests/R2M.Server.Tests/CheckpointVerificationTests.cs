using System.Text.Json.Nodes;
using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using R2M.Server.Internal;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Tests;

/// <summary>What CheckpointDirectory loads: manifest checks, the pointer's fallback rule, names, paths and links.</summary>
public sealed class CheckpointVerificationTests : IDisposable
{
    private readonly CheckpointTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    private string Version(string name, int n = 1) => Path.Combine(_t.Folder(name), $"v-{n:D8}");

    [Fact]
    public void Open_FlippedByteTruncatedOrMissingFile_DataLossNamingTheFile()
    {
        _t.Save("run", "payload");
        var a = Path.Combine(Version("run"), "a.bin");
        CheckpointTestRoot.WriteText(a, "paYload");
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, a, "SHA-256");
        CheckpointTestRoot.WriteText(a, "pay");
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, a, "has 3 bytes, the manifest says 7");
        File.Delete(a);
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, a, "missing");
    }

    [Fact]
    public void Open_BrokenManifest_DataLossNamingTheManifest()
    {
        _t.Save("run", "payload");
        var manifest = Path.Combine(Version("run"), "manifest.json");
        var json = JsonNode.Parse(File.ReadAllText(manifest))!;
        CheckpointTestRoot.WriteText(manifest, "{ not json");
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, manifest, "not a checkpoint manifest");
        // An entry that would read outside the version folder.
        json["files"]!["../../escape"] = json["files"]!["a.bin"]!.DeepClone();
        CheckpointTestRoot.WriteText(manifest, json.ToJsonString());
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, "malformed entry '../../escape'");
        File.Delete(manifest);
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, manifest, "missing");
    }

    [Fact]
    public void Open_CorruptVersionNamedByThePointer_DataLossNotAnotherVersion()
    {
        SaveOldAndNewKeepingBoth();
        CheckpointTestRoot.WriteText(Path.Combine(Version("run", 2), "a.bin"), "NEW");
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.DataLoss, "SHA-256");
    }

    [Fact]
    public void Open_NoUsablePointer_FallsBackToTheNewestVersionFolder()
    {
        SaveOldAndNewKeepingBoth();
        var pointer = Path.Combine(_t.Folder("run"), "CURRENT");

        File.Delete(pointer);                                      // a first save killed before the pointer
        Assert.Equal("new", _t.Load("run"));
        CheckpointTestRoot.WriteText(pointer, "v-00000007\n");     // names a missing folder
        Assert.Equal("new", _t.Load("run"));
        CheckpointTestRoot.WriteText(pointer, "garbage\u0001");     // not a version name
        Assert.Equal("new", _t.Load("run"));
        CheckpointTestRoot.WriteText(pointer, "v-00000001\n");     // a usable pointer wins over "newest"
        Assert.Equal("old", _t.Load("run"));
    }

    [Fact]
    public void Open_NothingThere_NotFound()
    {
        CheckpointTestRoot.Fails(() => _t.Load("absent"), StatusCode.NotFound, "no checkpoint");
        Directory.CreateDirectory(_t.Folder("empty"));
        CheckpointTestRoot.Fails(() => _t.Load("empty"), StatusCode.NotFound, "no checkpoint", "no CURRENT");
    }

    [Fact]
    public void Open_AVersionFolderGivenByPath_LoadsItVerified()
    {
        _t.Save("run", "payload");
        var copy = Path.Combine(_t.Root, "copies", "kept");
        CopyFolder(Version("run"), copy);
        var opened = _t.Store.Open(_t.Store.Resolve("", "copies/kept"));
        Assert.Equal("payload", File.ReadAllText(opened.PathOf("a.bin")));
        Assert.Equal(7 + 14, opened.Bytes);
        CheckpointTestRoot.Fails(() => opened.PathOf("other.bin"), StatusCode.DataLoss, "no 'other.bin' in its manifest");
    }

    [Theory]
    [InlineData("../up", "characters")]
    [InlineData(".hidden", "starts with '.'")]
    [InlineData("a/b", "characters")]
    [InlineData("sp ace", "characters")]
    [InlineData("..", "starts with '.'")]
    public void Resolve_BadName_InvalidArgument(string name, string fragment)
    {
        var e = Assert.Throws<InvalidInputException>(() => _t.Store.Resolve(name, ""));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_NameAndPathLimits_InvalidArgumentNamingTheLimit()
    {
        Assert.Contains("129 characters, at most 128", Assert.Throws<InvalidInputException>(() => _t.Store.Resolve(new string('n', 129), "")).Message, StringComparison.Ordinal);
        Assert.Equal(Path.Combine(_t.Root, new string('n', 128)), _t.Store.Resolve(new string('n', 128), "").Directory);
        Assert.Contains("NUL", Assert.Throws<InvalidInputException>(() => _t.Store.Resolve("", "a\0b")).Message, StringComparison.Ordinal);
        Assert.Contains("at most 255", Assert.Throws<InvalidInputException>(() => _t.Store.Resolve("", "ok/" + new string('é', 128))).Message, StringComparison.Ordinal);
        Assert.Contains("exactly one", Assert.Throws<InvalidInputException>(() => _t.Store.Resolve("a", "b")).Message, StringComparison.Ordinal);
        Assert.Contains("root itself", Assert.Throws<InvalidInputException>(() => _t.Store.Resolve("", ".")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_PathOutsideTheRoot_PermissionDeniedUnlessAllowed()
    {
        CheckpointTestRoot.Fails(() => _t.Store.Resolve("", "../elsewhere"), StatusCode.PermissionDenied, "outside the checkpoint root");
        CheckpointTestRoot.Fails(() => _t.Store.Resolve("", "/tmp/elsewhere"), StatusCode.PermissionDenied, "outside the checkpoint root");
        var open = new CheckpointDirectory(_t.Root, allowArbitraryPaths: true, NullLogger.Instance, hook: null);
        Assert.Equal(new CheckpointLocation("/tmp/elsewhere", null), open.Resolve("", "/tmp/elsewhere"));
    }

    [Fact]
    public void Resolve_SymbolicLinksUnderTheRoot_PermissionDenied()
    {
        var outside = Path.Combine(Path.GetTempPath(), $"r2m-outside-{Guid.NewGuid():N}");
        Directory.CreateDirectory(outside);
        try
        {
            Directory.CreateSymbolicLink(_t.Folder("link"), outside);
            Directory.CreateSymbolicLink(_t.Folder("dangling"), Path.Combine(outside, "nothing"));
            CheckpointTestRoot.Fails(() => _t.Store.Resolve("link", ""), StatusCode.PermissionDenied, "symbolic link", outside);
            CheckpointTestRoot.Fails(() => _t.Store.Resolve("", "link/deeper/run"), StatusCode.PermissionDenied, "symbolic link");
            CheckpointTestRoot.Fails(() => _t.Store.Resolve("dangling", ""), StatusCode.PermissionDenied, "symbolic link");
            Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void Open_LinksInsideACheckpointFolder_PermissionDenied()
    {
        _t.Save("run", "payload");
        var elsewhere = Path.Combine(_t.Root, "elsewhere");
        Directory.Move(Version("run"), elsewhere);
        Directory.CreateSymbolicLink(Version("run"), elsewhere);
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.PermissionDenied, "symbolic link");
        // A save refuses the folder too: the link is not an entry the store wrote.
        Assert.Throws<PreconditionException>(() => _t.Save("run", "new"));
    }

    [Fact]
    public void ResolveResume_ExistingDirectoryAnywhere_OrANameUnderTheRoot()
    {
        var anywhere = Path.Combine(Path.GetTempPath(), $"r2m-anywhere-{Guid.NewGuid():N}");
        Directory.CreateDirectory(anywhere);
        try
        {
            Assert.Equal(new CheckpointLocation(anywhere, null), _t.Store.ResolveResume(anywhere + "/"));
            Assert.Equal(new CheckpointLocation(_t.Folder("run"), _t.Root), _t.Store.ResolveResume("run"));
        }
        finally
        {
            Directory.Delete(anywhere);
        }
    }

    /// <summary>"old" as v-1 and "new" as v-2 (current), v-1 put back after the save deleted it.</summary>
    private void SaveOldAndNewKeepingBoth()
    {
        _t.Save("run", "old");
        var staging = Path.Combine(_t.Root, "staging");
        CopyFolder(Version("run", 1), staging);
        _t.Save("run", "new");
        Directory.Move(staging, Version("run", 1));
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
