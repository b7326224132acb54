using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace R2M.Server.Tests;

/// <summary>One log line the server wrote: category, level, formatted message and exception (null when none).</summary>
internal sealed record LogLine(string Category, LogLevel Level, string Message, Exception? Exception);

/// <summary>
/// Captures every log line of a test server (all levels, debug included), so tests can assert what
/// was logged, at which level and with or without a stack trace.
/// </summary>
internal sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyList<LogLine> Lines => [.. _lines];

    /// <summary>
    /// Registers this capture with the server's logging through TestServer's service hook, at every
    /// level: a rule for this provider wins over appsettings.json's "Default": "Information".
    /// </summary>
    public void AddTo(IServiceCollection services) =>
        services.AddLogging(b => b.AddProvider(this).AddFilter<LogCapture>(null, LogLevel.Trace));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(new LogLine(category, logLevel, formatter(state, exception), exception));
    }
}
