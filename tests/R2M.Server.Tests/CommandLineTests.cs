using R2M.Server.Internal.Hosting;

namespace R2M.Server.Tests;

/// <summary>r2m-server's own handling of --help, --version and unknown flags (before the host is built).</summary>
public sealed class CommandLineTests
{
    private static (int? Rc, string Output, string Error) Handle(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int? rc = ServerCommandLine.Handle(args, R2MServer.SwitchMappings, output, error);
        return (rc, output.ToString(), error.ToString());
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void Handle_Help_PrintsEveryFlagAndKeyWithoutNeedingPolicy(string flag)
    {
        var (rc, output, error) = Handle(flag);
        Assert.Equal(0, rc);
        Assert.Empty(error);
        Assert.Contains("usage: r2m-server --policy DIR --reward-model DIR", output);
        Assert.All(R2MServer.SwitchMappings, kv => Assert.Contains($"  {kv.Key}", output));
        Assert.Contains("R2M:Port (default: 50051)", output);
        Assert.Contains("R2M:RewardLearningRate (0.001)", output);
        Assert.Contains("R2M:PolicyPath (unset)", output);
    }

    [Fact]
    public void Handle_Version_PrintsTheAssemblyVersion()
    {
        var (rc, output, _) = Handle("--version");
        Assert.Equal(0, rc);
        Assert.Matches(@"^r2m-server \d+\.\d+", output);
    }

    [Theory]
    [InlineData("--prot", "0", "unknown option '--prot'; did you mean '--port'?")]
    [InlineData("--polcy", "DIR", "unknown option '--polcy'; did you mean '--policy'?")]
    [InlineData("--zzzzzzzz", "1", "unknown option '--zzzzzzzz' (see")]
    public void Handle_UnknownFlag_UsageErrorWithSuggestion(string flag, string value, string expected)
    {
        var (rc, _, error) = Handle("--policy", "p", flag, value);
        Assert.Equal(ServerCommandLine.UsageError, rc);
        Assert.Contains(expected, error);
    }

    [Fact]
    public void Handle_KnownFlagsAndConfigKeys_StartTheServer()
    {
        Assert.Null(Handle("--policy", "p", "--port=0", "--R2M:MaxTextBytes", "10", "--Logging:LogLevel:Default", "Debug").Rc);
        Assert.Null(Handle().Rc);
    }

    [Fact]
    public void Handle_MissingValueOrStrayArgument_UsageError()
    {
        Assert.Contains("option '--port' needs a value", Handle("--port").Error);
        Assert.Contains("option '--port' needs a value", Handle("--port", "--policy", "p").Error);
        Assert.Contains("unexpected argument 'stray'", Handle("--policy", "p", "stray").Error);
    }

    [Fact]
    public void HealthHelp_HelpFlag_HelpNotProbe()
    {
        Assert.Contains("usage: r2m-server health", ServerCommandLine.HealthHelp(["--help"]));
        Assert.Null(ServerCommandLine.HealthHelp(["--address", "http://127.0.0.1:1"]));
    }
}
