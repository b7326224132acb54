using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using R2M.Grpc;

namespace R2M.Server.Internal;

/// <summary>
/// Wraps every call: checks the API key (Update, Optimize, checkpoints and Reset always need it when
/// one is configured; every call does with ApiKeyRequiredForAll), turns domain exceptions into
/// statuses through <see cref="ErrorMap"/>, and records request counts and latencies.
/// </summary>
internal sealed class CallInterceptor(R2MServerOptions options, ServerMetrics metrics, ILogger logger, TimeProvider time) : ServerInterceptor
{
    private static readonly HashSet<string> Mutating = new(StringComparer.Ordinal)
    {
        "/r2m.v1.Policy/Optimize",
        "/r2m.v1.RewardModel/Update",
        "/r2m.v1.Admin/SaveCheckpoint",
        "/r2m.v1.Admin/LoadCheckpoint",
        "/r2m.v1.Admin/Reset",
    };

    private readonly byte[]? _key = options.ApiKey is { } k ? Encoding.UTF8.GetBytes(k) : null;

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, () => continuation(request, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, async () =>
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
            return true;
        });

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, () => continuation(requestStream, context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        RunAsync(context, async () =>
        {
            await continuation(requestStream, responseStream, context).ConfigureAwait(false);
            return true;
        });

    private async Task<T> RunAsync<T>(ServerCallContext context, Func<Task<T>> body)
    {
        var start = time.GetTimestamp();
        var code = StatusCode.OK;
        try
        {
            CheckKey(context);
            return await body().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var status = ErrorMap.ToStatus(e, options.DetailedErrors);
            code = status.StatusCode;
            if (code == StatusCode.Internal)
            {
                ServerLog.CallFailed(logger, context.Method, e);
            }
            else
            {
                ServerLog.CallRejected(logger, context.Method, code, status.Detail);
            }

            throw e as RpcException ?? new RpcException(status);
        }
        finally
        {
            metrics.RecordRequest(context.Method, code.ToString(), time.GetElapsedTime(start).TotalSeconds);
        }
    }

    private void CheckKey(ServerCallContext context)
    {
        // Health stays open so load balancers and container probes work without the key.
        var required = Mutating.Contains(context.Method)
            || (options.ApiKeyRequiredForAll && !context.Method.StartsWith("/grpc.health.", StringComparison.Ordinal));
        if (_key is null || !required)
        {
            return;
        }

        var header = context.RequestHeaders.GetValue("authorization");
        const string Prefix = "Bearer ";
        if (header is null || !header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"{context.Method} requires an API key: send metadata 'authorization: Bearer <key>'."));
        }

        var given = Encoding.UTF8.GetBytes(header[Prefix.Length..].Trim());
        // Constant-time comparison so the key cannot be guessed byte by byte from response times.
        if (!CryptographicOperations.FixedTimeEquals(given, _key))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "The API key in 'authorization' is wrong."));
        }
    }
}
