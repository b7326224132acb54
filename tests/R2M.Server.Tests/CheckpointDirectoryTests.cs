using Grpc.Core;
using R2M.Models.Safetensors;
using R2M.Server.Internal.Checkpoints;

namespace R2M.Server.Tests;

/// <summary>CheckpointDirectory's overwrite protocol under injected faults, and its clean-up (docs/server.md, "Checkpoints on disk").</summary>
public sealed class CheckpointDirectoryTests : IDisposable
{
    private readonly CheckpointTestRoot _t = new();

    public void Dispose() => _t.Dispose();

    /// <summary>Step names (theory data must be public types; SaveStep is internal).</summary>
    public static TheoryData<string> StepsBeforeThePointer => [.. Enum.GetValues<SaveStep>().Where(s => s <= SaveStep.PointerWritten).Select(s => s.ToString())];

    [Fact]
    public void Save_Overwrites_NameLoadsNewestAndOnlyItsVersionStays()
    {
        for (var i = 1; i <= 3; i++) _t.Save("run", $"p{i}");
        Assert.Equal("p3", _t.Load("run"));
        Assert.Equal(["CURRENT", "v-00000003"], _t.Entries("run"));
        Assert.Equal("v-00000003\n", File.ReadAllText(Path.Combine(_t.Folder("run"), "CURRENT")));
        Assert.Equal(["a.bin", "b.bin", "manifest.json"], Directory.EnumerateFiles(Path.Combine(_t.Folder("run"), "v-00000003")).Select(Path.GetFileName).Order());
    }

    [Theory]
    [MemberData(nameof(StepsBeforeThePointer))]
    public void Save_DiskFullAtAStepBeforeThePointer_ResourceExhaustedOldLoadsNothingLeft(string step)
    {
        var failAt = Enum.Parse<SaveStep>(step);
        _t.Save("run", "old");
        _t.Hook = s => { if (s == failAt) throw new IOException("No space left on device", 28); };
        CheckpointTestRoot.Fails(() => _t.Save("run", "new"), StatusCode.ResourceExhausted, _t.Folder("run"), "is full", "unchanged");
        Assert.Equal("old", _t.Load("run"));
        Assert.Equal(["CURRENT", "v-00000001"], _t.Entries("run"));
    }

    [Theory]
    [MemberData(nameof(StepsBeforeThePointer))]
    public void Save_FirstSaveFailsAtAStep_NameAbsentAndFolderEmpty(string step)
    {
        var failAt = Enum.Parse<SaveStep>(step);
        _t.Hook = s => { if (s == failAt) throw new IOException("Input/output error", 5); };
        CheckpointTestRoot.Fails(() => _t.Save("run", "new"), StatusCode.Internal, _t.Folder("run"), "Input/output error");
        CheckpointTestRoot.Fails(() => _t.Load("run"), StatusCode.NotFound, "no checkpoint");
        Assert.Empty(_t.Entries("run"));
    }

    [Theory]
    [InlineData(nameof(SaveStep.PointerReplaced))]
    [InlineData(nameof(SaveStep.PointerDurable))]
    public void Save_FailsAfterThePointerMoved_ErrorSaysSoAndTheNameLoadsNew(string step)
    {
        var failAt = Enum.Parse<SaveStep>(step);
        _t.Save("run", "old");
        _t.Hook = s => { if (s == failAt) throw new IOException("Input/output error", 5); };
        CheckpointTestRoot.Fails(() => _t.Save("run", "new"), StatusCode.Internal, "in place");
        Assert.Equal("new", _t.Load("run"));
    }

    [Theory]
    [InlineData(nameof(SaveStep.OldRetired))]
    [InlineData(nameof(SaveStep.OldPartlyDeleted))]
    public void Save_RemovingTheOldVersionFails_SaveStandsAndCleanUpRemovesIt(string step)
    {
        var failAt = Enum.Parse<SaveStep>(step);
        _t.Save("run", "old");
        _t.Hook = s => { if (s == failAt) throw new IOException("Input/output error", 5); };
        _t.Save("run", "new");
        Assert.Equal("new", _t.Load("run"));
        Assert.Contains(_t.Entries("run"), e => e.StartsWith(".old-", StringComparison.Ordinal));
        Assert.Equal(1, _t.Store.CleanUp());
        Assert.Equal(["CURRENT", "v-00000002"], _t.Entries("run"));
    }

