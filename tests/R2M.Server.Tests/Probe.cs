using Grpc.Core;
using Grpc.Net.Client;

namespace R2M.Server.Tests;

/// <summary>
/// What tests observe from outside a server: its Prometheus series, and calls made with raw
/// request bytes (a byte[] marshaller), so a test can send what no generated client would (strings
/// that are not UTF-8, messages that do not parse).
/// </summary>
internal static class Probe
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(b => b, b => b);

    /// <summary>The lines of /metrics (the server must run with MetricsPort 0) that start with <paramref name="series"/>.</summary>
    public static async Task<List<string>> MetricsAsync(TestServer server, string series)
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync($"http://127.0.0.1:{R2MServer.GetMetricsPort(server.App)}/metrics").WaitAsync(TestServer.Timeout);
        return [.. text.Split('\n').Where(l => l.StartsWith(series, StringComparison.Ordinal))];
    }

    /// <summary>Sum of r2m_requests_total over the status codes of <paramref name="method"/> ("/r2m.v1.RewardModel/Score").</summary>
    public static async Task<double> RequestsAsync(TestServer server, string method) =>
        (await MetricsAsync(server, $"r2m_requests_total{{method=\"{method}\"")).Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The r2m_inflight_bytes gauge (bytes held by running calls); -1 when the server has no such series.</summary>
    public static async Task<double> InFlightBytesAsync(TestServer server) =>
        (await MetricsAsync(server, "r2m_inflight_bytes ")).Select(l => double.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Single();

    /// <summary>A bidirectional or client-streaming call of raw messages; its replies (raw) and final status.</summary>
    public static async Task<(List<byte[]> Replies, Status Status)> StreamAsync(GrpcChannel channel, MethodType type, string service, string method, IEnumerable<byte[]> messages)
    {
        var m = new Method<byte[], byte[]>(type, service, method, Bytes, Bytes);
        var options = new CallOptions(deadline: DateTime.UtcNow + TestServer.Timeout);
        var replies = new List<byte[]>();
        try
        {
            if (type == MethodType.ClientStreaming)
            {
                using var call = channel.CreateCallInvoker().AsyncClientStreamingCall(m, null, options);
                await WriteAllAsync(call.RequestStream, messages);
                replies.Add(await call.ResponseAsync);
            }
            else
            {
                using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(m, null, options);
                await WriteAllAsync(call.RequestStream, messages);
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    replies.Add(call.ResponseStream.Current);
                }
            }

            return (replies, Status.DefaultSuccess);
        }
        catch (RpcException e)
        {
            return (replies, e.Status);
        }
    }

    /// <summary>A unary or server-streaming call with a raw request; its replies and final status.</summary>
    public static async Task<(List<byte[]> Replies, Status Status)> CallAsync(GrpcChannel channel, MethodType type, string service, string method, byte[] request)
    {
        var m = new Method<byte[], byte[]>(type, service, method, Bytes, Bytes);
        var options = new CallOptions(deadline: DateTime.UtcNow + TestServer.Timeout);
        var replies = new List<byte[]>();
        try
        {
            if (type == MethodType.Unary)
            {
                replies.Add(await channel.CreateCallInvoker().AsyncUnaryCall(m, null, options, request));
            }
            else
            {
                using var call = channel.CreateCallInvoker().AsyncServerStreamingCall(m, null, options, request);
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                    replies.Add(call.ResponseStream.Current);
                }
            }

            return (replies, Status.DefaultSuccess);
        }
        catch (RpcException e)
        {
            return (replies, e.Status);
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> until it holds; false after <see cref="TestServer.Timeout"/>.
    /// No timing is asserted: the limit only keeps a broken server from hanging the run.
    /// </summary>
    public static async Task<bool> UntilAsync(Func<Task<bool>> condition)
    {
        for (var deadline = DateTime.UtcNow + TestServer.Timeout; DateTime.UtcNow < deadline; await Task.Delay(20))
        {
            if (await condition()) return true;
        }

        return false;
    }

    public static Task<bool> UntilAsync(Func<bool> condition) => UntilAsync(() => Task.FromResult(condition()));

    private static async Task WriteAllAsync(IClientStreamWriter<byte[]> writer, IEnumerable<byte[]> messages)
    {
        try
        {
            foreach (var message in messages)
            {
                await writer.WriteAsync(message).WaitAsync(TestServer.Timeout);
            }

            await writer.CompleteAsync().WaitAsync(TestServer.Timeout);
        }
        catch (RpcException)
        {
            // The server ended the call first; its status is read from the response.
        }
    }
}
