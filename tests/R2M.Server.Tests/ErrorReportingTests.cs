using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// Clients that go away are CANCELLED (metrics and a debug line without a stack trace), never
/// server errors; every INTERNAL status carries an error id that its log line carries too.
/// </summary>
public sealed partial class ErrorReportingTests
{
    private const int Rounds = 12;

    [Fact]
    public async Task Disconnects_AbandonedCallsOfEveryKind_CountedCancelledNeverInternal_DebugWithoutStack()
    {
        var logs = new LogCapture();
        await using var server = await TestServer.StartAsync(o => o.MetricsPort = 0, services: logs.AddTo);
        var ids = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToArray();
        const string Score = "/r2m.v1.RewardModel/Score";
        for (var i = 0; i < Rounds; i++)
        {
            // Once an item is answered the server is reading the stream; then the client resets the
            // stream (the call disposed) or the connection drops (its channel disposed).
            using var score = server.Reward.Score(server.Call());
            await ScoredAsync(score, ids[0]);
            score.Dispose();
            using var channel = GrpcChannel.ForAddress(server.Address);
            var dropped = new RewardModel.RewardModelClient(channel).Score();
            await ScoredAsync(dropped, ids[1]);
            channel.Dispose();
        }

        Assert.True(await Probe.UntilAsync(async () => await Probe.RequestsAsync(server, Score) >= 2 * Rounds), "not every abandoned Score call ended");
        AssertCancelledNeverInternal(await Probe.MetricsAsync(server, "r2m_requests_total"), logs, [Score], 2 * Rounds);

        // Client streams: dropped once the server holds their first message (counted in r2m_inflight_bytes).
        var group = new PreferenceGroup { Config = new UpdateConfig { Schedule = TestServer.Schedule() }, Members = { new GroupMember { RolloutId = ids[0] } } };
        var batch = new PolicyBatch { Config = new OptimizeConfig(), Items = { new PolicyItem { RolloutId = ids[0], Advantage = 1 } } };
        for (var i = 0; i < Rounds; i++)
        {
            await DropMidStreamAsync(server, c => new RewardModel.RewardModelClient(c).Update(), (c, m) => c.RequestStream.WriteAsync(m), group);
            await DropMidStreamAsync(server, c => new Policy.PolicyClient(c).Optimize(), (c, m) => c.RequestStream.WriteAsync(m), batch);
        }

        string[] methods = [Score, "/r2m.v1.RewardModel/Update", "/r2m.v1.Policy/Optimize"];
        Assert.True(await Probe.UntilAsync(async () => await Probe.InFlightBytesAsync(server) == 0), "bytes still held after every call ended");
        AssertCancelledNeverInternal(await Probe.MetricsAsync(server, "r2m_requests_total"), logs, methods, 4 * Rounds);
    }

    private static async Task ScoredAsync(AsyncDuplexStreamingCall<ScoreRequest, ScoreReply> call, string rolloutId)
    {
        await call.RequestStream.WriteAsync(TestServer.ById("x", rolloutId)).WaitAsync(TestServer.Timeout);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout));
        Assert.Null(call.ResponseStream.Current.Error);
    }

    private static void AssertCancelledNeverInternal(List<string> counts, LogCapture logs, string[] methods, int abandoned)
    {
        Assert.DoesNotContain(counts, l => l.Contains("code=\"Internal\"", StringComparison.Ordinal));
        Assert.All(methods, m => Assert.Contains(counts, l => l.StartsWith($"r2m_requests_total{{method=\"{m}\",code=\"Cancelled\"}}", StringComparison.Ordinal)));
        var ours = logs.Lines.Where(l => l.Category.StartsWith("R2M", StringComparison.Ordinal)).ToList();
        Assert.DoesNotContain(ours, l => l.Level >= LogLevel.Warning);
        var cancelled = ours.Where(l => l.Message.Contains("ended by the client", StringComparison.Ordinal) || l.Message.Contains("Cancelled", StringComparison.Ordinal)).ToList();
        Assert.True(cancelled.Count >= abandoned, $"{cancelled.Count} cancellation lines for {abandoned} abandoned calls");
        Assert.All(cancelled, l => Assert.True(l.Level == LogLevel.Debug && l.Exception is null, $"{l.Level} {l.Message} {l.Exception}"));
    }

    /// <summary>Opens a client stream on a channel of its own, writes one message, waits until the server holds it, and drops the connection.</summary>
    private static async Task DropMidStreamAsync<TCall, TRequest>(TestServer server, Func<GrpcChannel, TCall> open, Func<TCall, TRequest, Task> write, TRequest message)
        where TCall : IDisposable
    {
        using var channel = GrpcChannel.ForAddress(server.Address);
        using var call = open(channel);
        await write(call, message).WaitAsync(TestServer.Timeout);
        Assert.True(await Probe.UntilAsync(async () => await Probe.InFlightBytesAsync(server) > 0), "the server never received the message");
        channel.Dispose();
        Assert.True(await Probe.UntilAsync(async () => await Probe.InFlightBytesAsync(server) == 0), "the dropped call still holds its message");
    }

    [Fact]
    public async Task Internal_StreamedMessageThatDoesNotParse_StatusAndLogLineCarryOneErrorId()
    {
        var logs = new LogCapture();
        await using var server = await TestServer.StartAsync(services: logs.AddTo);
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]; // a length-delimited field claiming 4 GiB
        var (_, status) = await Probe.StreamAsync(server.Channel, MethodType.DuplexStreaming, RewardModel.Descriptor.FullName, "Score", [garbage]);
        Assert.Equal(StatusCode.Internal, status.StatusCode);
        var id = ErrorId().Match(status.Detail);
        Assert.True(id.Success, $"no error id in '{status.Detail}'");
        var line = Assert.Single(logs.Lines, l => l.Category.StartsWith("R2M", StringComparison.Ordinal) && l.Message.Contains(id.Value, StringComparison.Ordinal));
        Assert.Contains("/r2m.v1.RewardModel/Score", line.Message, StringComparison.Ordinal);
        Assert.Null(line.Exception); // the client's bytes, not a server fault: no stack trace
    }

    [GeneratedRegex("error id [0-9a-f]{16}")]
    internal static partial Regex ErrorId();
}
