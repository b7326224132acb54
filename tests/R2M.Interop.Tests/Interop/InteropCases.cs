using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace R2M.Interop.Tests.Interop;

/// <summary>
/// The interop case list run by Grpc.Net.Client (the generated InteropTest client); the same cases
/// (names, requests, expectations) as peers/interop_client.py and peers/interop_client.js, so
/// every pairing is judged alike.
/// </summary>
internal static class InteropCases
{
    public const int MiB = 1024 * 1024;
    public const string UnicodeMessage = "h\u00e9llo 100% \u2713 \u65e5\u672c %41 tab\there";
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Grpc.Net.Client's per-call request compression, set through the call's headers.</summary>
    private const string RequestEncodingHeader = "grpc-internal-encoding-request";

    private static readonly (string Name, Func<Context, Task> Run)[] Cases =
    [
        ("unary_echo", UnaryEchoAsync),
        ("large_64mib", Large64MiBAsync),
        ("server_stream_10k", ServerStream10kAsync),
        ("client_stream_10k", ClientStream10kAsync),
        ("bidi_10k", Bidi10kAsync),
        ("deadline_mid_stream", DeadlineMidStreamAsync),
        ("cancel_from_client", CancelFromClientAsync),
        ("cancel_from_server", CancelFromServerAsync),
        ("gzip", GzipAsync),
        ("metadata_bin", MetadataBinAsync),
        ("oversize", OversizeAsync),
        ("unknown_method", UnknownMethodAsync),
        ("handler_exception", HandlerExceptionAsync),
        ("status_unicode", StatusUnicodeAsync),
    ];

    public static IEnumerable<string> Names => Cases.Select(c => c.Name);

    /// <summary>Runs the cases (all, or those named) against http://<paramref name="target"/>; never throws for a failing case.</summary>
    public static async Task<List<CaseResult>> RunAsync(string target, IEnumerable<string>? only = null)
    {
        var chosen = only?.ToHashSet();
        var address = "http://" + target;
        using var channel = GrpcChannel.ForAddress(address);
        var context = new Context(address, new InteropTest.InteropTestClient(channel), channel);
        var results = new List<CaseResult>();
        foreach (var (name, run) in Cases)
        {
            if (chosen is not null && !chosen.Contains(name))
            {
                continue;
            }

            try
            {
                await run(context).WaitAsync(TimeSpan.FromSeconds(120));
                results.Add(new CaseResult(name, true, ""));
            }
            catch (CaseFailedException e)
            {
                results.Add(new CaseResult(name, false, e.Message));
            }
            catch (RpcException e)
            {
                results.Add(new CaseResult(name, false, $"unexpected status {e.StatusCode}: '{e.Status.Detail}'"));
            }
            catch (Exception e)
            {
                results.Add(new CaseResult(name, false, $"{e.GetType().Name}: {e.Message}"));
            }
        }

        return results;
    }

    internal sealed record Context(string Address, InteropTest.InteropTestClient Client, GrpcChannel Channel);

    private sealed class CaseFailedException(string message) : Exception(message);

    private static void Expect(bool condition, string detail)
    {
        if (!condition)
        {
            throw new CaseFailedException(detail);
        }
    }

    private static async Task<RpcException> ExpectErrorAsync(Func<Task> call, params StatusCode[] codes)
    {
        try
        {
            await call();
        }
        catch (RpcException e)
        {
            Expect(codes.Contains(e.StatusCode), $"expected {string.Join(" or ", codes)}, got {e.StatusCode}: '{e.Status.Detail}'");
            return e;
        }

        throw new CaseFailedException($"call succeeded but {string.Join(" or ", codes)} was expected");
    }

    private static CallOptions Options(Metadata? headers = null, string? compression = null, CancellationToken token = default)
    {
        if (compression is not null)
        {
            headers ??= [];
            headers.Add(RequestEncodingHeader, compression);
        }

        return new CallOptions(headers, DateTime.UtcNow + CallTimeout, token);
    }

