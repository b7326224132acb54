using System.Net;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Health.V1;
using R2M.Api.V1;
using R2M.Server.Internal.Hosting;

namespace R2M.Server.Tests;

/// <summary>
/// The API key, declared per method in the protos ((r2m.v1.access)) and checked by one interceptor.
/// Methods are enumerated from the generated descriptors, so a method added later is covered too.
/// </summary>
public sealed class AuthTests
{
    private const string Key = "s3cret-key_0";
    private static readonly ServiceDescriptor[] Services = [Policy.Descriptor, RewardModel.Descriptor, Admin.Descriptor];

    [Fact]
    public void Descriptors_EveryR2MMethod_DeclaresReadOrWrite()
    {
        var methods = Services.SelectMany(s => s.Methods).ToList();
        Assert.Equal(9, methods.Count);
        Assert.All(methods, m => Assert.True(MethodAccessTable.DeclaredAccess(m) is Access.Read or Access.Write, $"{m.FullName} declares no (r2m.v1.access)"));
        // Writes are exactly the calls that change the models or the server's state.
        var writes = methods.Where(m => MethodAccessTable.DeclaredAccess(m) == Access.Write).Select(m => m.Name).Order(StringComparer.Ordinal);
        Assert.Equal(["LoadCheckpoint", "Optimize", "Reset", "SaveCheckpoint", "Update"], writes);
    }

    [Fact]
    public async Task KeySet_EveryWriteMethod_RefusesMissingWrongOneOffAndSchemelessKeys()
    {
        await using var server = await TestServer.StartAsync(o => o.ApiKey = Key);
        var offByOne = Key[..^1] + (char)(Key[^1] + 1);
        string?[] refused = [null, "Bearer wrong-key", $"Bearer {offByOne}", $"Bearer {Key}x", Key, $"Basic {Key}", $"Bearer{Key}", "Bearer "];
        var writes = Services.SelectMany(s => s.Methods).Where(m => MethodAccessTable.DeclaredAccess(m) == Access.Write).ToList();
        Assert.NotEmpty(writes);
        foreach (var method in writes)
        {
            foreach (var header in refused)
            {
                var status = await RawCall.StatusAsync(server.Channel, method, header);
                Assert.True(status.StatusCode == StatusCode.Unauthenticated, $"{method.FullName} with authorization '{header}': {status}");
                Assert.Contains(method.Service.FullName, status.Detail, StringComparison.Ordinal);
            }
        }

        Assert.Equal((ulong)1, (await server.InfoAsync()).RmVersion); // nothing was applied
    }

    [Fact]
    public async Task KeySet_ReadMethodsOpen_WritesWithTheKeySucceed_SchemeCaseInsensitive()
    {
        await using var server = await TestServer.StartAsync(o => o.ApiKey = Key);
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        Assert.Null((await server.ScoreAsync([TestServer.ById("a", ids[0])])).Single().Error);
        Assert.True((await server.InfoAsync()).Limits.ApiKeyConfigured);

        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() }, Members = { new GroupMember { RolloutId = ids[0] }, new GroupMember { RolloutId = ids[1] } } };
        var batch = new PolicyBatch { Config = new OptimizeConfig(), Items = { new PolicyItem { RolloutId = ids[0], Advantage = 1 } } };
        Assert.Equal((ulong)2, (await server.UpdateAsync([group], Key)).RmVersion);
        Assert.Equal((ulong)2, (await server.OptimizeAsync([batch], Key)).PolicyVersion);
        // RFC 9110 section 11.1: the scheme is case-insensitive.
        foreach (var scheme in new[] { "bearer", "BEARER", "BeArEr" })
        {
            var reply = await server.Admin.SaveCheckpointAsync(new SaveCheckpointRequest { Name = "c" },
                new CallOptions(new Metadata { { "authorization", $"{scheme} {Key}" } }, DateTime.UtcNow + TestServer.Timeout));
            Assert.NotEmpty(reply.Path);
        }
    }

    [Fact]
    public async Task KeyForAll_EveryR2MCallNeedsIt_HealthDoesNot()
    {
        await using var server = await TestServer.StartAsync(o => (o.ApiKey, o.ApiKeyRequiredForAll) = (Key, true));
        foreach (var method in Services.SelectMany(s => s.Methods))
        {
            Assert.Equal(StatusCode.Unauthenticated, (await RawCall.StatusAsync(server.Channel, method, null)).StatusCode);
        }

        server.Key = Key;
        Assert.True((await server.InfoAsync()).Limits.ApiKeyRequiredForAll);
        var health = await new Health.HealthClient(server.Channel).CheckAsync(new HealthCheckRequest { Service = RewardModel.Descriptor.FullName });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task NoKey_WritesOpen()
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
    public async Task KeyFile_KeyReadFromFile_CommandLineKeyRefused()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, Key + "\n");
        try
        {
            await using var server = await TestServer.StartAsync(o => o.ApiKeyFile = file);
            Assert.Equal(StatusCode.Unauthenticated, (await RawCall.StatusAsync(server.Channel, Admin.Descriptor.Methods.First(m => MethodAccessTable.DeclaredAccess(m) == Access.Write), null)).StatusCode);
            server.Key = Key;
            Assert.Equal((ulong)2, (await server.ResetAsync(new ResetRequest(), Key)).RmVersion);
        }
        finally
        {
            File.Delete(file);
        }

        foreach (var args in new[] { new[] { "--api-key", Key }, ["--R2M:ApiKey=" + Key], ["--r2m:apikey", Key] })
        {
            var e = Assert.Throws<InvalidOperationException>(() => R2MServer.Build(args, o => (o.PolicyPath, o.RewardModelPath) = (TestModels.PolicyDir, TestModels.RewardDir)));
            Assert.Contains("not accepted on the command line", e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Metrics_OwnHttp1Port_PrometheusTextBehindKeyWhenRequiredForAll()
    {
        await using var server = await TestServer.StartAsync(o => (o.MetricsPort, o.ApiKey, o.ApiKeyRequiredForAll) = (0, Key, true));
        server.Key = Key;
        await server.GenerateAsync(prompts: 1, k: 2);
        var url = $"http://127.0.0.1:{R2MServer.GetMetricsPort(server.App)}/metrics";
        using var http = new HttpClient { DefaultRequestVersion = HttpVersion.Version11 };
        using (var refused = await http.GetAsync(url).WaitAsync(TestServer.Timeout))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { { "authorization", $"Bearer {Key}" } } };
        using var response = await http.SendAsync(request).WaitAsync(TestServer.Timeout);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Contains("r2m_requests_total{method=\"/r2m.v1.Policy/Generate\",code=\"OK\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("r2m_rm_version 1", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE r2m_request_duration_seconds histogram", text, StringComparison.Ordinal);
        Assert.Contains("r2m_rollout_store_rollouts 2", text, StringComparison.Ordinal);
        // Only /metrics on the metrics port; the gRPC port has no /metrics.
        using var other = new HttpRequestMessage(HttpMethod.Get, url.Replace("/metrics", "/other", StringComparison.Ordinal)) { Headers = { { "authorization", $"Bearer {Key}" } } };
        Assert.Equal(HttpStatusCode.NotFound, (await http.SendAsync(other)).StatusCode);
        using var http2 = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        Assert.Equal(HttpStatusCode.NotFound, (await http2.GetAsync($"{server.Address}/metrics")).StatusCode);
    }
}
