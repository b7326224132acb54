using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Server;

/// <summary>
/// <c>r2m-server health [--address URL] [--timeout-s N]</c>: one grpc.health.v1 Check of the whole
/// server (service ""), exit 0 when SERVING, 1 otherwise (NOT_SERVING while the models load). The
/// container HEALTHCHECK runs it, so the image needs no extra probe binary.
/// </summary>
public static class HealthProbe
{
    public static async Task<int> RunAsync(string[] args)
    {
        var address = Value(args, "--address") ?? Environment.GetEnvironmentVariable("R2M_HEALTH_ADDRESS") ?? "http://127.0.0.1:50051";
        var timeout = double.TryParse(Value(args, "--timeout-s"), System.Globalization.CultureInfo.InvariantCulture, out var t) ? t : 3;
        try
        {
            using var channel = GrpcChannel.ForAddress(address);
            var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(timeout)).ConfigureAwait(false);
            await Console.Out.WriteLineAsync($"{address}: {reply.Status}").ConfigureAwait(false);
            return reply.Status == ServingStatus.Serving ? 0 : 1;
        }
        catch (Exception e) when (e is RpcException or UriFormatException or ArgumentException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync($"{address}: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
