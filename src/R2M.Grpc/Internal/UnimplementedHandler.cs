using Microsoft.AspNetCore.Http;

namespace R2M.Grpc.Internal;

/// <summary>
/// Catch-all for gRPC requests to a path no bound method has: UNIMPLEMENTED as a Trailers-Only
/// response (statuscodes.md: "Method not found at server").
/// </summary>
internal static class UnimplementedHandler
{
    public static RequestDelegate Create(ServerRuntime runtime, GrpcServiceRegistry registry) => http =>
    {
        if (!ServerCallValidation.Validate(http, runtime))
        {
            return Task.CompletedTask;
        }

        var path = http.Request.Path.Value ?? "";
        var service = path.Length > 1 && path.IndexOf('/', 1) is var slash and > 0 ? path[1..slash] : "";
        var known = registry.Snapshot().Any(s => s.FullName == service);
        ServerCallValidation.WriteTrailersOnly(http, StatusCode.Unimplemented,
            known ? $"Method is unimplemented: {path}" : $"Service is unimplemented: {path}");
        GrpcServerLog.CallFinished(runtime.Logger, path, StatusCode.Unimplemented);
        return Task.CompletedTask;
    };

    /// <summary>For methods of a mapped service that were not bound to a handler.</summary>
    public static RequestDelegate CreateForMethod(ServerRuntime runtime, string path) => http =>
    {
        if (ServerCallValidation.Validate(http, runtime))
        {
            ServerCallValidation.WriteTrailersOnly(http, StatusCode.Unimplemented, $"Method is unimplemented: {path}");
        }

        return Task.CompletedTask;
    };
}
