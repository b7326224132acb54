namespace R2M.Grpc.Internal;

/// <summary>Header names and values of the gRPC HTTP/2 mapping (PROTOCOL-HTTP2.md).</summary>
internal static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string ContentTypeHeader = "content-type";
    public const string TimeoutHeader = "grpc-timeout";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string StatusTrailer = "grpc-status";
    public const string MessageTrailer = "grpc-message";
    public const string StatusDetailsTrailer = "grpc-status-details-bin";
    public const string TeHeader = "te";
    public const string UserAgentHeader = "user-agent";

    /// <summary>
    /// "Content-Type → application/grpc [("+proto" / "+json" / {custom})]" (PROTOCOL-HTTP2.md).
    /// Media types compare case-insensitively (RFC 9110 section 8.3.1); parameters after ';' are allowed.
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return contentType.Length == ContentType.Length || contentType[ContentType.Length] is '+' or ';';
    }

    /// <summary>
    /// Headers that belong to the protocol and are not shown to applications as metadata:
    /// pseudo-headers, the reserved "grpc-" names (except grpc-status-details-bin), content-type, te and host.
    /// </summary>
    public static bool IsReservedHeader(string name)
    {
        if (name.Length == 0 || name[0] == ':')
        {
            return true;
        }

        if (name.StartsWith("grpc-", StringComparison.OrdinalIgnoreCase))
        {
            return !name.Equals(StatusDetailsTrailer, StringComparison.OrdinalIgnoreCase);
        }

        return name.Equals(ContentTypeHeader, StringComparison.OrdinalIgnoreCase)
            || name.Equals(TeHeader, StringComparison.OrdinalIgnoreCase)
            || name.Equals("host", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Adds a received header to <paramref name="metadata"/> unless reserved; -bin values are split on
    /// ',' and base64-decoded (padded or not). Returns false when a -bin value was not base64 (it is skipped).
    /// </summary>
    public static bool TryAddReceivedHeader(Metadata metadata, string name, string value)
    {
        if (IsReservedHeader(name))
        {
            return true;
        }

        var key = name.ToLowerInvariant();
        if (!Metadata.Entry.IsBinaryKey(key))
        {
            metadata.Add(Metadata.Entry.CreateUnchecked(key, value));
            return true;
        }

        var values = new List<byte[]>(1);
        var ok = Base64Header.TryDecodeList(value, values);
        foreach (var bytes in values)
        {
            metadata.Add(Metadata.Entry.CreateUnchecked(key, bytes));
        }

        return ok;
    }

    /// <summary>The header value an entry is sent as (unpadded base64 for -bin keys).</summary>
    public static string ToHeaderValue(Metadata.Entry entry) => entry.Value;
}
