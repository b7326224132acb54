using System.Net;
using Microsoft.Extensions.Options;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// Start-up validation of <see cref="R2MServerOptions"/>: every failure names the configuration
/// key. Model paths are checked only when the host serves the models (a host of test services has
/// none).
/// </summary>
internal sealed class R2MServerOptionsValidator(bool requireModels) : IValidateOptions<R2MServerOptions>
{
    public ValidateOptionsResult Validate(string? name, R2MServerOptions o)
    {
        var failures = new List<string>();
        void Require(bool ok, string key, string what)
        {
            if (!ok) failures.Add($"configuration R2M:{key} {what}");
        }

        if (requireModels)
        {
            Require(!string.IsNullOrWhiteSpace(o.PolicyPath), nameof(o.PolicyPath), "is required (a HuggingFace-format model directory)");
            Require(!string.IsNullOrWhiteSpace(o.RewardModelPath), nameof(o.RewardModelPath), "is required (a HuggingFace-format reward model directory)");
        }

        Require(o.Host == "localhost" || IPAddress.TryParse(o.Host, out _), nameof(o.Host), $"'{o.Host}' is not an IP address (or localhost)");
        Require(o.MetricsPort is null or (>= 0 and <= 65535), nameof(o.MetricsPort), $"({o.MetricsPort}) must be in [0, 65535]");
        Require(o.Port is >= 0 and <= 65535, nameof(o.Port), $"({o.Port}) must be in [0, 65535]");
        Require(o.MaxReceiveMessageBytes > 0, nameof(o.MaxReceiveMessageBytes), "must be positive");
        Require(o.MaxSendMessageBytes > 0, nameof(o.MaxSendMessageBytes), "must be positive");
        Require(o.RolloutStoreBytes > 0, nameof(o.RolloutStoreBytes), "must be positive");
        Require(o.ScoreBatchWindowMs >= 0, nameof(o.ScoreBatchWindowMs), "must be >= 0");
        Require(o.ScoreMaxBatch > 0, nameof(o.ScoreMaxBatch), "must be positive");
        Require(o.MaxScoreItemsInFlight > 0, nameof(o.MaxScoreItemsInFlight), "must be positive");
        Require(o.AttentionDim > 0 && o.AttentionHeads > 0 && o.AttentionDim % o.AttentionHeads == 0, nameof(o.AttentionDim), "must be positive and divisible by AttentionHeads");
        Require(o.ApiKey is null || o.ApiKeyFile is null, nameof(o.ApiKeyFile), "and R2M:ApiKey are both set; give one");
        Require(o.ApiKeyFile is null || File.Exists(o.ApiKeyFile), nameof(o.ApiKeyFile), $"'{o.ApiKeyFile}' does not exist");
        if (ApiKeyCheck.Resolve(o) is { } key && BearerToken.FirstInvalidCharacter(key) is { } bad)
        {
            Require(false, o.ApiKeyFile is null ? nameof(o.ApiKey) : nameof(o.ApiKeyFile), bad);
        }

        RequireBudgets(o, Require);
        RequireKeyOffLoopback(o, Require);
        Require(o.CertificatePath is null || File.Exists(o.CertificatePath), nameof(o.CertificatePath), $"'{o.CertificatePath}' does not exist");
        Require(o.CertificateKeyPath is null || (o.CertificatePath is not null && File.Exists(o.CertificateKeyPath)), nameof(o.CertificateKeyPath),
            $"'{o.CertificateKeyPath}' does not exist or R2M:CertificatePath is unset");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>
    /// The memory caps nest: one item fits a stream, one stream (and one request message) fits the
    /// server, so a lone call can always make progress and backpressure never waits for room that
    /// cannot exist. A decoded item is one float array, hence at most <see cref="Array.MaxLength"/> floats.
    /// </summary>
    private static void RequireBudgets(R2MServerOptions o, Action<bool, string, string> require)
    {
        require(o.MaxTextBytes > 0, nameof(o.MaxTextBytes), "must be positive");
        require(o.MaxHiddenStateBytesPerItem > 0 && o.MaxHiddenStateBytesPerItem <= 4L * Array.MaxLength, nameof(o.MaxHiddenStateBytesPerItem),
            $"({o.MaxHiddenStateBytesPerItem}) must be in [1, {4L * Array.MaxLength}] (one float array)");
        require(o.MaxInFlightBytesPerStream >= o.MaxHiddenStateBytesPerItem && o.MaxInFlightBytesPerStream >= o.MaxReceiveMessageBytes,
            nameof(o.MaxInFlightBytesPerStream), $"({o.MaxInFlightBytesPerStream}) must be at least R2M:MaxHiddenStateBytesPerItem ({o.MaxHiddenStateBytesPerItem}) and R2M:MaxReceiveMessageBytes ({o.MaxReceiveMessageBytes})");
        require(o.MaxInFlightBytes >= o.MaxInFlightBytesPerStream, nameof(o.MaxInFlightBytes),
            $"({o.MaxInFlightBytes}) must be at least R2M:MaxInFlightBytesPerStream ({o.MaxInFlightBytesPerStream})");
    }

    /// <summary>
    /// Exposure: on an address other hosts can reach, a server without a key lets anyone train, load
    /// checkpoints and reset. Refused unless the operator says so with R2M:AllowUnauthenticatedNetwork.
    /// </summary>
    private static void RequireKeyOffLoopback(R2MServerOptions o, Action<bool, string, string> require)
    {
        if (o.AllowUnauthenticatedNetwork || o.ApiKey is not null || o.ApiKeyFile is not null) return;
        if (o.Host == "localhost" || !IPAddress.TryParse(o.Host, out var ip) || IPAddress.IsLoopback(ip)) return;
        require(false, nameof(o.Host), $"'{o.Host}' is not a loopback address and no API key is set: anyone who can reach the port could " +
            "call every method. Set a key (environment R2M__ApiKey, or R2M:ApiKeyFile / --api-key-file), or set " +
            "R2M:AllowUnauthenticatedNetwork=true (--allow-unauthenticated-network true) to serve without one");
    }
}
