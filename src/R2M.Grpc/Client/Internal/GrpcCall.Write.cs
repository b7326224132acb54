namespace R2M.Grpc.Client.Internal;

/// <summary>The request-stream half of a client-streaming or bidirectional call.</summary>
internal sealed partial class GrpcCall<TRequest, TResponse>
{
    private bool _writesCompleted;

    public async Task WriteAsync(TRequest message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        var requestStream = _requestStream ?? throw new InvalidOperationException("This call has no request stream.");
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfCannotWrite();
            using var registration = cancellationToken.CanBeCanceled
                ? cancellationToken.UnsafeRegister(static s => ((GrpcCall<TRequest, TResponse>)s!).Cancel(), this)
                : default;
            try
            {
                var stream = await requestStream.StreamTask.WaitAsync(_cts.Token).ConfigureAwait(false);
                _sendBuffer ??= new PooledBufferWriter();
                _sendBuffer.Reset();
                R2M.Grpc.Internal.MessageFraming.WriteMessage(_sendBuffer, message, WriteOptions);

                // Each message is flushed so a ping-pong peer sees it now, not when a buffer fills.
                await stream.WriteAsync(_sendBuffer.WrittenMemory, _cts.Token).ConfigureAwait(false);
                await stream.FlushAsync(_cts.Token).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Only a transport failure may be the server ending the call; a local error
                // (RpcException, e.g. the send-size limit) stands at once.
                if (e is not RpcException && _final is null && !_cts.IsCancellationRequested)
                {
                    await AwaitServerStatusAsync().ConfigureAwait(false);
                }

                Finish(MapException(e), null); // no-op when the server's status arrived meanwhile
                throw Error(_final!);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>
    /// A server may end the call before reading the whole request (e.g. an auth interceptor answers
    /// UNAUTHENTICATED as Trailers-Only, PROTOCOL-HTTP2.md "Responses") and then reset the request
    /// half. The write fails first, but the server's status is the call's true outcome, so the
    /// response headers get a short grace period to deliver it before the write error stands.
    /// </summary>
    private async Task AwaitServerStatusAsync()
    {
        try
        {
            await _startTask.WaitAsync(ServerStatusGrace, _channel.Options.TimeProvider).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Timed out or the request itself failed: the write error is the best status there is.
        }
    }

    private static readonly TimeSpan ServerStatusGrace = TimeSpan.FromSeconds(1);

    public async Task CompleteAsync()
    {
        var requestStream = _requestStream ?? throw new InvalidOperationException("This call has no request stream.");
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_final is { } final && final.Status.StatusCode != StatusCode.OK)
            {
                throw Error(final);
            }

            _writesCompleted = true;
            requestStream.Complete(); // HttpClient ends the body with END_STREAM
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private void ThrowIfCannotWrite()
    {
        if (_writesCompleted)
        {
            throw new InvalidOperationException("The request stream was already completed.");
        }

        if (_final is { } final)
        {
            throw final.Status.StatusCode == StatusCode.OK
                ? new InvalidOperationException("The call already finished.")
                : Error(final);
        }
    }
}
