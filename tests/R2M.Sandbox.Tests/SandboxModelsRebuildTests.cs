using R2M.Models;

namespace R2M.Sandbox.Tests;

public sealed class SandboxModelsRebuildTests
{
    [Fact]
    public async Task EnsureAsync_SameSeedInTwoDirectories_IdenticalBytes()
    {
        string a = TinySandbox.NewDirectory(), b = TinySandbox.NewDirectory();
        try
        {
            SandboxModelPaths pa = await TinySandbox.EnsureAsync(a, TinySandbox.Options());
            SandboxModelPaths pb = await TinySandbox.EnsureAsync(b, TinySandbox.Options());
            foreach (string dir in new[] { SandboxModels.PolicyDirectoryName, SandboxModels.RewardModelDirectoryName, SandboxModels.GoldRewardModelDirectoryName })
            {
                foreach (string file in new[] { "model.safetensors", "config.json", "tokenizer.json" })
                {
                    Assert.Equal(File.ReadAllBytes(Path.Combine(a, dir, file)), File.ReadAllBytes(Path.Combine(b, dir, file)));
                }
            }
            Assert.Equal(pa.Report with { TotalSeconds = 0, Policy = pa.Report.Policy with { Seconds = 0 }, Proxy = pa.Report.Proxy with { Seconds = 0 }, Gold = pa.Report.Gold with { Seconds = 0 } },
                pb.Report with { TotalSeconds = 0, Policy = pb.Report.Policy with { Seconds = 0 }, Proxy = pb.Report.Proxy with { Seconds = 0 }, Gold = pb.Report.Gold with { Seconds = 0 } });
        }
        finally
        {
            TinySandbox.Delete(a);
            TinySandbox.Delete(b);
        }
    }

    [Fact]
    public async Task EnsureAsync_OtherSeed_RebuildsWithOtherWeights()
    {
        string dir = TinySandbox.NewDirectory();
        try
        {
            await TinySandbox.EnsureAsync(dir, TinySandbox.Options(seed: 7));
            byte[] first = File.ReadAllBytes(Path.Combine(dir, "policy", "model.safetensors"));
            SandboxModelPaths second = await TinySandbox.EnsureAsync(dir, TinySandbox.Options(seed: 8));
            Assert.True(second.Rebuilt);
            Assert.Equal(8UL, second.Report.Seed);
            Assert.NotEqual(first, File.ReadAllBytes(Path.Combine(dir, "policy", "model.safetensors")));
            Assert.Null(SandboxModels.StaleReason(dir, TinySandbox.Options(seed: 8)));
        }
        finally
        {
            TinySandbox.Delete(dir);
        }
    }

    [Fact]
    public async Task EnsureAsync_ChangedFileOrMissingManifest_Rebuilds()
    {
        string dir = TinySandbox.NewDirectory();
        var options = TinySandbox.Options();
        try
        {
            await TinySandbox.EnsureAsync(dir, options);
            string weights = Path.Combine(dir, "rm", "model.safetensors");
            byte[] original = File.ReadAllBytes(weights);
            byte[] tampered = (byte[])original.Clone();
            tampered[^1] ^= 0x55;
            File.WriteAllBytes(weights, tampered);
            Assert.Contains("changed", SandboxModels.StaleReason(dir, options));
            Assert.True((await TinySandbox.EnsureAsync(dir, options)).Rebuilt);
            Assert.Equal(original, File.ReadAllBytes(weights));

            File.Delete(Path.Combine(dir, SandboxModels.ManifestFileName));
            Assert.Contains("no manifest", SandboxModels.StaleReason(dir, options));
            Assert.True((await TinySandbox.EnsureAsync(dir, options)).Rebuilt);

            File.WriteAllText(Path.Combine(dir, SandboxModels.ManifestFileName), "{ not json");
            Assert.Contains("unreadable", SandboxModels.StaleReason(dir, options));
            Assert.True((await TinySandbox.EnsureAsync(dir, options)).Rebuilt);
            ModelCheckpoint.Load(Path.Combine(dir, "rm"));
        }
        finally
        {
            TinySandbox.Delete(dir);
        }
    }

    [Fact]
    public async Task EnsureAsync_TwoConcurrentCallers_TrainOnce()
    {
        string dir = TinySandbox.NewDirectory();
        var options = TinySandbox.Options();
        try
        {
            var results = await Task.WhenAll(TinySandbox.EnsureAsync(dir, options), TinySandbox.EnsureAsync(dir, options));
            Assert.Equal(1, results.Count(r => r.Rebuilt));
            Assert.Equal(results[0].Report, results[1].Report);
        }
        finally
        {
            TinySandbox.Delete(dir);
        }
    }

    [Fact]
    public async Task EnsureAsync_Cancelled_LeavesNothingThatLooksCurrent()
    {
        string dir = TinySandbox.NewDirectory();
        var options = TinySandbox.Options() with { SftSteps = 100_000 };
        try
        {
            using var cts = new CancellationTokenSource();
            var progress = new SyncProgress(m =>
            {
                if (m.Contains("policy:", StringComparison.Ordinal))
                {
                    cts.Cancel();
                }
            });
            Task<SandboxModelPaths> run = SandboxModels.EnsureAsync(dir, options, progress, cts.Token);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TinySandbox.Timeout));
            Assert.NotNull(SandboxModels.StaleReason(dir, options));
            Assert.False(Directory.Exists(Path.Combine(dir, "policy")));
            Assert.Empty(Directory.EnumerateDirectories(dir, ".build-*"));
        }
        finally
        {
            TinySandbox.Delete(dir);
        }
    }

    [Fact]
    public async Task EnsureAsync_BadOption_ThrowsNamingIt()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            TinySandbox.EnsureAsync(TinySandbox.NewDirectory(), TinySandbox.Options() with { RewardHiddenSize = 18 }));
        Assert.Contains("RewardHiddenSize", e.Message);
        Assert.Throws<ArgumentException>(() => new SandboxModelOptions { SftLearningRate = float.NaN }.Validate());
        Assert.Throws<ArgumentException>(() => new SandboxModelOptions { PolicyHeads = 3 }.Validate());
    }

    [Fact]
    public void Hash_DependsOnEveryKindOfSetting()
    {
        var o = new SandboxModelOptions();
        Assert.Equal(o.Hash(), new SandboxModelOptions().Hash());
        Assert.NotEqual(o.Hash(), (o with { Seed = 2 }).Hash());
        Assert.NotEqual(o.Hash(), (o with { SftLearningRate = 1e-3f }).Hash());
        Assert.NotEqual(o.Hash(), (o with { Task = new SandboxOptions { MaxBangs = 2 } }).Hash());
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts to the pool, too late to cancel in time).</summary>
    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }
}
