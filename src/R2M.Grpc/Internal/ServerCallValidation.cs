using Microsoft.AspNetCore.Http;

namespace R2M.Grpc.Internal;

/// <summary>Checks done before a call starts; failures answer without running any handler.</summary>
internal static class ServerCallValidation
{
    public static bool Validate(HttpContext http, ServerRuntime runtime)
    {
        var request = http.Request;

        // gRPC is defined over HTTP/2 only (PROTOCOL-HTTP2.md). 426 tells an HTTP/1.1 caller so.
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            GrpcServerLog.RequestRejected(runtime.Logger, request.Path, $"protocol {request.Protocol}");
            http.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            http.Response.Headers.Connection = "Upgrade";
            http.Response.Headers.Upgrade = "h2c";
            WriteProblemStatus(http, StatusCode.Internal, $"Request protocol '{request.Protocol}' is not supported; gRPC needs HTTP/2.");
            return false;
        }

        // "If Content-Type does not begin with application/grpc, gRPC servers SHOULD respond
        // with HTTP status of 415 (Unsupported Media Type)" (PROTOCOL-HTTP2.md).
        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            GrpcServerLog.RequestRejected(runtime.Logger, request.Path, $"content-type '{request.ContentType}'");
            http.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            WriteProblemStatus(http, StatusCode.Internal, $"Content-Type '{request.ContentType}' is not supported.");
            return false;
        }

        // Unsupported request encoding: UNIMPLEMENTED, listing what is accepted (compression.md).
        var encoding = request.Headers[GrpcProtocol.EncodingHeader].ToString();
        if (encoding.Length > 0 && !GrpcCompression.IsSupported(encoding))
        {
            GrpcServerLog.RequestRejected(runtime.Logger, request.Path, $"grpc-encoding '{encoding}'");
            http.Response.Headers[GrpcProtocol.AcceptEncodingHeader] = GrpcCompression.AcceptEncodingValue;
            WriteTrailersOnly(http, StatusCode.Unimplemented,
                $"Unsupported grpc-encoding '{encoding}'. Supported encodings: {GrpcCompression.AcceptEncodingValue}");
            return false;
        }

        return true;
    }

    /// <summary>A Trailers-Only response: :status 200, content-type and grpc-status/grpc-message.</summary>
    public static void WriteTrailersOnly(HttpContext http, StatusCode code, string detail)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = GrpcProtocol.ContentType;
        response.Headers[GrpcProtocol.StatusTrailer] = StatusMapping.Format(code);
        response.Headers[GrpcProtocol.MessageTrailer] = PercentEncoding.Encode(detail);
    }

    private static void WriteProblemStatus(HttpContext http, StatusCode code, string detail)
    {
        http.Response.Headers[GrpcProtocol.StatusTrailer] = StatusMapping.Format(code);
        http.Response.Headers[GrpcProtocol.MessageTrailer] = PercentEncoding.Encode(detail);
    }
}
