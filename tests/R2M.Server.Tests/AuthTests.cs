using System.Net;
using R2M.Api.V1;
using R2M.Grpc;
using R2M.Grpc.Health.V1;

namespace R2M.Server.Tests;

public sealed class AuthTests
{
    private const string Key = "s3cret-key";

    [Fact]
    public async Task KeySet_MutatingCallsNeedIt_ReadCallsDoNot()
    {
        await using var server = await TestServer.StartAsync(o => o.ApiKey = Key);
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        var scores = await server.ScoreAsync([TestServer.ById("a", ids[0])]);
        Assert.Null(scores.Single().Error);
        Assert.True((await server.InfoAsync()).Limits.ApiKeyConfigured);

        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() }, Members = { new GroupMember { RolloutId = ids[0] }, new GroupMember { RolloutId = ids[1] } } };
        var batch = new PolicyBatch { Config = new OptimizeConfig(), Items = { new PolicyItem { RolloutId = ids[0], Advantage = 1 } } };
        foreach (var key in new[] { null, "wrong-key" })
        {
            // Client-streaming calls over raw HTTP/2: R2M.Grpc's client may report CANCELLED when the server
            // ends a call while the request body is still being written (a transport race, reported), so
            // the server's status is read straight from the trailers here.
            await RawUnauthenticated(server, "/r2m.v1.RewardModel/Update", key);
            await RawUnauthenticated(server, "/r2m.v1.Policy/Optimize", key);
            await Unauthenticated(() => server.SaveAsync(new SaveCheckpointRequest { Name = "c" }, key));
            await Unauthenticated(() => server.LoadAsync(new LoadCheckpointRequest { Name = "c" }, key));
            await Unauthenticated(() => server.ResetAsync(new ResetRequest(), key));
        }

        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion);
        Assert.Equal((ulong)2, (await server.UpdateAsync([group], Key)).RmVersion);
        Assert.Equal((ulong)2, (await server.OptimizeAsync([batch], Key)).PolicyVersion);
        Assert.NotEmpty((await server.SaveAsync(new SaveCheckpointRequest { Name = "c" }, Key)).Path);
    }

    [Fact]
    public async Task KeyForAll_EveryCallButHealthNeedsIt()
    {
        await using var server = await TestServer.StartAsync(o => (o.ApiKey, o.ApiKeyRequiredForAll) = (Key, true));
        await Unauthenticated(() => server.InfoAsync());
        await Unauthenticated(() => server.GenerateAsync(prompts: 1, k: 1));
        await Unauthenticated(() => server.ScoreAsync([TestServer.ById("a", "ro-x")]));
        server.Key = Key;
        Assert.True((await server.InfoAsync()).Limits.ApiKeyRequiredForAll);
        server.Key = null;
        var health = await server.Channel.UnaryAsync<HealthCheckRequest, HealthCheckResponse>(
            HealthReflection.Descriptor.Services[0].FindMethodByName("Check"), new HealthCheckRequest { Service = "r2m.v1.RewardModel" }, server.Call());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task NoKey_MutatingCallsOpen()
    {
        await using var server = await TestServer.StartAsync();
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() }, Members = { new GroupMember { RolloutId = ids[0] }, new GroupMember { RolloutId = ids[1] } } };
        Assert.Equal((ulong)2, (await server.UpdateAsync([group], "anything")).RmVersion);
        Assert.False((await server.InfoAsync()).Limits.ApiKeyConfigured);
        var reset = await server.ResetAsync(new ResetRequest());
        Assert.Equal((ulong)3, reset.RmVersion);
        Assert.Equal((ulong)2, reset.PolicyVersion);
    }

    [Fact]
    public async Task Metrics_PrometheusText_CountsRequestsAndVersions()
    {
        await using var server = await TestServer.StartAsync(o => o.MetricsPort = 0);
        await server.GenerateAsync(prompts: 1, k: 2);
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        var text = await http.GetStringAsync($"{server.Address}/metrics").WaitAsync(TestServer.Timeout);
        Assert.Contains("r2m_requests_total{method=\"/r2m.v1.Policy/Generate\",code=\"OK\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("r2m_rm_version 1", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE r2m_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("r2m_rollout_store_rollouts 2", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reflection_ListsR2MServicesAndHealth()
    {
        await using var server = await TestServer.StartAsync();
        var method = R2M.Grpc.Reflection.V1.ReflectionReflection.Descriptor.Services[0].FindMethodByName("ServerReflectionInfo");
        using var call = server.Channel.DuplexStreaming<R2M.Grpc.Reflection.V1.ServerReflectionRequest, R2M.Grpc.Reflection.V1.ServerReflectionResponse>(method, server.Call());
        await call.RequestStream.WriteAsync(new R2M.Grpc.Reflection.V1.ServerReflectionRequest { ListServices = "" }).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("r2m.v1.Policy", names);
        Assert.Contains("r2m.v1.RewardModel", names);
        Assert.Contains("r2m.v1.Admin", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }

    private static async Task RawUnauthenticated(TestServer server, string path, string? key)
    {
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        using var request = new HttpRequestMessage(HttpMethod.Post, server.Address + path)
        {
            Content = new ByteArrayContent([]), Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (key is not null) request.Headers.TryAddWithoutValidation("authorization", $"Bearer {key}");
        using var response = await http.SendAsync(request).WaitAsync(TestServer.Timeout);
        await response.Content.ReadAsByteArrayAsync().WaitAsync(TestServer.Timeout);
        var status = response.TrailingHeaders.TryGetValues("grpc-status", out var s) ? s.Single()
            : response.Headers.TryGetValues("grpc-status", out var h) ? h.Single() : "none";
        Assert.True(status == ((int)StatusCode.Unauthenticated).ToString(System.Globalization.CultureInfo.InvariantCulture),
            $"{path}: HTTP {(int)response.StatusCode}, grpc-status {status}; headers {response.Headers}; trailers {response.TrailingHeaders}");
    }

    private static async Task Unauthenticated(Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(StatusCode.Unauthenticated, e.StatusCode);
        Assert.Contains("key", e.Status.Detail, StringComparison.OrdinalIgnoreCase);
    }
}
