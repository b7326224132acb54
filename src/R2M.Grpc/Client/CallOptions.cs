namespace R2M.Grpc.Client;

/// <summary>Per-call settings. Unset values fall back to the <see cref="ChannelOptions"/>.</summary>
public sealed record CallOptions
{
    /// <summary>Custom metadata sent as request headers.</summary>
    public Metadata? Headers { get; init; }

    /// <summary>Relative deadline; sent as <c>grpc-timeout</c> and enforced locally.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Absolute deadline (takes precedence over <see cref="Timeout"/>).</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>Cancels the call: the stream is reset with RST_STREAM(CANCEL) and the call ends CANCELLED.</summary>
    public CancellationToken CancellationToken { get; init; }

    /// <summary>Request message encoding for this call ("gzip", "deflate", "identity").</summary>
    public string? Compression { get; init; }
}
