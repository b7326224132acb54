namespace R2M.Grpc;

/// <summary>
/// A call that ended with a non-OK status. Thrown by the client when the server reports a failure,
/// and thrown by server handlers to choose the status (and trailers) the caller receives.
/// </summary>
public sealed class RpcException : Exception
{
    public RpcException(Status status)
        : this(status, new Metadata(), status.ToString())
    {
    }

    public RpcException(Status status, string message)
        : this(status, new Metadata(), message)
    {
    }

    public RpcException(Status status, Metadata trailers)
        : this(status, trailers, status.ToString())
    {
    }

    public RpcException(Status status, Metadata trailers, string message)
        : base(message)
    {
        ArgumentNullException.ThrowIfNull(trailers);
        Status = status;
        Trailers = trailers;
    }

    public Status Status { get; }

    public StatusCode StatusCode => Status.StatusCode;

    /// <summary>Trailing metadata that came with (or is to be sent with) the status.</summary>
    public Metadata Trailers { get; }
}
