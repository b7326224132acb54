using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Api.V1;

namespace R2M.Server.Internal;

/// <summary>
/// One Score call (reward_model.proto): items assembled from their chunks, validated, queued to the
/// shared batcher and answered in completion order. Memory is bounded per item, per call and server
/// wide: an item holds its bytes in the call's <see cref="StreamBudget"/> from its first message
/// until its reply is written (<see cref="OpenItem.Bytes"/>: a fixed overhead, four times the first
/// message without hidden states, which bounds its text and token ids, and the decoded hidden
/// states). Hidden states above R2M:MaxHiddenStateBytesPerItem, or that the server-wide
/// R2M:MaxInFlightBytes has no room for, fail that item in-band with RESOURCE_EXHAUSTED (its later
/// chunks are read and dropped); at R2M:MaxInFlightBytesPerStream the call stops reading until its
/// own replies are written (backpressure), so a client that never reads replies holds at most that.
/// </summary>
internal sealed class ScoreStream
{
    private const long ItemOverheadBytes = 256;

    private readonly ScoreServices _s;
    private readonly StreamBudget _budget;
    private readonly string _method;
    private readonly Channel<(ScoreReply Reply, long Bytes)> _replies = Channel.CreateUnbounded<(ScoreReply, long)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _lock = new();
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    private int _outstanding;
    private TaskCompletionSource? _drained;
    private OpenItem? _open;

    private ScoreStream(ScoreServices services, StreamBudget budget, string method) =>
        (_s, _budget, _method) = (services, budget, method);

    private long MaxElements => _s.Options.MaxHiddenStateBytesPerItem / 4;

    /// <summary>Serves one Score call to its end.</summary>
    public static async Task RunAsync(ScoreServices services,
        IAsyncStreamReader<ScoreRequest> requests, IServerStreamWriter<ScoreReply> responses, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var stream = new ScoreStream(services, services.Budget.OpenStream(), context.Method);
        var writer = stream.WriteRepliesAsync(responses, ct);
        try
        {
            while (await requests.MoveNext(ct).ConfigureAwait(false))
            {
                var req = requests.Current;
                var hidden = req.HiddenStates;
                req.HiddenStates = null; // decoded into the item; the wire bytes are not kept
                await stream._budget.WaitForRoomAsync(stream.Need(req, hidden), stream._open?.Bytes ?? 0,
                    () => ServerLog.ScoreStreamPaused(services.Logger, stream._budget.Held, stream._budget.Capacity), ct).ConfigureAwait(false);
                stream.Accept(req, hidden);
            }

            stream.EndOfInput();
            await stream.DrainAsync().ConfigureAwait(false);
        }
        catch
        {
            stream.Close();
            _ = writer.ContinueWith(static t => t.Exception, TaskContinuationOptions.OnlyOnFaulted); // the call's own error is the one reported
            throw;
        }

        stream.Close();
        await writer.ConfigureAwait(false);
    }

    /// <summary>Bytes <paramref name="req"/> will add to the call: a new item's fixed share and the growth of its hidden-state buffer.</summary>
    private long Need(ScoreRequest req, Tensor? hidden)
    {
        if (_open is { Error: not null }) return 0; // chunks of a failed item are read and dropped
        var item = _open;
        var start = item is null ? ItemOverheadBytes + 4L * req.CalculateSize() : 0;
        var width = _s.Models.Policy.Width;
        if (hidden is not { Shape.Count: 2 } || hidden.Shape[1] != width || hidden.Shape[0] < 1
            || hidden.Shape[0] > (MaxElements - (item?.Elements ?? 0)) / width)
        {
            return start; // refused by CheckedRows without taking anything
        }

        return start + 4 * OpenItem.Growth(item, hidden.Shape[0] * width, MaxElements);
    }

    private void Accept(ScoreRequest req, Tensor? hidden)
    {
        if (_open is { } open)
        {
            Continue(open, req, hidden);
            return;
        }

        if (req.ChunkIndex != 0)
        {
            throw new InvalidInputException($"chunk_index {req.ChunkIndex} for item_id '{req.ItemId}' has no open first chunk (chunk_index 0)");
        }

        if (string.IsNullOrEmpty(req.ItemId))
        {
            throw new InvalidInputException("item_id is empty; every Score item needs an id unique among the stream's items in flight");
        }

        RequestLimits.CheckId("item_id", req.ItemId);
        lock (_lock)
        {
            if (_inFlight.Contains(req.ItemId))
            {
                throw new InvalidInputException($"item_id '{req.ItemId}' is reused while still in flight");
            }

            if (_inFlight.Count >= _s.Options.MaxScoreItemsInFlight)
            {
                throw new LimitExceededException($"more than {_s.Options.MaxScoreItemsInFlight} Score items in flight on this stream (R2M:MaxScoreItemsInFlight); wait for replies");
            }

            _inFlight.Add(req.ItemId);
        }

        var item = new OpenItem(req.ItemId, req);
        Take(item, ItemOverheadBytes + 4L * req.CalculateSize(), $"item '{item.Id}'");
        Collect(item, hidden, "hidden_states");
        if (req.MoreChunks) _open = item;
        else Finish(item);
    }

