using System.Threading.Channels;
using Grpc.Core;
using R2M.Api.V1;

namespace R2M.Server.Internal.Services;

/// <summary>RewardModel service (reward_model.proto): thin handlers over the reward model services, on the generated base.</summary>
internal sealed partial class RewardModelService(
    ModelHost host, RewardHost reward, HostedModels models, RolloutStore store, ScoreBatcher batcher, UpdateTrainer updates, R2MServerOptions options)
    : RewardModel.RewardModelBase
{
    private R2MServerOptions Options => options;
    private HostedModels Models => models;
    private RolloutStore Store => store;
    private ScoreBatcher Batcher => batcher;
    private RewardHost Reward => reward;

    public override async Task Score(IAsyncStreamReader<ScoreRequest> requests, IServerStreamWriter<ScoreReply> responses, ServerCallContext context)
    {
        host.EnsureReady();
        var ct = context.CancellationToken;
        // One writer per output stream: replies of concurrently finishing items queue here.
        var replies = System.Threading.Channels.Channel.CreateUnbounded<ScoreReply>(new UnboundedChannelOptions { SingleReader = true });
        var writer = Task.Run(async () =>
        {
            await foreach (var reply in replies.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await responses.WriteAsync(reply, ct).ConfigureAwait(false);
            }
        }, ct);
        var stream = new ScoreStream(this, replies.Writer);
        try
        {
            while (await requests.MoveNext(ct).ConfigureAwait(false))
            {
                stream.Accept(requests.Current);
            }

            stream.EndOfInput();
            await stream.DrainAsync().ConfigureAwait(false);
        }
        finally
        {
            replies.Writer.TryComplete();
        }

        await writer.ConfigureAwait(false);
    }

    /// <summary>Per-stream state: items in flight and the item whose hidden-state chunks are still arriving.</summary>
    private sealed class ScoreStream(RewardModelService service, ChannelWriter<ScoreReply> replies)
    {
        private readonly Lock _lock = new();
        private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
        private readonly List<Task> _pending = [];
        private OpenItem? _open;

        public void Accept(ScoreRequest req)
        {
            if (_open is { } open)
            {
                Continue(open, req);
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

            lock (_lock)
            {
                if (_inFlight.Contains(req.ItemId))
                {
                    throw new InvalidInputException($"item_id '{req.ItemId}' is reused while still in flight");
                }

                if (_inFlight.Count >= service.Options.MaxScoreItemsInFlight)
                {
                    throw new LimitExceededException($"more than {service.Options.MaxScoreItemsInFlight} Score items in flight on this stream (R2M:MaxScoreItemsInFlight); wait for replies");
                }

                _inFlight.Add(req.ItemId);
            }

            var item = new OpenItem(req.ItemId, req);
            Collect(item, req, "hidden_states");
            if (req.MoreChunks)
            {
                _open = item;
            }
            else
            {
                Finish(item);
            }
        }

        private void Continue(OpenItem open, ScoreRequest req)
        {
            if (req.ItemId != open.Id)
            {
                throw new InvalidInputException($"item_id '{req.ItemId}' arrived while the chunks of item '{open.Id}' were still open (chunks of two items interleaved)");
            }

            if (req.ChunkIndex != open.NextChunk)
            {
                throw new InvalidInputException($"item '{open.Id}': chunk_index {req.ChunkIndex} out of order, expected {open.NextChunk}");
            }

            Collect(open, req, $"hidden_states (chunk {req.ChunkIndex})");
            if (!req.MoreChunks)
            {
                _open = null;
                Finish(open);
            }
        }

        private void Collect(OpenItem item, ScoreRequest req, string field)
        {
            item.NextChunk++;
            if (item.Error is not null || req.HiddenStates is null) return;
            try
            {
                item.Rows += TensorCodec.DecodeRows(req.HiddenStates, service.Models.Policy.Width, $"item '{item.Id}' {field}", item.Hidden);
            }
            catch (Exception e)
            {
                item.Error = e;
            }
        }

        private void Finish(OpenItem item)
        {
            Task<ScoreOutcome> task;
            try
            {
                task = item.Error is { } error ? Task.FromException<ScoreOutcome>(error) : service.Batcher.EnqueueAsync(Build(item));
            }
            catch (Exception e)
            {
                task = Task.FromException<ScoreOutcome>(e);
            }

            var done = task.ContinueWith(t => Reply(item.Id, t), TaskScheduler.Default);
            lock (_lock) _pending.Add(done);
        }

        private ScoreWork Build(OpenItem item)
        {
            var first = item.First;
            var field = $"item '{item.Id}'";
            var variant = first.Options?.Variant ?? VariantConfig.Unspecified;
            switch (first.SourceCase)
            {
                case ScoreRequest.SourceOneofCase.RolloutId:
                    var r = service.Store.Get(first.RolloutId, $"{field} rollout_id");
                    if (r.RmTokensError is { } why) throw new InvalidInputException($"{field}: {why}");
                    if (item.Rows > 0) throw new InvalidInputException($"{field} gives hidden_states with a rollout_id; the stored hidden states are used, send none");
                    var f = r.Feedback;
                    var settings = Settings(variant, field);
                    var omega = ItemResolver.Omega(variant, settings, first.Options?.Schedule, f.Rows > 0, $"{field} options");
                    NoteSchedule(first);
                    return new ScoreWork { RmTokens = r.RmTokens, Hidden = f.Hidden, Rows = f.Rows, Omega = omega, Entry = r, Feedback = settings.Feedback };
                case ScoreRequest.SourceOneofCase.Inline:
                    var tokens = ItemResolver.RmTokens(service.Models.Reward, first.Inline, $"{field} inline");
                    var s = Settings(variant, field);
                    var o = ItemResolver.Omega(variant, s, first.Options?.Schedule, item.Rows > 0, $"{field} options");
                    NoteSchedule(first);
                    return new ScoreWork { RmTokens = tokens, Hidden = [.. item.Hidden], Rows = item.Rows, Omega = o, Feedback = s.Feedback };
                default:
                    throw new InvalidInputException($"{field} has neither rollout_id nor inline");
            }
        }

        /// <summary>The variant resolved once per item (ItemResolver.Omega and the feedback source both read it).</summary>
        private static Alignment.VariantSettings Settings(VariantConfig v, string field) =>
            Alignment.VariantSettings.For(ItemResolver.ToAlignment(v, $"{field} options.variant"));

        private void NoteSchedule(ScoreRequest first)
        {
            if (first.Options?.Schedule is { TotalSteps: > 0 } s) service.Reward.LastSchedule = s;
        }

        private void Reply(string id, Task<ScoreOutcome> t)
        {
            var reply = new ScoreReply { ItemId = id };
            if (t.IsCompletedSuccessfully)
            {
                var o = t.Result;
                (reply.Reward, reply.VanillaReward, reply.Omega, reply.RmVersion) = (o.Reward, o.VanillaReward, o.Omega, o.RmVersion);
            }
            else
            {
                var status = ErrorMap.ToStatus(t.Exception?.InnerException ?? new OperationCanceledException(), service.Options.DetailedErrors);
                reply.Error = new ItemError { Code = (int)status.StatusCode, Message = status.Detail };
                reply.RmVersion = service.Reward.Version;
            }

            lock (_lock) _inFlight.Remove(id);
            replies.TryWrite(reply);
        }

        public void EndOfInput()
        {
            if (_open is { } open)
            {
                throw new InvalidInputException($"the stream ended while item '{open.Id}' still announced more_chunks (last chunk_index {open.NextChunk - 1})");
            }
        }

        public Task DrainAsync()
        {
            lock (_lock) return Task.WhenAll(_pending);
        }
    }

    private sealed class OpenItem(string id, ScoreRequest first)
    {
        public string Id { get; } = id;
        public ScoreRequest First { get; } = first;
        public List<float> Hidden { get; } = [];
        public int Rows { get; set; }
        public int NextChunk { get; set; }
        public Exception? Error { get; set; }
    }
}
