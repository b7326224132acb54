namespace R2M.Grpc.Internal;

/// <summary>Status code tables of grpc/grpc doc/http-grpc-status-mapping.md and PROTOCOL-HTTP2.md.</summary>
internal static class StatusMapping
{
    /// <summary>
    /// Status for a response that carries no <c>grpc-status</c> (http-grpc-status-mapping.md):
    /// 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
    /// 429/502/503/504 UNAVAILABLE, 431 INTERNAL (header list too large), others UNKNOWN.
    /// </summary>
    public static StatusCode FromHttpStatus(int httpStatus) => httpStatus switch
    {
        400 => StatusCode.Internal,
        401 => StatusCode.Unauthenticated,
        403 => StatusCode.PermissionDenied,
        404 => StatusCode.Unimplemented,
        429 or 502 or 503 or 504 => StatusCode.Unavailable,
        431 => StatusCode.Internal,
        _ => StatusCode.Unknown,
    };

    /// <summary>
    /// Status for a stream reset by the peer (PROTOCOL-HTTP2.md, "Errors"): REFUSED_STREAM (0x7)
    /// UNAVAILABLE, CANCEL (0x8) CANCELLED, ENHANCE_YOUR_CALM (0xb) RESOURCE_EXHAUSTED,
    /// INADEQUATE_SECURITY (0xc) PERMISSION_DENIED, every other code INTERNAL.
    /// </summary>
    public static StatusCode FromHttp2ErrorCode(long errorCode) => errorCode switch
    {
        0x7 => StatusCode.Unavailable,
        0x8 => StatusCode.Cancelled,
        0xb => StatusCode.ResourceExhausted,
        0xc => StatusCode.PermissionDenied,
        _ => StatusCode.Internal,
    };

    /// <summary>Parses <c>grpc-status</c>; an unparseable value is UNKNOWN (statuscodes.md).</summary>
    public static StatusCode ParseStatus(string? value) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code)
            ? (StatusCode)code
            : StatusCode.Unknown;

    /// <summary>The decimal wire form of a status code.</summary>
    public static string Format(StatusCode code) => ((int)code).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
