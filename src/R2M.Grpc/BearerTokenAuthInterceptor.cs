namespace R2M.Grpc;

/// <summary>
/// Rejects calls without a valid <c>authorization: Bearer &lt;token&gt;</c> header with
/// UNAUTHENTICATED (statuscodes.md: missing or bad credentials; not PERMISSION_DENIED, the caller is
/// unknown). Services listed as exempt (e.g. <c>grpc.health.v1.Health</c>) pass unchecked.
/// </summary>
public sealed class BearerTokenAuthInterceptor : ServerInterceptor
{
    private const string Scheme = "Bearer ";
    private readonly Func<string, bool> _isValidToken;
    private readonly HashSet<string> _exemptServices;

    public BearerTokenAuthInterceptor(Func<string, bool> isValidToken, IEnumerable<string>? exemptServices = null)
    {
        _isValidToken = isValidToken ?? throw new ArgumentNullException(nameof(isValidToken));
        _exemptServices = new HashSet<string>(exemptServices ?? [], StringComparer.Ordinal);
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        var method = context.Method;
        var slash = method.IndexOf('/', 1);
        if (slash > 1 && _exemptServices.Contains(method[1..slash]))
        {
            return;
        }

        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Missing bearer token."));
        }

        if (!_isValidToken(header[Scheme.Length..].Trim()))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, "Invalid bearer token."));
        }
    }
}