    [Theory]
    [InlineData(28, "is full")]
    [InlineData(122, "is full")]
    [InlineData(30, "is read-only")]
    [InlineData(13, "is not writable")]
    public void Save_StorageCannotTakeTheWrite_OneStatusNamingTheFolder(int errno, string problem)
    {
        Exception fault = errno == 13 ? new UnauthorizedAccessException("Access to the path is denied.") : new IOException("storage error", errno);
        // SafetensorsWriter wraps its I/O errors; the cause inside decides.
        _t.Hook = s => { if (s == SaveStep.FilesWritten) throw new SafetensorsException("state.safetensors", null, "cannot be written", fault); };
        CheckpointTestRoot.Fails(() => _t.Save("run", "x"), StatusCode.ResourceExhausted, $"checkpoint storage at '{_t.Folder("run")}' {problem}");
    }

    [Fact]
    public void Save_WriterThrowsANonIoError_PropagatesUnchangedAndLeavesNothing()
    {
        _t.Save("run", "old");
        var e = Assert.Throws<InvalidOperationException>(() => _t.Store.Save(_t.Store.Resolve("run", ""), _ => throw new InvalidOperationException("bug")));
        Assert.Equal("bug", e.Message);
        Assert.Equal(["CURRENT", "v-00000001"], _t.Entries("run"));
    }

    [Fact]
    public void Save_IntoAFolderWithForeignFiles_FailedPreconditionAndTheFilesStay()
    {
        var dir = _t.Folder("notes");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "mine");
        Assert.Throws<Internal.PreconditionException>(() => _t.Save("notes", "x"));
        Assert.Equal(["notes.txt"], _t.Entries("notes"));
        // A checkpoint written before the versioned layout (files directly in the folder) is refused on load too.
        File.WriteAllText(Path.Combine(dir, "state.safetensors"), "legacy");
        Assert.Contains("before the versioned layout", Assert.Throws<Internal.PreconditionException>(() => _t.Load("notes")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Save_PathNestedInAnotherCheckpoint_FailedPrecondition()
    {
        _t.Save("run", "x");
        var e = Assert.Throws<Internal.PreconditionException>(() => _t.Store.Resolve("", "run/inner"));
        Assert.Contains("nested", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CleanUp_AtStartUp_RemovesLeftoversOfUnfinishedSavesEverywhereUnderTheRoot()
    {
        _t.Save("run", "old");
        var run = _t.Folder("run");
        // What crashed saves leave: a temp folder, a temp pointer, a retired version, a version CURRENT does not name.
        Directory.CreateDirectory(Path.Combine(run, ".tmp-0123"));
        File.WriteAllText(Path.Combine(run, ".tmp-0123", "a.bin"), "half");
        File.WriteAllText(Path.Combine(run, ".CURRENT.tmp-0456"), "v-00000002");
        Directory.CreateDirectory(Path.Combine(run, ".old-v-00000000-0789"));
        Directory.CreateDirectory(Path.Combine(run, "v-00000002"));
        // A first save that crashed in a nested path-based checkpoint folder, and one with no pointer yet.
        var nested = Path.Combine(_t.Root, "runs", "exp", "seed-1");
        Directory.CreateDirectory(Path.Combine(nested, ".tmp-abcd"));
        var unpointed = _t.Folder("unpointed");
        Directory.CreateDirectory(Path.Combine(unpointed, "v-00000001"));
        Directory.CreateDirectory(Path.Combine(unpointed, ".tmp-ef01"));

        Assert.Equal(6, _t.Store.CleanUp());
        Assert.Equal(["CURRENT", "v-00000001"], _t.Entries("run"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(nested));
        Assert.Equal(["v-00000001"], _t.Entries("unpointed")); // kept: without a pointer the newest version is what loads
        Assert.Equal("old", _t.Load("run"));
        Assert.Equal(0, _t.Store.CleanUp());
    }

    [Fact]
    public void CleanUp_DoesNotFollowLinks()
    {
        var outside = Path.Combine(Path.GetTempPath(), $"r2m-outside-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(outside, "run", ".tmp-0123"));
        try
        {
            Directory.CreateSymbolicLink(_t.Folder("link"), outside);
            Assert.Equal(0, _t.Store.CleanUp());
            Assert.True(Directory.Exists(Path.Combine(outside, "run", ".tmp-0123")));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public void CleanUp_RootMissing_RemovesNothing()
    {
        Directory.Delete(_t.Root, recursive: true);
        Assert.Equal(0, _t.Store.CleanUp());
    }
}
