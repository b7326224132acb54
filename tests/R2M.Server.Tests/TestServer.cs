using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>An in-process r2m-server on a loopback port (port 0) with the tiny test models, and the generated clients over one Grpc.Net.Client channel.</summary>
internal sealed class TestServer : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly WebApplication _app;
    private readonly bool _ownsRoot;

    private TestServer(WebApplication app, int port, R2MServerOptions options, bool ownsRoot)
    {
        _ownsRoot = ownsRoot;
        _app = app;
        Port = port;
        Options = options;
        Address = $"http://127.0.0.1:{port}";
        Channel = GrpcChannel.ForAddress(Address, new GrpcChannelOptions { MaxReceiveMessageSize = 64 << 20, MaxSendMessageSize = 64 << 20 });
        Policy = new Policy.PolicyClient(Channel);
        Reward = new RewardModel.RewardModelClient(Channel);
        Admin = new Admin.AdminClient(Channel);
    }

    public int Port { get; }
    public string Address { get; }
    public R2MServerOptions Options { get; }
    public GrpcChannel Channel { get; }
    public Policy.PolicyClient Policy { get; }
    public RewardModel.RewardModelClient Reward { get; }
    public Admin.AdminClient Admin { get; }
    public WebApplication App => _app;

    /// <summary>A service of the server (its internal state, for tests that look inside).</summary>
    internal T Get<T>()
        where T : notnull => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<T>(_app.Services);

    /// <summary>Key sent by the helpers (null: none).</summary>
    public string? Key { get; set; }

    /// <summary>Starts a server; <paramref name="services"/> adds test services (a log capture) to its container.</summary>
    public static async Task<TestServer> StartAsync(Action<R2MServerOptions>? configure = null, string[]? args = null, Action<IServiceCollection>? services = null)
    {
        R2MServerOptions? seen = null;
        var defaultRoot = Path.Combine(Path.GetTempPath(), $"r2m-ckpt-{Guid.NewGuid():N}");
        var app = R2MServer.BuildHost(args ?? [], o =>
        {
            o.PolicyPath = TestModels.PolicyDir;
            o.RewardModelPath = TestModels.RewardDir;
            o.Port = 0;
            o.AttentionDim = 8;
            o.ScoreBatchWindowMs = 1;
            o.CheckpointRoot = defaultRoot;
            configure?.Invoke(o);
            seen = o;
        }, hostModels: true, mapServices: null, services);
        await app.StartAsync().WaitAsync(Timeout);
        await R2MServer.LoadedAsync(app).WaitAsync(Timeout);
        return new TestServer(app, R2MServer.GetPort(app), seen!, seen!.CheckpointRoot == defaultRoot);
    }

    public CallOptions Call(string? key = null) => new(
        headers: (key ?? Key) is { } k ? new Metadata { { "authorization", $"Bearer {k}" } } : null,
        deadline: DateTime.UtcNow + Timeout);

    public async Task<List<Rollout>> GenerateAsync(GenerateRequest request, string? key = null)
    {
        using var call = Policy.Generate(request, Call(key));
        var list = new List<Rollout>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(Timeout))
        {
            list.Add(call.ResponseStream.Current);
        }

        return list;
    }

    /// <summary>K samples of sandbox prompts, with hidden states returned in chunks of <paramref name="chunkBytes"/>.</summary>
    public Task<List<Rollout>> GenerateAsync(int prompts, int k, uint maxNew = 6, bool hidden = false, uint chunkBytes = 0, DType dtype = DType.F32)
    {
        var req = new GenerateRequest
        {
            SamplesPerPrompt = (uint)k, ReturnHiddenStates = hidden, HiddenStatesDtype = dtype, HiddenStatesChunkBytes = chunkBytes,
            Sampling = new SamplingParams { MaxNewTokens = maxNew, Seed = 7, Temperature = 1f },
        };
        for (var i = 0; i < prompts; i++) req.Prompts.Add(new Prompt { Text = $"sort {i % 10} 3 {(i + 5) % 10} =" });
        return GenerateAsync(req);
    }

    public async Task<List<ScoreReply>> ScoreAsync(IEnumerable<ScoreRequest> requests, string? key = null)
    {
        using var call = Reward.Score(Call(key));
        var reader = Task.Run(async () =>
        {
            var replies = new List<ScoreReply>();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                replies.Add(call.ResponseStream.Current);
            }

            return replies;
        });
        try
        {
            foreach (var r in requests)
            {
                await call.RequestStream.WriteAsync(r).WaitAsync(Timeout);
            }

            await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        }
        catch (RpcException)
        {
            // The server ended the call early (auth, a stream-level error): its status comes from the reader.
        }

        return await reader.WaitAsync(Timeout);
    }

    public async Task<UpdateReply> UpdateAsync(IEnumerable<PreferenceGroup> groups, string? key = null, bool complete = true)
    {
        using var call = Reward.Update(Call(key));
        try
        {
            foreach (var g in groups)
            {
                await call.RequestStream.WriteAsync(g).WaitAsync(Timeout);
            }

            if (complete) await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        }
        catch (RpcException)
        {
            // The server may end the call early (auth); the status comes from ResponseAsync.
        }

        return await call.ResponseAsync.WaitAsync(Timeout);
    }

    public async Task<OptimizeReply> OptimizeAsync(IEnumerable<PolicyBatch> batches, string? key = null, bool complete = true)
    {
        using var call = Policy.Optimize(Call(key));
        try
        {
            foreach (var b in batches)
            {
                await call.RequestStream.WriteAsync(b).WaitAsync(Timeout);
            }

            if (complete) await call.RequestStream.CompleteAsync().WaitAsync(Timeout);
        }
        catch (RpcException)
        {
        }

        return await call.ResponseAsync.WaitAsync(Timeout);
    }

    public Task<InfoReply> InfoAsync(string? key = null) => InfoAsync(new InfoRequest(), key);

    public Task<InfoReply> InfoAsync(InfoRequest request, string? key = null) =>
        Admin.InfoAsync(request, Call(key)).ResponseAsync.WaitAsync(Timeout);

    public Task<CheckpointReply> SaveAsync(SaveCheckpointRequest r, string? key = null) =>
        Admin.SaveCheckpointAsync(r, Call(key)).ResponseAsync.WaitAsync(Timeout);

    public Task<CheckpointReply> LoadAsync(LoadCheckpointRequest r, string? key = null) =>
        Admin.LoadCheckpointAsync(r, Call(key)).ResponseAsync.WaitAsync(Timeout);

    public Task<ResetReply> ResetAsync(ResetRequest r, string? key = null) =>
        Admin.ResetAsync(r, Call(key)).ResponseAsync.WaitAsync(Timeout);

    public static Schedule Schedule(ulong t = 5, ulong total = 10) => new() { Step = t, TotalSteps = total };

    public static ScoreRequest ById(string itemId, string rolloutId, VariantConfig variant = VariantConfig.R2M) => new()
    {
        ItemId = itemId, RolloutId = rolloutId, Options = new ScoreOptions { Variant = variant, Schedule = Schedule() },
    };

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync().WaitAsync(Timeout);
        await _app.DisposeAsync();
        // Only the root this helper made; a test that passes its own root cleans it up itself.
        if (_ownsRoot && Directory.Exists(Options.CheckpointRoot))
        {
            Directory.Delete(Options.CheckpointRoot, recursive: true);
        }
    }
}
