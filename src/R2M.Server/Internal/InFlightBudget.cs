namespace R2M.Server.Internal;

/// <summary>
/// The server-wide budget of bytes that calls hold (R2M:MaxInFlightBytes): Score items not yet
/// answered and the request messages of running calls. Every take is matched by exactly one give.
/// One DI singleton; each call takes through its own <see cref="StreamBudget"/>.
/// </summary>
internal sealed class InFlightBudget(R2MServerOptions options, ServerMetrics metrics)
{
    private long _held;

    public long Capacity => options.MaxInFlightBytes;

    public long Held => Interlocked.Read(ref _held);

    /// <summary>A budget for one call, capped at R2M:MaxInFlightBytesPerStream and drawing on this one.</summary>
    public StreamBudget OpenStream() => new(this, options.MaxInFlightBytesPerStream);

    /// <summary>Takes <paramref name="bytes"/> when they fit under the capacity; false (nothing taken) otherwise.</summary>
    public bool TryTake(long bytes)
    {
        var held = Interlocked.Read(ref _held);
        while (true)
        {
            if (bytes > Capacity - held) return false;
            var seen = Interlocked.CompareExchange(ref _held, held + bytes, held);
            if (seen == held) break;
            held = seen;
        }

        metrics.SetInFlightBytes(held + bytes);
        return true;
    }

    public void Give(long bytes) => metrics.SetInFlightBytes(Interlocked.Add(ref _held, -bytes));
}

/// <summary>
/// The bytes one call holds, under R2M:MaxInFlightBytesPerStream and, through the server's
/// <see cref="InFlightBudget"/>, R2M:MaxInFlightBytes. <see cref="Take"/> refuses with
/// RESOURCE_EXHAUSTED naming the cap; <see cref="WaitForRoomAsync"/> is the backpressure of Score
/// (the stream reads its next message only once its own replies have made room).
/// </summary>
internal sealed class StreamBudget(InFlightBudget server, long capacity)
{
    private readonly Lock _lock = new();
    private long _held;
    private TaskCompletionSource? _room;

    public long Capacity => capacity;

    public long Held
    {
        get
        {
            lock (_lock) return _held;
        }
    }

    /// <summary>Takes <paramref name="bytes"/> for <paramref name="what"/>; throws <see cref="LimitExceededException"/> naming the cap that has no room (nothing taken then).</summary>
    public void Take(long bytes, string what)
    {
        lock (_lock)
        {
            if (bytes > capacity - _held)
            {
                throw new LimitExceededException($"{what} needs {bytes} bytes while this call holds {_held}: above R2M:MaxInFlightBytesPerStream ({capacity} bytes)");
            }

            if (!server.TryTake(bytes))
            {
                throw new LimitExceededException($"{what} needs {bytes} bytes while the server's calls hold {server.Held}: above R2M:MaxInFlightBytes ({server.Capacity} bytes); retry later");
            }

            _held += bytes;
        }
    }

    /// <summary>Gives back bytes taken earlier and wakes a waiting reader.</summary>
    public void Give(long bytes)
    {
        if (bytes == 0) return;
        TaskCompletionSource? room;
        lock (_lock)
        {
            _held -= bytes;
            (room, _room) = (_room, null);
        }

        server.Give(bytes);
        room?.TrySetResult();
    }

    /// <summary>
    /// Completes once <paramref name="bytes"/> more fit under this call's cap, or at once when
    /// nothing but <paramref name="own"/> (the bytes of the item being read) is held: the caps nest
    /// (options validation), so an item alone always fits and waiting never deadlocks, since only
    /// the call's own queued items, which finish without it, can give bytes back.
    /// <paramref name="onWait"/> runs once, when it first has to wait.
    /// </summary>
    public async ValueTask WaitForRoomAsync(long bytes, long own, Action onWait, CancellationToken ct)
    {
        var waited = false;
        while (true)
        {
            Task room;
            lock (_lock)
            {
                if (_held - own <= 0 || bytes <= capacity - _held) return;
                _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                room = _room.Task;
            }

            if (!waited) onWait();
            waited = true;
            await room.WaitAsync(ct).ConfigureAwait(false);
        }
    }
}