    private void Continue(OpenItem open, ScoreRequest req, Tensor? hidden)
    {
        if (req.ItemId != open.Id)
        {
            throw new InvalidInputException($"item_id '{req.ItemId}' arrived while the chunks of item '{open.Id}' were still open (chunks of two items interleaved)");
        }

        if (req.ChunkIndex != open.NextChunk)
        {
            throw new InvalidInputException($"item '{open.Id}': chunk_index {req.ChunkIndex} out of order, expected {open.NextChunk}");
        }

        Collect(open, hidden, $"hidden_states (chunk {req.ChunkIndex})");
        if (!req.MoreChunks)
        {
            _open = null;
            Finish(open);
        }
    }

    /// <summary>Decodes one chunk into the item's buffer; a failure (bad tensor, a cap) fails the item in-band and drops its buffer.</summary>
    private void Collect(OpenItem item, Tensor? hidden, string field)
    {
        item.NextChunk++;
        if (item.Error is not null || hidden is null) return;
        var name = $"item '{item.Id}' {field}";
        try
        {
            var width = _s.Models.Policy.Width;
            var max = _s.Options.MaxHiddenStateBytesPerItem;
            var taken = item.Elements > 0 ? $", {4 * item.Elements} taken by its earlier chunks" : "";
            var rows = TensorCodec.CheckedRows(hidden, width, MaxElements - item.Elements, $"R2M:MaxHiddenStateBytesPerItem ({max} bytes per item{taken})", name);
            var added = rows * width;
            var growth = OpenItem.Growth(item, added, MaxElements);
            if (growth > 0)
            {
                Take(item, 4 * growth, name);
                if (item.Error is not null) return;
                item.Grow(growth);
            }

            TensorCodec.DecodeInto(hidden, width, item.Buffer.AsSpan(item.Elements, added), name);
            item.Elements += added;
            item.Rows += rows;
        }
        catch (Exception e)
        {
            Fail(item, e);
        }
    }

    private void Take(OpenItem item, long bytes, string what)
    {
        if (item.Error is not null) return;
        try
        {
            _budget.Take(bytes, what);
            item.Bytes += bytes;
        }
        catch (LimitExceededException e)
        {
            Fail(item, e);
        }
    }

    /// <summary>The item will be answered with <paramref name="e"/>; its hidden states are dropped and their bytes given back now.</summary>
    private void Fail(OpenItem item, Exception e)
    {
        item.Error ??= e;
        var buffer = 4L * item.Buffer.Length;
        item.Buffer = [];
        item.Bytes -= buffer;
        _budget.Give(buffer);
    }

    private void Finish(OpenItem item)
    {
        Task<ScoreOutcome> task;
        try
        {
            task = item.Error is { } error ? Task.FromException<ScoreOutcome>(error) : _s.Batcher.EnqueueAsync(Build(item));
        }
        catch (Exception e)
        {
            task = Task.FromException<ScoreOutcome>(e);
        }

        lock (_lock) _outstanding++;
        task.ContinueWith(t => Reply(item, t), TaskScheduler.Default);
    }

    private ScoreWork Build(OpenItem item)
    {
        var first = item.First!;
        item.First = null; // its texts are tokenized below; nothing else of the message is needed
        var field = $"item '{item.Id}'";
        var variant = first.Options?.Variant ?? VariantConfig.Unspecified;
        var settings = Alignment.VariantSettings.For(ItemResolver.ToAlignment(variant, $"{field} options.variant"));
        switch (first.SourceCase)
        {
            case ScoreRequest.SourceOneofCase.RolloutId:
                RequestLimits.CheckId($"{field} rollout_id", first.RolloutId);
                var r = _s.Store.Get(first.RolloutId, $"{field} rollout_id");
                if (r.RmTokensError is { } why) throw new InvalidInputException($"{field}: {why}");
                if (item.Rows > 0) throw new InvalidInputException($"{field} gives hidden_states with a rollout_id; the stored hidden states are used, send none");
                var f = r.Feedback;
                var omega = ItemResolver.Omega(variant, settings, first.Options?.Schedule, f.Rows > 0, $"{field} options");
                NoteSchedule(first);
                return new ScoreWork { RmTokens = r.RmTokens, Hidden = f.Hidden, Rows = f.Rows, Omega = omega, Entry = r, Feedback = settings.Feedback };
            case ScoreRequest.SourceOneofCase.Inline:
                var tokens = ItemResolver.RmTokens(_s.Models.Reward, first.Inline, _s.Options.MaxTextBytes, $"{field} inline", out int unknown);
                item.UnknownTokens = unknown;
                var o = ItemResolver.Omega(variant, settings, first.Options?.Schedule, item.Rows > 0, $"{field} options");
                NoteSchedule(first);
                return new ScoreWork { RmTokens = tokens, Hidden = item.TakeHidden(), Rows = item.Rows, Omega = o, Feedback = settings.Feedback };
            default:
                throw new InvalidInputException($"{field} has neither rollout_id nor inline");
        }
    }

