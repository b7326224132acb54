namespace R2M.Grpc;

/// <summary>The outcome of a call: a <see cref="StatusCode"/> and a human-readable detail.</summary>
public readonly struct Status : IEquatable<Status>
{
    /// <summary>The status every successful call ends with.</summary>
    public static readonly Status DefaultSuccess = new(StatusCode.OK, "");

    /// <summary>The status of a call the caller cancelled.</summary>
    public static readonly Status DefaultCancelled = new(StatusCode.Cancelled, "");

    public Status(StatusCode statusCode, string? detail)
    {
        StatusCode = statusCode;
        _detail = detail;
    }

    // Null only in default(Status); Detail maps that to "".
    private readonly string? _detail;

    public StatusCode StatusCode { get; }

    /// <summary>Free text sent as <c>grpc-message</c> (percent-encoded on the wire); never null.</summary>
    public string Detail => _detail ?? "";

    public bool Equals(Status other) => StatusCode == other.StatusCode && Detail == other.Detail;

    public override bool Equals(object? obj) => obj is Status other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(StatusCode, Detail);

    public static bool operator ==(Status left, Status right) => left.Equals(right);

    public static bool operator !=(Status left, Status right) => !left.Equals(right);

    public override string ToString() => $"Status(StatusCode=\"{StatusCode}\", Detail=\"{Detail}\")";
}
