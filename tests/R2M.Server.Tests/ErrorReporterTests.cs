using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>ErrorReporter, the one place failures become logged statuses: the in-band item path that Score uses.</summary>
public sealed class ErrorReporterTests
{
    [Fact]
    public void ForItem_UnexpectedException_InternalWithAnErrorIdThatItsLogLineCarries()
    {
        var logs = new LogCapture();
        var reporter = new ErrorReporter(new R2MServerOptions(), new LoggerFactory([logs]).CreateLogger<ErrorReporter>());
        var status = reporter.ForItem("/r2m.v1.RewardModel/Score", "item-7", new InvalidOperationException("boom"));
        Assert.Equal(StatusCode.Internal, status.StatusCode);
        Assert.DoesNotContain("boom", status.Detail, StringComparison.Ordinal);
        var id = ErrorReportingTests.ErrorId().Match(status.Detail);
        Assert.True(id.Success, status.Detail);
        var line = Assert.Single(logs.Lines);
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains(id.Value, line.Message, StringComparison.Ordinal);
        Assert.Contains("item-7", line.Message, StringComparison.Ordinal);
        Assert.Equal("boom", line.Exception?.Message);
        Assert.NotEqual(id.Value, ErrorReportingTests.ErrorId().Match(reporter.ForItem("m", "i", new InvalidOperationException()).Detail).Value);
        Assert.Equal(StatusCode.InvalidArgument, reporter.ForItem("m", "i", new InvalidInputException("bad")).StatusCode);
        Assert.Equal(2, logs.Lines.Count); // client errors in-band are not logged
    }
}
