using Google.Protobuf;
using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// The checkpoint defects of issue 13, through the gRPC surface: over-long names, a symbolic link
/// under the root, a flipped byte, a full disk and read-only storage (the last two on a real tmpfs).
/// </summary>
public sealed class CheckpointSafetyTests
{
    private static async Task<RpcException> FailsAsync(Func<Task> call, StatusCode code, params string[] fragments)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(code == e.StatusCode, $"expected {code}, got {e.StatusCode}: {e.Status.Detail}");
        foreach (var f in fragments) Assert.Contains(f, e.Status.Detail, StringComparison.Ordinal);
        return e;
    }

    /// <summary>Runs a test on a fresh checkpoint root under the temp folder and removes it afterwards.</summary>
    private static async Task WithRootAsync(string what, Func<string, Task> test)
    {
        var root = Path.Combine(Path.GetTempPath(), $"r2m-{what}-{Guid.NewGuid():N}");
        try
        {
            await test(root);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }

    private static string[] Entries(string dir) =>
        [.. Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Select(e => Path.GetRelativePath(dir, e)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task SaveCheckpoint_NameOf300Characters_InvalidArgumentNamingTheLimit()
    {
        await using var server = await TestServer.StartAsync();
        await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Name = new string('a', 300) }), StatusCode.InvalidArgument, "300 characters", "at most 128");
        await FailsAsync(() => server.LoadAsync(new LoadCheckpointRequest { Name = new string('a', 300) }), StatusCode.InvalidArgument, "300 characters");
        await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Path = new string('b', 300) }), StatusCode.InvalidArgument, "300 bytes", "at most 255");
        Assert.NotNull(await server.SaveAsync(new SaveCheckpointRequest { Name = new string('a', 128) }));
    }

    [Fact]
    public async Task SaveCheckpoint_ThroughSymlinkUnderTheRoot_PermissionDeniedAndNothingWrittenOutside()
    {
        var outside = Path.Combine(Path.GetTempPath(), $"r2m-outside-{Guid.NewGuid():N}");
        Directory.CreateDirectory(outside);
        try
        {
            await using var server = await TestServer.StartAsync();
            Directory.CreateDirectory(server.Options.CheckpointRoot);
            Directory.CreateSymbolicLink(Path.Combine(server.Options.CheckpointRoot, "link"), outside);
            await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Path = "link/run" }), StatusCode.PermissionDenied, "symbolic link");
            await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Name = "link" }), StatusCode.PermissionDenied, "symbolic link");
            await FailsAsync(() => server.LoadAsync(new LoadCheckpointRequest { Path = "link/run" }), StatusCode.PermissionDenied, "symbolic link");
            Assert.Empty(Directory.EnumerateFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task LoadCheckpoint_FlippedByte_DataLossNamingTheFileAndNothingChanges()
    {
        await using var server = await TestServer.StartAsync();
        var saved = await server.SaveAsync(new SaveCheckpointRequest { Name = "run", ClientState = ByteString.CopyFromUtf8("step=1") });
        var state = Directory.EnumerateFiles(saved.Path, "state.safetensors", SearchOption.AllDirectories).Single();
        var bytes = await File.ReadAllBytesAsync(state);
        bytes[^3] ^= 0x10; // inside the tensor data: the safetensors header still parses
        await File.WriteAllBytesAsync(state, bytes);
        var before = await server.InfoAsync();

        await FailsAsync(() => server.LoadAsync(new LoadCheckpointRequest { Name = "run" }), StatusCode.DataLoss, state, "SHA-256");
        var after = await server.InfoAsync();
        Assert.Equal((before.PolicyVersion, before.RmVersion), (after.PolicyVersion, after.RmVersion));
    }

    [Fact]
    public async Task ResumeFrom_ADirectoryOrAName_Resumes_AMissingNameStopsStartUpNamingIt()
    {
        await WithRootAsync("resume", async root =>
        {
            string dir;
            await using (var server = await TestServer.StartAsync(o => o.CheckpointRoot = root))
            {
                await server.ResetAsync(new ResetRequest());
                await server.ResetAsync(new ResetRequest());
                dir = (await server.SaveAsync(new SaveCheckpointRequest { Name = "run" })).Path;
            }

            Assert.Equal(Path.Combine(root, "run"), dir);
            await using (var byDirectory = await TestServer.StartAsync(o => (o.CheckpointRoot, o.ResumeFrom) = (Path.Combine(root, "elsewhere"), dir)))
            {
                Assert.Equal(3UL, (await byDirectory.InfoAsync()).RmVersion);
            }

            var app = R2MServer.Build([], o =>
            {
                (o.PolicyPath, o.RewardModelPath, o.Port, o.AttentionDim) = (TestModels.PolicyDir, TestModels.RewardDir, 0, 8);
                (o.CheckpointRoot, o.ResumeFrom) = (root, "missing");
            });
            await using (app)
            {
                await app.StartAsync().WaitAsync(TestServer.Timeout);
                var e = await Assert.ThrowsAsync<InvalidOperationException>(() => R2MServer.LoadedAsync(app).WaitAsync(TestServer.Timeout));
                Assert.Contains($"R2M:ResumeFrom 'missing': no checkpoint at '{Path.Combine(root, "missing")}'", e.Message, StringComparison.Ordinal);
                await app.StopAsync().WaitAsync(TestServer.Timeout);
            }
        });
    }

    [SkippableFact]
    public async Task SaveCheckpoint_DiskFullDuringOverwrite_ResourceExhaustedOldLoadsNothingLeftBehind()
    {
        await WithRootAsync("full", async root =>
        {
            await using var server = await TestServer.StartAsync(o => o.CheckpointRoot = root);
            // The checkpoint's size, measured on the ordinary disk; then a tmpfs that holds one, not two.
            var size = (long)(await server.SaveAsync(new SaveCheckpointRequest { Name = "probe" })).Bytes;
            Assert.True(size > 64 << 10, $"the test needs a checkpoint above 64 KiB, got {size} bytes");
            Directory.Delete(root, recursive: true);
            using var mount = TmpfsMount.MountOrSkip(root, (size * 3 / 2) + (32 << 10));
            await server.SaveAsync(new SaveCheckpointRequest { Name = "run", ClientState = ByteString.CopyFromUtf8("old") });

            var dir = Path.Combine(root, "run");
            await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Name = "run", ClientState = ByteString.CopyFromUtf8("new") }),
                StatusCode.ResourceExhausted, dir, "is full");
            Assert.Equal("old", (await server.LoadAsync(new LoadCheckpointRequest { Name = "run" })).ClientState.ToStringUtf8());
            // No temporary folder or file of the failed save anywhere under the root.
            Assert.DoesNotContain(Entries(root), e => Path.GetFileName(e).StartsWith('.'));
        });
    }

    [SkippableFact]
    public async Task SaveCheckpoint_ReadOnlyStorage_ResourceExhaustedNamingThePath_LoadAndResumeStillWork()
    {
        await WithRootAsync("ro", async root =>
        {
            using var mount = TmpfsMount.MountOrSkip(root, 64 << 20);
            ulong rmVersion;
            await using (var server = await TestServer.StartAsync(o => o.CheckpointRoot = root))
            {
                // Versions above a fresh server's, so the restart below shows it resumed.
                await server.ResetAsync(new ResetRequest());
                await server.ResetAsync(new ResetRequest());
                rmVersion = (await server.SaveAsync(new SaveCheckpointRequest { Name = "run", ClientState = ByteString.CopyFromUtf8("old") })).RmVersion;
                mount.RemountReadOnly();
                await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Name = "run", ClientState = ByteString.CopyFromUtf8("new") }),
                    StatusCode.ResourceExhausted, Path.Combine(root, "run"), "read-only");
                await FailsAsync(() => server.SaveAsync(new SaveCheckpointRequest { Name = "other" }), StatusCode.ResourceExhausted, "read-only");
                Assert.Equal("old", (await server.LoadAsync(new LoadCheckpointRequest { Name = "run" })).ClientState.ToStringUtf8());
            }

            // A restart on the read-only root (its start-up clean-up cannot write) still resumes.
            await using var restarted = await TestServer.StartAsync(o => (o.CheckpointRoot, o.ResumeFrom) = (root, "run"));
            Assert.Equal(3UL, rmVersion);
            Assert.Equal(rmVersion, (await restarted.InfoAsync()).RmVersion);
        });
    }
}
