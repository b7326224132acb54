using Grpc.Core;

namespace R2M.Server.Internal.Hosting;

/// <summary>What a call needs, derived from its method's access option (r2m/v1/options.proto).</summary>
internal enum KeyRequirement
{
    /// <summary>Never (grpc.health.v1: probes and load balancers carry no key).</summary>
    None,

    /// <summary>Only when the server requires the key for every call (READ methods, reflection, /metrics).</summary>
    WhenRequiredForAll,

    /// <summary>Whenever the server has a key (WRITE methods).</summary>
    Always,
}

/// <summary>
/// The server's API key (from R2M:ApiKey, i.e. appsettings.json or R2M__ApiKey, or the file
/// R2M:ApiKeyFile) and the one check of a request's <c>authorization</c> header against it.
/// </summary>
internal sealed class ApiKeyCheck
{
    private readonly byte[]? _digest;

    public ApiKeyCheck(R2MServerOptions options)
    {
        _digest = Resolve(options) is { } key ? BearerToken.Digest(key) : null;
        RequiredForAll = options.ApiKeyRequiredForAll && _digest is not null;
    }

    public bool Configured => _digest is not null;

    public bool RequiredForAll { get; }

    /// <summary>The configured key: R2M:ApiKey, or the content of R2M:ApiKeyFile without its trailing line break.</summary>
    public static string? Resolve(R2MServerOptions options) =>
        options.ApiKeyFile is { } file && File.Exists(file) ? File.ReadAllText(file).TrimEnd('\r', '\n') : options.ApiKey;

    public bool Applies(KeyRequirement requirement) => _digest is not null && requirement switch
    {
        KeyRequirement.Always => true,
        KeyRequirement.WhenRequiredForAll => RequiredForAll,
        _ => false,
    };

    /// <summary>Null when <paramref name="authorization"/> (all values of the header) carries the key; else why not, for an UNAUTHENTICATED status.</summary>
    public string? Reject(IReadOnlyList<string> authorization, string what)
    {
        if (_digest is null) return null;
        if (authorization.Count == 0) return $"{what} needs the API key: send 'authorization: Bearer <key>'";
        if (authorization.Count > 1) return $"{what}: more than one authorization header";
        if (BearerToken.Parse(authorization[0]) is not { } token) return $"{what}: the authorization header is not 'Bearer <key>' (RFC 6750)";
        return BearerToken.FixedTimeEquals(token, _digest) ? null : $"{what}: wrong API key";
    }

    /// <summary>UNAUTHENTICATED when <see cref="Reject"/> has a reason.</summary>
    public void Demand(IReadOnlyList<string> authorization, string what)
    {
        if (Reject(authorization, what) is { } reason)
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, reason));
        }
    }
}
