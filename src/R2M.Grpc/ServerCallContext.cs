namespace R2M.Grpc;

/// <summary>
/// Per-call state a server handler sees: the caller's metadata, the deadline, a cancellation
/// token, and the response headers, trailers and status it may set.
/// </summary>
public abstract class ServerCallContext
{
    /// <summary>Full method path, e.g. <c>/grpc.health.v1.Health/Check</c>.</summary>
    public abstract string Method { get; }

    /// <summary>The request's authority (<c>:authority</c>).</summary>
    public abstract string Host { get; }

    /// <summary>The caller's address in gRPC's URI form, e.g. <c>ipv4:127.0.0.1:5000</c>.</summary>
    public abstract string Peer { get; }

    /// <summary>UTC deadline from <c>grpc-timeout</c>; <see cref="DateTime.MaxValue"/> when none was sent.</summary>
    public abstract DateTime Deadline { get; }

    /// <summary>Custom metadata the caller sent (reserved protocol headers excluded).</summary>
    public abstract Metadata RequestHeaders { get; }

    /// <summary>Trailing metadata sent with the status when the call ends.</summary>
    public abstract Metadata ResponseTrailers { get; }

    /// <summary>
    /// Status sent when the handler returns normally (default OK). A thrown
    /// <see cref="RpcException"/> takes precedence.
    /// </summary>
    public abstract Status Status { get; set; }

    /// <summary>
    /// Fires when the caller cancels (RST_STREAM), the deadline passes, or the connection is lost.
    /// </summary>
    public abstract CancellationToken CancellationToken { get; }

    /// <summary>State shared between interceptors and the handler of this call.</summary>
    public abstract IDictionary<object, object> UserState { get; }

    /// <summary>
    /// Sends response headers with this metadata now. Allowed once, before the first response
    /// message; a second call throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public abstract Task WriteResponseHeadersAsync(Metadata responseHeaders);
}
