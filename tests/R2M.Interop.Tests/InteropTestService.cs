using Google.Protobuf;
using Grpc.Core;

namespace R2M.Interop.Tests;

/// <summary>
/// C# implementation of <c>Protos/interop.proto</c> (r2m.interop.v1.InteropTest), the service every
/// client/server pairing of the interop suite runs against. Semantics, shared with the foreign peers:
/// <list type="bullet">
/// <item>Generated payloads (<c>response_size</c>) are <see cref="Payload"/>: byte k = k % 251.</item>
/// <item>Echo: copies the request headers named in <c>echo_metadata</c> into response headers and
/// trailers; waits <c>delay_ms</c> (honouring cancellation); then <c>throw_exception</c> throws an
/// exception whose text must not reach the caller; <c>fail_with_code</c> fails with that code and
/// <c>error_message</c>; otherwise replies with the payload (or <c>response_size</c> bytes), index 0,
/// received 1.</item>
/// <item>ServerStream: <c>count</c> replies of <c>response_size</c> bytes, index i, <c>interval_ms</c>
/// apart; after <c>fail_after</c> replies (when non-zero) fails with <c>fail_with_code</c>.</item>
/// <item>ClientStream: counts messages and payload bytes; applies the last request's
/// echo_metadata, delay, throw and fail fields before replying.</item>
/// <item>BidiStream: answers each request as it arrives, applying its fields like Echo; reply i has
/// index i and received i + 1.</item>
/// <item>A request header <c>x-response-compression: gzip</c> makes the replies gzip-compressed.</item>
/// </list>
/// </summary>
public sealed class InteropTestService : InteropTest.InteropTestBase
{
    /// <summary>Text of the exception thrown for <c>throw_exception</c>; callers must never see it.</summary>
    public const string SecretExceptionText = "secret-internal-detail-7f3a";

    /// <summary>Grpc.AspNetCore's per-call response compression, set through the response headers.</summary>
    private const string ResponseEncodingHeader = "grpc-internal-encoding-request";

    /// <summary>The deterministic payload of <paramref name="size"/> bytes: byte k = k % 251.</summary>
    public static ByteString Payload(int size)
    {
        var bytes = new byte[size];
        for (var k = 0; k < size; k++)
        {
            bytes[k] = (byte)(k % 251);
        }

        return UnsafeByteOperations.UnsafeWrap(bytes);
    }

    public override async Task<EchoReply> Echo(EchoRequest request, ServerCallContext context)
    {
        await ApplyAsync(request, context, sendHeaders: true).ConfigureAwait(false);
        return new EchoReply { Payload = ReplyPayload(request), Index = 0, Received = 1 };
    }

    public override async Task ServerStream(StreamRequest request, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        var payload = Payload(request.ResponseSize);
        for (var i = 0; i < request.Count; i++)
        {
            if (request.FailAfter > 0 && i == request.FailAfter)
            {
                throw new RpcException(new Status((StatusCode)request.FailWithCode, $"failed after {i} replies"));
            }

            if (i > 0 && request.IntervalMs > 0)
            {
                await Task.Delay(request.IntervalMs, context.CancellationToken).ConfigureAwait(false);
            }

            await responses.WriteAsync(new EchoReply { Payload = payload, Index = i, Received = 1 }, context.CancellationToken).ConfigureAwait(false);
        }

        if (request.FailAfter > 0 && request.FailAfter >= request.Count && request.FailWithCode != 0)
        {
            throw new RpcException(new Status((StatusCode)request.FailWithCode, $"failed after {request.Count} replies"));
        }
    }

    public override async Task<SumReply> ClientStream(IAsyncStreamReader<EchoRequest> requests, ServerCallContext context)
    {
        var reply = new SumReply();
        EchoRequest? last = null;
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            last = requests.Current;
            reply.Messages++;
            reply.TotalBytes += last.Payload.Length;
        }

        if (last is not null)
        {
            await ApplyAsync(last, context, sendHeaders: true).ConfigureAwait(false);
        }

        return reply;
    }

    public override async Task BidiStream(
        IAsyncStreamReader<EchoRequest> requests, IServerStreamWriter<EchoReply> responses, ServerCallContext context)
    {
        var received = 0;
        while (await requests.MoveNext(context.CancellationToken).ConfigureAwait(false))
        {
            var request = requests.Current;
            await ApplyAsync(request, context, sendHeaders: received == 0).ConfigureAwait(false);
            await responses.WriteAsync(new EchoReply { Payload = ReplyPayload(request), Index = received, Received = received + 1 })
                .ConfigureAwait(false);
            received++;
        }
    }

    private static ByteString ReplyPayload(EchoRequest request) =>
        request.ResponseSize > 0 ? Payload(request.ResponseSize) : request.Payload;

    private static async Task ApplyAsync(EchoRequest request, ServerCallContext context, bool sendHeaders)
    {
        var headers = new Metadata();
        foreach (var key in request.EchoMetadata)
        {
            foreach (var entry in context.RequestHeaders.GetAll(key.ToLowerInvariant()))
            {
                headers.Add(entry);
                context.ResponseTrailers.Add(entry);
            }
        }

        if (context.RequestHeaders.GetValue("x-response-compression") is { } encoding)
        {
            headers.Add(ResponseEncodingHeader, encoding);
        }

        if (sendHeaders && headers.Count > 0)
        {
            await context.WriteResponseHeadersAsync(headers).ConfigureAwait(false);
        }

        if (request.DelayMs > 0)
        {
            await Task.Delay(request.DelayMs, context.CancellationToken).ConfigureAwait(false);
        }

        if (request.ThrowException)
        {
            throw new InvalidOperationException(SecretExceptionText);
        }

        if (request.FailWithCode != 0)
        {
            throw new RpcException(new Status((StatusCode)request.FailWithCode, request.ErrorMessage));
        }
    }
}