    private void NoteSchedule(ScoreRequest first)
    {
        if (first.Options?.Schedule is { TotalSteps: > 0 } s) _s.Reward.LastSchedule = s;
    }

    private void Reply(OpenItem item, Task<ScoreOutcome> t)
    {
        var reply = new ScoreReply { ItemId = item.Id };
        if (t.IsCompletedSuccessfully)
        {
            var o = t.Result;
            (reply.Reward, reply.VanillaReward, reply.Omega, reply.RmVersion) = (o.Reward, o.VanillaReward, o.Omega, o.RmVersion);
            reply.UnknownTokens = (uint)item.UnknownTokens;
        }
        else
        {
            var status = _s.Errors.ForItem(_method, item.Id, t.Exception?.InnerException ?? new OperationCanceledException());
            reply.Error = new ItemError { Code = (int)status.StatusCode, Message = status.Detail };
            reply.RmVersion = _s.Reward.Version;
        }

        lock (_lock) _inFlight.Remove(item.Id); // before the reply leaves: the client may reuse the id at once
        // Its bytes go back once the reply is written (or now, when the call has ended).
        if (!_replies.Writer.TryWrite((reply, item.Bytes))) _budget.Give(item.Bytes);
        lock (_lock)
        {
            if (--_outstanding == 0) _drained?.TrySetResult();
        }
    }

    /// <summary>Writes replies as they come; after a failed write it keeps draining, so every item's bytes are given back.</summary>
    private async Task WriteRepliesAsync(IServerStreamWriter<ScoreReply> responses, CancellationToken ct)
    {
        await Task.Yield();
        Exception? failed = null;
        await foreach (var (reply, bytes) in _replies.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                if (failed is null) await responses.WriteAsync(reply, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                failed = e;
            }
            finally
            {
                _budget.Give(bytes);
            }
        }

        if (failed is not null) ExceptionDispatchInfo.Throw(failed);
    }

    private void EndOfInput()
    {
        if (_open is { } open)
        {
            throw new InvalidInputException($"the stream ended while item '{open.Id}' still announced more_chunks (last chunk_index {open.NextChunk - 1})");
        }
    }

    private Task DrainAsync()
    {
        lock (_lock)
        {
            if (_outstanding == 0) return Task.CompletedTask;
            _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _drained.Task;
        }
    }

    /// <summary>End of the call: a half-received item gives its bytes back; later replies give theirs back as they finish.</summary>
    private void Close()
    {
        if (_open is { } open)
        {
            _open = null;
            _budget.Give(open.Bytes);
        }

        _replies.Writer.TryComplete();
    }

    /// <summary>An item whose chunks are arriving or that waits for its reply.</summary>
    private sealed class OpenItem(string id, ScoreRequest first)
    {
        public string Id { get; } = id;
        public ScoreRequest? First { get; set; } = first;

        /// <summary>Hidden states (Rows, D_p) decoded so far, in a buffer of capacity Buffer.Length floats.</summary>
        public float[] Buffer { get; set; } = [];
        public int Elements { get; set; }
        public int Rows { get; set; }
        public long NextChunk { get; set; }
        public Exception? Error { get; set; }

        /// <summary>Characters of the item's inline texts outside the RM's vocabulary (ScoreReply.unknown_tokens).</summary>
        public int UnknownTokens { get; set; }

        /// <summary>Bytes taken from the call's budget for this item.</summary>
        public long Bytes { get; set; }

        /// <summary>
        /// Floats the buffer must grow by to hold <paramref name="added"/> more: at least doubling (many
        /// small chunks cost linear time), never past the per-item cap.
        /// </summary>
        public static long Growth(OpenItem? item, long added, long max)
        {
            long capacity = item?.Buffer.Length ?? 0, used = item?.Elements ?? 0;
            if (used + added <= capacity) return 0;
            return Math.Max(used + added, Math.Min(2 * capacity, max)) - capacity;
        }

        public void Grow(long floats)
        {
            var buffer = new float[Buffer.Length + floats];
            Buffer.AsSpan(0, Elements).CopyTo(buffer);
            Buffer = buffer;
        }

        /// <summary>The decoded (Rows, D_p) values, exactly sized (a trimmed copy when the buffer is larger).</summary>
        public float[] TakeHidden()
        {
            var values = Elements == Buffer.Length ? Buffer : Buffer.AsSpan(0, Elements).ToArray();
            Buffer = [];
            return values;
        }
    }
}

/// <summary>What every Score call shares: the DI singletons a <see cref="ScoreStream"/> reads.</summary>
internal sealed record ScoreServices(
    R2MServerOptions Options, HostedModels Models, RolloutStore Store, ScoreBatcher Batcher, RewardHost Reward,
    ErrorReporter Errors, InFlightBudget Budget, ILogger<ScoreStream> Logger);
