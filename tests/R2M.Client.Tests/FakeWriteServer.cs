using System.Net;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using R2M.Api.V1;

namespace R2M.Client.Tests;

/// <summary>
/// An in-process r2m.v1 stand-in on a loopback port (Grpc.AspNetCore, the generated bases) for the retry
/// tests of the non-idempotent calls: Policy.Optimize advances policy_version, RewardModel.Update
/// advances rm_version, Admin.Info reports both, and every call is counted. A write can be made to
/// fail with UNAVAILABLE either before applying (nothing changes) or after applying (the version
/// moved, the reply is lost), as a proxy or a connection reset between the two would, or while
/// still applying: the reply is lost first and the version moves once the write finishes, which
/// an Info with wait_for_writes waits for (as r2m-server's admin gate does) and a plain Info does not.
/// Like r2m-server it remembers the version each identified write (request_id) produced and answers
/// a re-send with it instead of applying the write again.
/// </summary>
internal sealed class FakeWriteServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private ulong _policyVersion = 3;
    private ulong _rmVersion = 7;
    private int _failBeforeApply;
    private int _failAfterApply;
    private int _failWhileApplying;
    private readonly Dictionary<string, ulong> _replies = new(StringComparer.Ordinal);
    private readonly List<(string Id, bool Policy)> _pending = [];

    private FakeWriteServer(WebApplication app)
    {
        _app = app;
    }

    public string Address { get; private set; } = "";

    public int Applied { get; private set; }

    public int InfoCalls { get; private set; }

    /// <summary>request_id of every write attempt that reached the server, in order.</summary>
    public List<string> RequestIds { get; } = [];

    public ulong PolicyVersion => _policyVersion;

    public ulong RmVersion => _rmVersion;

    public static async Task<FakeWriteServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddGrpc();
        var holder = new Holder();
        builder.Services.AddSingleton(holder);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        var server = new FakeWriteServer(app);
        holder.Server = server;
        app.MapGrpcService<FakePolicy>();
        app.MapGrpcService<FakeReward>();
        app.MapGrpcService<FakeAdmin>();
        await app.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        server.Address = app.Urls.First();
        return server;
    }

    /// <summary>The next <paramref name="count"/> writes fail with UNAVAILABLE without being applied.</summary>
    public void FailBeforeApply(int count) => _failBeforeApply = count;

    /// <summary>The next <paramref name="count"/> writes are applied, then fail with UNAVAILABLE (reply lost).</summary>
    public void FailAfterApply(int count) => _failAfterApply = count;

    /// <summary>The next <paramref name="count"/> writes fail with UNAVAILABLE while the server goes on applying them.</summary>
    public void FailWhileApplying(int count) => _failWhileApplying = count;

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }

    internal async Task<ulong> WriteAsync<T>(IAsyncStreamReader<T> requests, ServerCallContext context, bool policy)
    {
        var id = "";
        while (await requests.MoveNext(context.CancellationToken))
        {
            id = requests.Current switch
            {
                PolicyBatch { Config: { } c } => c.RequestId,
                PreferenceGroup { Config: { } c } => c.RequestId,
                _ => id,
            };
        }

        lock (_lock)
        {
            RequestIds.Add(id);
            if (id.Length > 0 && _replies.TryGetValue(id, out var remembered))
            {
                return remembered; // a re-send of an applied write
            }

            if (_failBeforeApply > 0)
            {
                _failBeforeApply--;
                throw new RpcException(new Status(StatusCode.Unavailable, "simulated: dropped before the server applied it"));
            }

            if (_failWhileApplying > 0)
            {
                _failWhileApplying--;
                _pending.Add((id, policy));
                throw new RpcException(new Status(StatusCode.Unavailable, "simulated: connection reset while the server applies it"));
            }

            var version = Apply(id, policy);
            if (_failAfterApply > 0)
            {
                _failAfterApply--;
                throw new RpcException(new Status(StatusCode.Unavailable, "simulated: connection reset after the server applied it"));
            }

            return version;
        }
    }

    private ulong Apply(string id, bool policy)
    {
        Applied++;
        var version = policy ? ++_policyVersion : ++_rmVersion;
        if (id.Length > 0)
        {
            _replies[id] = version;
        }

        return version;
    }

    internal InfoReply Info(bool waitForWrites)
    {
        lock (_lock)
        {
            InfoCalls++;
            if (waitForWrites)
            {
                // The writes in flight finish before a waiting Info answers.
                foreach (var (id, policy) in _pending)
                {
                    Apply(id, policy);
                }

                _pending.Clear();
            }

            return new InfoReply { PolicyVersion = _policyVersion, RmVersion = _rmVersion, ServerVersion = "fake" };
        }
    }
}

internal sealed class Holder
{
    public FakeWriteServer Server { get; set; } = null!;
}

internal sealed class FakePolicy(Holder h) : Policy.PolicyBase
{
    public override async Task<OptimizeReply> Optimize(IAsyncStreamReader<PolicyBatch> requests, ServerCallContext context) =>
        new() { PolicyVersion = await h.Server.WriteAsync(requests, context, policy: true) };
}

internal sealed class FakeReward(Holder h) : RewardModel.RewardModelBase
{
    public override async Task<UpdateReply> Update(IAsyncStreamReader<PreferenceGroup> requests, ServerCallContext context) =>
        new() { RmVersion = await h.Server.WriteAsync(requests, context, policy: false) };
}

internal sealed class FakeAdmin(Holder h) : Admin.AdminBase
{
    public override Task<InfoReply> Info(InfoRequest request, ServerCallContext context) => Task.FromResult(h.Server.Info(request.WaitForWrites));
}