    private static async Task UnaryEchoAsync(Context c)
    {
        var reply = await c.Client.EchoAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8("hello interop") }, Options());
        Expect(reply.Payload.ToStringUtf8() == "hello interop", $"payload '{reply.Payload.ToStringUtf8()}'");
    }

    private static async Task Large64MiBAsync(Context c)
    {
        using var big = GrpcChannel.ForAddress(c.Address, new GrpcChannelOptions { MaxReceiveMessageSize = 80 * MiB, MaxSendMessageSize = 80 * MiB });
        var payload = new byte[64 * MiB];
        Random.Shared.NextBytes(payload);
        var reply = await new InteropTest.InteropTestClient(big).EchoAsync(new EchoRequest { Payload = UnsafeByteOperations.UnsafeWrap(payload) },
            deadline: DateTime.UtcNow.AddSeconds(120));
        Expect(reply.Payload.Length == payload.Length, $"reply length {reply.Payload.Length}");
        Expect(reply.Payload.Span.SequenceEqual(payload), "64 MiB reply differs from the request");
    }

    private static async Task ServerStream10kAsync(Context c)
    {
        using var call = c.Client.ServerStream(new StreamRequest { Count = 10000, ResponseSize = 8 }, Options());
        var n = 0;
        await foreach (var r in call.ResponseStream.ReadAllAsync())
        {
            Expect(r.Index == n && r.Payload.Length == 8, $"message {n}: index {r.Index}, {r.Payload.Length} bytes");
            n++;
        }

        Expect(n == 10000, $"received {n} messages");
    }

    private static async Task ClientStream10kAsync(Context c)
    {
        using var call = c.Client.ClientStream(Options());
        var payload = ByteString.CopyFromUtf8("12345678");
        for (var i = 0; i < 10000; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Payload = payload });
        }

        await call.RequestStream.CompleteAsync();
        var reply = await call;
        Expect(reply.Messages == 10000 && reply.TotalBytes == 80000, $"server counted {reply.Messages} messages, {reply.TotalBytes} bytes");
    }

    private static async Task Bidi10kAsync(Context c)
    {
        using var call = c.Client.BidiStream(Options());
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 10000; i++)
            {
                await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8(i.ToString("D8")) });
            }

            await call.RequestStream.CompleteAsync();
        });
        var n = 0;
        await foreach (var r in call.ResponseStream.ReadAllAsync())
        {
            Expect(r.Index == n && r.Payload.ToStringUtf8() == n.ToString("D8"), $"reply {n}: index {r.Index} payload '{r.Payload.ToStringUtf8()}'");
            n++;
        }

        await writer;
        Expect(n == 10000, $"received {n} replies");
    }

    private static async Task DeadlineMidStreamAsync(Context c)
    {
        using var call = c.Client.ServerStream(
            new StreamRequest { Count = 1000, ResponseSize = 8, IntervalMs = 20 }, deadline: DateTime.UtcNow.AddSeconds(1));
        var n = 0;
        await ExpectErrorAsync(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
                n++;
            }
        }, StatusCode.DeadlineExceeded);
        Expect(n is > 0 and < 1000, $"received {n} messages before the deadline");
    }

    private static async Task CancelFromClientAsync(Context c)
    {
        using var cts = new CancellationTokenSource();
        var headers = new Metadata { { "x-case", "cancel_from_client" } };
        using var call = c.Client.ServerStream(
            new StreamRequest { Count = 1000, ResponseSize = 8, IntervalMs = 20 }, Options(headers, token: cts.Token));
        var n = 0;
        await ExpectErrorAsync(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                if (++n == 3)
                {
                    cts.Cancel();
                }
            }
        }, StatusCode.Cancelled);
        Expect(n == 3, $"received {n} messages");
    }

    private static async Task CancelFromServerAsync(Context c)
    {
        using var call = c.Client.ServerStream(
            new StreamRequest { Count = 10, ResponseSize = 8, FailAfter = 3, FailWithCode = (int)StatusCode.Aborted }, Options());
        var n = 0;
        await ExpectErrorAsync(async () =>
        {
            await foreach (var _ in call.ResponseStream.ReadAllAsync())
            {
                n++;
            }
        }, StatusCode.Aborted);
        Expect(n == 3, $"received {n} messages before the failure");
    }

    private static async Task GzipAsync(Context c)
    {
        var text = string.Concat(Enumerable.Repeat("compressible gzip payload ", 10000));
        var payload = ByteString.CopyFromUtf8(text);
        Metadata Headers() => new() { { "x-response-compression", "gzip" } };
        var reply = await c.Client.EchoAsync(new EchoRequest { Payload = payload }, Options(Headers(), "gzip"));
        Expect(reply.Payload == payload, "gzip echo payload mismatch");

        using var call = c.Client.BidiStream(Options(Headers(), "gzip"));
        for (var i = 0; i < 20; i++)
        {
            await call.RequestStream.WriteAsync(new EchoRequest { Payload = ByteString.CopyFromUtf8(text[..(1000 + i)]) });
        }

        await call.RequestStream.CompleteAsync();
        var n = 0;
        await foreach (var r in call.ResponseStream.ReadAllAsync())
        {
            Expect(r.Payload.ToStringUtf8() == text[..(1000 + n)], $"gzip bidi reply {n} mismatch");
            n++;
        }

        Expect(n == 20, $"gzip bidi received {n} replies");
    }

    private static async Task MetadataBinAsync(Context c)
    {
        var blob = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var headers = new Metadata { { "x-trace-bin", blob }, { "x-user", "alice" } };
        using var call = c.Client.EchoAsync(
            new EchoRequest { Payload = ByteString.CopyFromUtf8("m"), EchoMetadata = { "x-trace-bin", "x-user" } }, Options(headers));
        await call;
        foreach (var (where, md) in new[] { ("headers", await call.ResponseHeadersAsync), ("trailers", call.GetTrailers()) })
        {
            var bin = md.GetValueBytes("x-trace-bin");
            Expect(bin is not null && bin.AsSpan().SequenceEqual(blob), $"{where}: x-trace-bin = {(bin is null ? "missing" : Convert.ToHexString(bin))}");
            Expect(md.GetValue("x-user") == "alice", $"{where}: x-user = '{md.GetValue("x-user")}'");
        }
    }

    private static async Task OversizeAsync(Context c)
    {
        // The default receive limit is 4 MiB: a 5 MiB reply must fail with RESOURCE_EXHAUSTED.
        await ExpectErrorAsync(() => c.Client.EchoAsync(new EchoRequest { ResponseSize = 5 * MiB }, Options()).ResponseAsync, StatusCode.ResourceExhausted);
    }

    private static async Task UnknownMethodAsync(Context c)
    {
        var echo = InteropTest.Descriptor.FindMethodByName(nameof(InteropTest.InteropTestClient.Echo));
        // A method the service does not have, and a service the server does not have (names made from the real ones).
        foreach (var (service, name) in new[] { (InteropTest.Descriptor.FullName, echo.Name + "Missing"), (InteropTest.Descriptor.FullName + "Missing", echo.Name) })
        {
            var marshaller = Marshallers.Create<EchoRequest>(m => m.ToByteArray(), EchoRequest.Parser.ParseFrom);
            var method = new Method<EchoRequest, EchoReply>(MethodType.Unary, service, name, marshaller,
                Marshallers.Create<EchoReply>(m => m.ToByteArray(), EchoReply.Parser.ParseFrom));
            await ExpectErrorAsync(() => c.Channel.CreateCallInvoker().AsyncUnaryCall(method, null, Options(), new EchoRequest()).ResponseAsync, StatusCode.Unimplemented);
        }
    }

    private static async Task HandlerExceptionAsync(Context c)
    {
        // Status without internals: grpc-dotnet and grpcio answer UNKNOWN, r2m-server's host maps
        // unexpected exceptions to INTERNAL ("see the server log"); neither may carry the text.
        var e = await ExpectErrorAsync(() => c.Client.EchoAsync(new EchoRequest { ThrowException = true }, Options()).ResponseAsync, StatusCode.Unknown, StatusCode.Internal);
        foreach (var leak in new[] { "secret", "   at ", ".cs:line", "Traceback" })
        {
            Expect(!e.Status.Detail.Contains(leak, StringComparison.Ordinal), $"status message leaks handler internals: '{e.Status.Detail}'");
        }
    }

    private static async Task StatusUnicodeAsync(Context c)
    {
        var e = await ExpectErrorAsync(() => c.Client.EchoAsync(
            new EchoRequest { FailWithCode = (int)StatusCode.FailedPrecondition, ErrorMessage = UnicodeMessage }, Options()).ResponseAsync, StatusCode.FailedPrecondition);
        Expect(e.Status.Detail == UnicodeMessage, $"message '{e.Status.Detail}'");
    }
}
