using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace R2M.Server.Internal.Hosting;

/// <summary>
/// Checks every request message before the handler sees it, inside the key check: a stream whose
/// client went away ends as a cancellation (not a server error), a message whose string was not UTF-8 (<see cref="Utf8Findings"/>) is INVALID_ARGUMENT naming the
/// field, and the request messages a call holds are charged to the in-flight budget until the call
/// ends (<see cref="InFlightBudget"/>): a unary or server-streaming request against the server-wide
/// cap, every message of a client stream (Update, Optimize keep all of theirs) against the call's
/// cap as well, each refusal RESOURCE_EXHAUSTED naming its option. A bidirectional stream (Score)
/// gives its bytes back item by item itself, so only its UTF-8 is checked here.
/// </summary>
internal sealed class RequestInterceptor(Utf8Findings utf8, InFlightBudget budget) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var held = Admit(request, budget.OpenStream());
        try
        {
            return await continuation(request, context).ConfigureAwait(false);
        }
        finally
        {
            held.Give(held.Held);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var held = Admit(request, budget.OpenStream());
        try
        {
            await continuation(request, responseStream, context).ConfigureAwait(false);
        }
        finally
        {
            held.Give(held.Held);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var reader = new CheckedReader<TRequest>(requestStream, utf8, budget.OpenStream());
        try
        {
            return await continuation(reader, context).ConfigureAwait(false);
        }
        finally
        {
            reader.Budget!.Give(reader.Budget.Held);
        }
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        continuation(new CheckedReader<TRequest>(requestStream, utf8, budget: null), responseStream, context);

    private StreamBudget Admit<TRequest>(TRequest request, StreamBudget held)
    {
        utf8.Check(request!, "the request");
        held.Take(Size(request), "the request message");
        return held;
    }

    private static long Size<T>(T message) => message is IMessage m ? m.CalculateSize() : 0;

    /// <summary>The request stream as the handler reads it: each message checked (and charged when <see cref="Budget"/> is set) on arrival.</summary>
    private sealed class CheckedReader<T>(IAsyncStreamReader<T> inner, Utf8Findings utf8, StreamBudget? budget) : IAsyncStreamReader<T>
    {
        private long _count;

        public StreamBudget? Budget => budget;

        public T Current => inner.Current;

        public async Task<bool> MoveNext(CancellationToken cancellationToken)
        {
            try
            {
                if (!await inner.MoveNext(cancellationToken).ConfigureAwait(false)) return false;
            }
            catch (IOException e) when (e is not InvalidProtocolBufferException && e.TargetSite?.DeclaringType?.Assembly != typeof(Grpc.AspNetCore.Server.GrpcServiceOptions).Assembly)
            {
                // Kestrel fails the read of a stream the client reset or whose connection dropped
                // ("The client reset the request stream.") before it cancels the call's token. The
                // bytes themselves are at fault only in Google.Protobuf's parse errors and in
                // Grpc.AspNetCore's own IOException (a message prefix above 2 GiB).
                throw new OperationCanceledException($"the client went away while its request stream was read: {e.Message}", e);
            }

            _count++;
            utf8.Check(inner.Current!, $"request message {_count} of the stream");
            budget?.Take(Size(inner.Current), $"request message {_count} of the stream");
            return true;
        }
    }
}
