namespace R2M.Grpc;

/// <summary>Reads a stream of messages (request stream on the server, response stream on the client).</summary>
public interface IAsyncStreamReader<out T>
{
    /// <summary>The message read by the last successful <see cref="MoveNext"/>.</summary>
    T Current { get; }

    /// <summary>Advances to the next message; false at the end of the stream.</summary>
    Task<bool> MoveNext(CancellationToken cancellationToken);
}

/// <summary>Writes a stream of messages (response stream on the server).</summary>
public interface IAsyncStreamWriter<in T>
{
    /// <summary>Writes one message. Do not call again before the returned task completes.</summary>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}

/// <summary>A server handler's response stream.</summary>
public interface IServerStreamWriter<in T> : IAsyncStreamWriter<T>
{
}

/// <summary>Helpers over <see cref="IAsyncStreamReader{T}"/>.</summary>
public static class AsyncStreamReaderExtensions
{
    /// <summary>Enumerates the remaining messages with <c>await foreach</c>.</summary>
    public static async IAsyncEnumerable<T> ReadAllAsync<T>(
        this IAsyncStreamReader<T> reader,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (await reader.MoveNext(cancellationToken).ConfigureAwait(false))
        {
            yield return reader.Current;
        }
    }
}
