using System.Security.Cryptography;
using System.Text;

namespace R2M.Grpc;

/// <summary>
/// Rejects calls without a valid <c>authorization: Bearer &lt;token&gt;</c> header with
/// UNAUTHENTICATED (statuscodes.md: missing or bad credentials; not PERMISSION_DENIED, the caller is
/// unknown). Which calls need a token is a rule over the full method name
/// (<c>/package.Service/Method</c>): every method except those of exempt services (e.g.
/// <c>grpc.health.v1.Health</c>), or any predicate.
/// </summary>
public sealed class BearerTokenAuthInterceptor : ServerInterceptor
{
    private const string Scheme = "Bearer ";
    private readonly Func<string, bool> _isValidToken;
    private readonly Func<string, bool> _requiresToken;
    private readonly string _credential;

    /// <summary>Every method needs a token except those of <paramref name="exemptServices"/> (full service names).</summary>
    public BearerTokenAuthInterceptor(Func<string, bool> isValidToken, IEnumerable<string>? exemptServices = null)
        : this(isValidToken, ExceptServices(exemptServices))
    {
    }

    /// <summary>
    /// Methods for which <paramref name="requiresToken"/> returns true (given the full method name,
    /// <c>/package.Service/Method</c>) need a token; the others pass unchecked.
    /// <paramref name="credentialName"/> names the token in error messages (e.g. "API key").
    /// </summary>
    public BearerTokenAuthInterceptor(Func<string, bool> isValidToken, Func<string, bool> requiresToken, string credentialName = "token")
    {
        _isValidToken = isValidToken ?? throw new ArgumentNullException(nameof(isValidToken));
        _requiresToken = requiresToken ?? throw new ArgumentNullException(nameof(requiresToken));
        ArgumentException.ThrowIfNullOrWhiteSpace(credentialName);
        _credential = credentialName;
    }

    /// <summary>
    /// A validator that compares with <paramref name="secret"/> in constant time, so the secret
    /// cannot be guessed byte by byte from response times.
    /// </summary>
    public static Func<string, bool> ConstantTimeEquals(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        var expected = Encoding.UTF8.GetBytes(secret);
        return token => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), expected);
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
        if (!_requiresToken(context.Method))
        {
            return;
        }

        var header = context.RequestHeaders.GetValue("authorization");
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated,
                $"{context.Method} needs the {_credential}: send metadata 'authorization: Bearer <{_credential}>'."));
        }

        if (!_isValidToken(header[Scheme.Length..].Trim()))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"The {_credential} in 'authorization' is not valid."));
        }
    }

    private static Func<string, bool> ExceptServices(IEnumerable<string>? exemptServices)
    {
        var exempt = new HashSet<string>(exemptServices ?? [], StringComparer.Ordinal);
        return method =>
        {
            var slash = method.IndexOf('/', 1);
            return !(slash > 1 && exempt.Contains(method[1..slash]));
        };
    }
}
