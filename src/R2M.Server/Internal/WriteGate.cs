using Google.Protobuf;
using Grpc.Core;
using R2M.Alignment;

namespace R2M.Server.Internal;

/// <summary>
/// Test seam: runs after every optimizer step of an Update or Optimize on the scratch copy, before the
/// write can publish (fault injection in tests: throw, cancel, move the clock). Not registered in production.
/// </summary>
internal interface IWriteStepHook
{
    void AfterStep(string write, int step, CancellationToken cancellationToken);
}

/// <summary>What a running write sees: its cancellation (caller gone, or deadline on the injected clock) and the step callback.</summary>
internal sealed class WriteScope(string kind, CancellationToken cancellation, IWriteStepHook? hook)
{
    public CancellationToken Cancellation { get; } = cancellation;

    /// <summary>For R2M.Alignment's per-step callback: the test hook, then a cancellation check.</summary>
    public void AfterStep(int step)
    {
        hook?.AfterStep(kind, step, Cancellation);
        Cancellation.ThrowIfCancellationRequested();
    }
}

/// <summary>
/// Serializes the writes (Optimize, Update, checkpoint save/load, Reset) and makes Update and Optimize
/// transactions: the write trains the scratch copy and publishes with one swap only at its very end;
/// a cancelled, failed, timed-out or non-finite write rolls the scratch copy back, so neither the served
/// weights nor the next write's starting point change. A caller that disconnects cancels its write
/// (aborted cleanly, nothing applied or remembered); a write that published before the cancellation
/// arrived is remembered under its request_id, so a re-send gets the first reply. Either way a
/// request_id is applied at most once.
/// </summary>
internal sealed class WriteGate(WriteReplies replies, TimeProvider time, IWriteStepHook? hook = null)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Waits until no write runs (Info wait_for_writes): every write holds the gate until it has published.</summary>
    public async Task WaitIdleAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        _gate.Release();
    }

    /// <summary>Runs <paramref name="body"/> alone (checkpoints, Reset).</summary>
    public async Task<T> RunAsync<T>(Func<Task<T>> body, CancellationToken ct)
    {
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await body().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// One transactional write of <paramref name="kind"/> ("Update", "Optimize"). A remembered
    /// <paramref name="requestId"/> returns its first reply; otherwise <paramref name="body"/> trains the
    /// scratch copy and publishes as its last act; if it throws, <paramref name="rollback"/> restores the
    /// scratch copy and the error says why (mapped to statuses by <see cref="ErrorMap"/>): CANCELLED,
    /// DEADLINE_EXCEEDED (the call's deadline, on the injected clock), FAILED_PRECONDITION naming the
    /// non-finite step, or what the body threw.
    /// </summary>
    public async Task<T> RunAsync<T>(string kind, string requestId, ServerCallContext call, Func<WriteScope, Task<T>> body, Action rollback)
        where T : class, IMessage<T>, IDeepCloneable<T>
    {
        using var deadline = DeadlineSource(call.Deadline);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(call.CancellationToken, deadline.Token);
        await _gate.WaitAsync(linked.Token).ConfigureAwait(false);
        try
        {
            if (replies.TryGet<T>(kind, requestId, out var earlier))
            {
                return earlier; // a re-send of an applied call: not applied twice
            }

            T reply;
            try
            {
                reply = await body(new WriteScope(kind, linked.Token, hook)).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                rollback();
                var explained = Explain(kind, e, deadline.IsCancellationRequested && !call.CancellationToken.IsCancellationRequested);
                if (ReferenceEquals(explained, e)) throw;
                throw explained;
            }

            replies.Remember(kind, requestId, reply);
            return reply;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Cancels at the call's deadline on the injected clock (no timer for deadlines beyond 30 days, the timer limit; gRPC's own fires anyway).</summary>
    private CancellationTokenSource DeadlineSource(DateTime deadline)
    {
        if (deadline == DateTime.MaxValue) return new CancellationTokenSource();
        var left = new DateTimeOffset(DateTime.SpecifyKind(deadline, DateTimeKind.Utc)) - time.GetUtcNow();
        if (left <= TimeSpan.Zero)
        {
            var past = new CancellationTokenSource();
            past.Cancel();
            return past;
        }

        return left > TimeSpan.FromDays(30) ? new CancellationTokenSource() : new CancellationTokenSource(left, time);
    }

    private static Exception Explain(string kind, Exception e, bool deadlinePassed) => e switch
    {
        OperationCanceledException when deadlinePassed => new WriteDeadlineException($"{kind}: the call's deadline passed before the write finished; nothing was applied"),
        NonFiniteTrainingException n => new PreconditionException($"{kind}: {n.Message}; nothing was applied (the served weights and the next write's starting point are unchanged)"),
        _ => e,
    };
}
