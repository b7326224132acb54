using Microsoft.Extensions.Options;

namespace R2M.Server.Tests;

/// <summary>
/// Exposure: a server reachable from other hosts without an API key starts only when the operator
/// says so explicitly (R2M:AllowUnauthenticatedNetwork); loopback needs nothing. Only the
/// configuration is built and validated here: nothing binds a public address.
/// </summary>
public sealed class ExposureTests
{
    private static void Models(R2MServerOptions o) => (o.PolicyPath, o.RewardModelPath, o.Port) = (TestModels.PolicyDir, TestModels.RewardDir, 0);

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("192.168.1.20")]
    public void Build_NonLoopbackWithoutKey_RefusedNamingTheFlag(string host)
    {
        var e = Assert.Throws<OptionsValidationException>(() => R2MServer.Build(["--host", host], Models));
        Assert.Contains($"R2M:Host '{host}' is not a loopback address and no API key is set", e.Message, StringComparison.Ordinal);
        Assert.Contains("R2M:AllowUnauthenticatedNetwork=true", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", null, null)]
    [InlineData("127.0.0.2", null, null)]
    [InlineData("::1", null, null)]
    [InlineData("localhost", null, null)]
    [InlineData("0.0.0.0", "--allow-unauthenticated-network", "true")]
    [InlineData("0.0.0.0", "--R2M:AllowUnauthenticatedNetwork", "true")]
    public async Task Build_LoopbackOrExplicitFlag_Accepted(string host, string? flag, string? value)
    {
        string[] args = flag is null ? ["--host", host] : ["--host", host, flag, value!];
        await using var app = R2MServer.Build(args, Models);
        Assert.NotNull(app);
    }

    [Fact]
    public async Task Build_NonLoopbackWithKey_Accepted()
    {
        // As from R2M__ApiKey (the environment is process-wide, so the test sets the bound option).
        await using var app = R2MServer.Build(["--host", "0.0.0.0"], o =>
        {
            Models(o);
            o.ApiKey = "exposure-test-key";
        });
        Assert.NotNull(app);
    }
}
