using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using R2M.Api.V1;
using R2M.Client.Internal;

namespace R2M.Client;

/// <summary>
/// Typed client of the r2m.v1 services (Policy, RewardModel, Admin): the generated clients of
/// R2M.Api over one <see cref="GrpcChannel"/> (Grpc.Net.Client). Every call has a deadline
/// (<see cref="R2MClientOptions.CallTimeout"/>), carries the API key, counts against the
/// concurrency cap and is retried on transient failures; a call that fails for good throws
/// <see cref="R2MClientException"/> with a message naming call, status and attempts. Methods the
/// protos declare idempotent are retried by the channel's retry policy; Optimize and Update are not
/// idempotent (each application advances a version): all their attempts carry the same request_id,
/// so the server answers a re-send of an applied call with its first reply (see
/// <see cref="OptimizeAsync"/>).
/// Thread-safe; one instance per server.
/// </summary>
public sealed class R2MClient : IDisposable
{
    private static readonly string InfoCall = Label(nameof(Admin), nameof(Admin.AdminClient.Info));
    private static readonly string GenerateCall = Label(nameof(Policy), nameof(Policy.PolicyClient.Generate));
    private static readonly string TeacherForceCall = Label(nameof(Policy), nameof(Policy.PolicyClient.TeacherForce));
    private static readonly string ScoreCall = Label(nameof(RewardModel), nameof(RewardModel.RewardModelClient.Score));
    private static readonly string OptimizeCall = Label(nameof(Policy), nameof(Policy.PolicyClient.Optimize));
    private static readonly string UpdateCall = Label(nameof(RewardModel), nameof(RewardModel.RewardModelClient.Update));
    private static readonly string SaveCall = Label(nameof(Admin), nameof(Admin.AdminClient.SaveCheckpoint));
    private static readonly string LoadCall = Label(nameof(Admin), nameof(Admin.AdminClient.LoadCheckpoint));
    private static readonly string ResetCall = Label(nameof(Admin), nameof(Admin.AdminClient.Reset));

    /// <summary>Items per Optimize message: keeps each message far below the size limits.</summary>
    private const int ItemsPerMessage = 256;

    private readonly GrpcChannel _channel;
    private readonly Policy.PolicyClient _policy;
    private readonly RewardModel.RewardModelClient _reward;
    private readonly Admin.AdminClient _admin;
    private readonly CallRunner _runner;

    public R2MClient(R2MClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        var observer = new AttemptObserver(options.TimeProvider);
        _channel = ClientChannel.Create(options, observer);
        CallInvoker invoker = options.ApiKey is { Length: > 0 } key ? _channel.Intercept(new ApiKeyInterceptor(key)) : _channel.CreateCallInvoker();
        _policy = new Policy.PolicyClient(invoker);
        _reward = new RewardModel.RewardModelClient(invoker);
        _admin = new Admin.AdminClient(invoker);
        _runner = new CallRunner(options, observer);
    }

    public R2MClientOptions Options { get; }

    /// <summary>Most calls that were in flight at once so far (never above MaxConcurrency).</summary>
    public int PeakConcurrency => _runner.PeakInFlight;

    /// <summary>Admin.Info: models, versions, store statistics and limits.</summary>
    public Task<InfoReply> InfoAsync(CancellationToken cancellationToken = default) => InfoAsync(new InfoRequest(), cancellationToken);

    /// <summary>Admin.Info with <see cref="InfoRequest.WaitForWrites"/>: the versions after every write in flight.</summary>
    private Task<InfoReply> InfoAfterWritesAsync(CancellationToken cancellationToken) => InfoAsync(new InfoRequest { WaitForWrites = true }, cancellationToken);

    private Task<InfoReply> InfoAsync(InfoRequest request, CancellationToken cancellationToken) =>
        _runner.RunRetriedByChannelAsync(InfoCall, o => _admin.InfoAsync(request, o).ResponseAsync, cancellationToken);

    /// <summary>
    /// Policy.Generate: all rollouts of the request, chunked hidden states reassembled, ordered by
    /// (prompt_index, sample_index).
    /// </summary>
    public Task<IReadOnlyList<Rollout>> GenerateAsync(GenerateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _runner.RunRetriedByChannelAsync<IReadOnlyList<Rollout>>(GenerateCall, o => ReadRolloutsAsync(_policy.Generate(request, o), o.CancellationToken), cancellationToken);
    }

    /// <summary>
    /// Policy.TeacherForce: one stored rollout per (prompt, response) item, chunked hidden states
    /// reassembled, in the items' order (prompt_index is the item's index).
    /// </summary>
    public Task<IReadOnlyList<Rollout>> TeacherForceAsync(TeacherForceRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return _runner.RunRetriedByChannelAsync<IReadOnlyList<Rollout>>(TeacherForceCall, o => ReadRolloutsAsync(_policy.TeacherForce(request, o), o.CancellationToken), cancellationToken);
    }

    private static async Task<IReadOnlyList<Rollout>> ReadRolloutsAsync(AsyncServerStreamingCall<Rollout> call, CancellationToken ct)
    {
        using (call)
        {
            var assembler = new RolloutAssembler();
            while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
            {
                assembler.Add(call.ResponseStream.Current);
            }

            return assembler.Complete();
        }
    }

    /// <summary>
    /// RewardModel.Score over one stream: sends every item (item_id must be unique; chunked inline
    /// items are sent as consecutive messages with the same id), reads every reply. Replies come
    /// back in the order of the items' first messages; item-level errors stay in the replies
    /// (<see cref="ScoreReply.Error"/>) for the caller to judge.
    /// </summary>
    public Task<IReadOnlyList<ScoreReply>> ScoreAsync(IReadOnlyList<ScoreRequest> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var order = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (ScoreRequest m in messages)
        {
            if (m.ChunkIndex == 0 && !seen.Add(m.ItemId))
            {
                throw new ArgumentException($"Score item_id '{m.ItemId}' is used by two items", nameof(messages));
            }

            if (m.ChunkIndex == 0)
            {
                order.Add(m.ItemId);
            }
        }

        return _runner.RunRetriedByChannelAsync<IReadOnlyList<ScoreReply>>(ScoreCall, async o =>
        {
            using var call = _reward.Score(o);
            var replies = new Dictionary<string, ScoreReply>(StringComparer.Ordinal);
            // The server bounds the items in flight per stream (RESOURCE_EXHAUSTED beyond,
            // reward_model.proto): a window of unanswered items, released by each reply.
            using var window = new SemaphoreSlim(Options.MaxScoreItemsInFlight, Options.MaxScoreItemsInFlight);
            Task reader = Task.Run(async () =>
            {
                while (await call.ResponseStream.MoveNext(o.CancellationToken).ConfigureAwait(false))
                {
                    ScoreReply r = call.ResponseStream.Current;
                    replies[r.ItemId] = r;
                    window.Release();
                }
            }, o.CancellationToken);
            try
            {
                foreach (ScoreRequest m in messages)
                {
                    if (m.ChunkIndex == 0)
                    {
                        Task slot = window.WaitAsync(o.CancellationToken);
                        if (await Task.WhenAny(slot, reader).ConfigureAwait(false) == reader)
                        {
                            break; // the server ended the stream early; its status is read below
                        }

                        await slot.ConfigureAwait(false);
                    }

                    await call.RequestStream.WriteAsync(m, o.CancellationToken).ConfigureAwait(false);
                }

                await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A write fails when the server ended the stream; its status (read side) is the real error.
                await reader.ConfigureAwait(false);
                throw;
            }

            await reader.ConfigureAwait(false);
            var missing = order.Where(id => !replies.ContainsKey(id)).Take(5).ToArray();
            if (missing.Length > 0)
            {
                throw new RpcException(new Status(StatusCode.Internal,
                    $"the Score stream ended without replies for {order.Count - replies.Count} item(s), e.g. {string.Join(", ", missing)}"));
            }

            return order.Select(id => replies[id]).ToArray();
        }, cancellationToken);
    }

    /// <summary>Scores stored rollouts by id under one variant and schedule; replies in the ids' order.</summary>
    public Task<IReadOnlyList<ScoreReply>> ScoreRolloutsAsync(IReadOnlyList<string> rolloutIds, ScoreOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(rolloutIds);
        ArgumentNullException.ThrowIfNull(options);
        var messages = rolloutIds.Select((id, i) => new ScoreRequest
        {
            ItemId = i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            RolloutId = id,
            Options = options,
        }).ToArray();
        return ScoreAsync(messages, cancellationToken);
    }

    /// <summary>
    /// Policy.Optimize: config on the first message, items spread over messages of up to 256.
    /// Not idempotent, yet safe to retry: every attempt carries the same request_id (a new one unless
    /// <paramref name="config"/> has one), and the server answers a re-send of a call it already
    /// applied with that call's reply instead of applying it again. When retries are allowed
    /// (MaxAttempts &gt; 1) policy_version is also read before the first attempt and after a
    /// transient failure; if it went back (the server restarted and lost its state) the call fails
    /// with an <see cref="R2MClientException"/> instead of being re-sent.
    /// </summary>
    public Task<OptimizeReply> OptimizeAsync(OptimizeConfig config, IReadOnlyList<PolicyItem> items, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(items);
        config = WithRequestId(config);
        return RunNotIdempotentAsync(OptimizeCall, WatchedVersion.Policy, async o =>
        {
            using var call = _policy.Optimize(o);
            for (int start = 0; start == 0 || start < items.Count; start += ItemsPerMessage)
            {
                var batch = new PolicyBatch();
                if (start == 0)
                {
                    batch.Config = config;
                }

                batch.Items.AddRange(items.Skip(start).Take(ItemsPerMessage));
                await WriteOrStatusAsync(call.RequestStream, batch, call.ResponseAsync, o.CancellationToken).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return await call.ResponseAsync.ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <summary>
    /// RewardModel.Update: one message per group, config on the first. Not idempotent, retried as
    /// <see cref="OptimizeAsync"/> is (one request_id for all attempts; rm_version checked).
    /// </summary>
    public Task<UpdateReply> UpdateAsync(UpdateConfig config, IReadOnlyList<PreferenceGroup> groups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(groups);
        config = WithRequestId(config);
        return RunNotIdempotentAsync(UpdateCall, WatchedVersion.RewardModel, async o =>
        {
            using var call = _reward.Update(o);
            for (int i = 0; i < groups.Count; i++)
            {
                PreferenceGroup g = groups[i];
                if (i == 0)
                {
                    g = g.Clone();
                    g.Config = config;
                }

                await WriteOrStatusAsync(call.RequestStream, g, call.ResponseAsync, o.CancellationToken).ConfigureAwait(false);
            }

            if (groups.Count == 0)
            {
                await call.RequestStream.WriteAsync(new PreferenceGroup { Config = config }, o.CancellationToken).ConfigureAwait(false);
            }

            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            return await call.ResponseAsync.ConfigureAwait(false);
        }, cancellationToken);
    }

    /// <summary>Admin.SaveCheckpoint under <paramref name="name"/> (a directory under the server's checkpoint root).</summary>
    public Task<CheckpointReply> SaveCheckpointAsync(string name, ReadOnlyMemory<byte> clientState, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var request = new SaveCheckpointRequest { Name = name, ClientState = ByteString.CopyFrom(clientState.Span) };
        return _runner.RunRetriedByChannelAsync(SaveCall, o => _admin.SaveCheckpointAsync(request, o).ResponseAsync, cancellationToken);
    }

    /// <summary>
    /// Admin.LoadCheckpoint of a named checkpoint; the reply carries the saved client_state. Retried
    /// like an idempotent call: applying it twice leaves the same weights, moments and (empty) rollout
    /// store as once, only the versions grow one more step, and a retry still returns client_state.
    /// </summary>
    public Task<CheckpointReply> LoadCheckpointAsync(string name, bool rewardModelOnly = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        var request = new LoadCheckpointRequest { Name = name, RewardModelOnly = rewardModelOnly };
        return _runner.RunRetriedByChannelAsync(LoadCall, o => _admin.LoadCheckpointAsync(request, o).ResponseAsync, cancellationToken);
    }

    /// <summary>
    /// Admin.Reset: back to the startup weights (the next variant of a comparison). Retried like an
    /// idempotent call: it sets a state rather than stepping it, so applying it twice equals once
    /// (same seed, same weights, empty store), except that the versions grow one more step.
    /// </summary>
    public Task<ResetReply> ResetAsync(ulong? seed = null, CancellationToken cancellationToken = default)
    {
        var request = new ResetRequest();
        if (seed is { } s)
        {
            request.Seed = s;
        }

        return _runner.RunRetriedByChannelAsync(ResetCall, o => _admin.ResetAsync(request, o).ResponseAsync, cancellationToken);
    }

    /// <summary>Polls Info until the server answers or <paramref name="timeout"/> passes (then the last error).</summary>
    public async Task<InfoReply> WaitForReadyAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        DateTimeOffset until = Options.TimeProvider.GetUtcNow() + timeout;
        while (true)
        {
            try
            {
                return await InfoAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (R2MClientException e) when (e.StatusCode == StatusCode.Unavailable && Options.TimeProvider.GetUtcNow() < until)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), Options.TimeProvider, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // A copy with a fresh request_id when the caller set none (the caller's object is left as it is).
    private static OptimizeConfig WithRequestId(OptimizeConfig c) => c.RequestId.Length > 0 ? c : new OptimizeConfig(c) { RequestId = NewRequestId() };

    private static UpdateConfig WithRequestId(UpdateConfig c) => c.RequestId.Length > 0 ? c : new UpdateConfig(c) { RequestId = NewRequestId() };

    private static string NewRequestId() => Guid.NewGuid().ToString("N");

    /// <summary>
    /// Runs a call that advances <paramref name="version"/> each time the server applies it. Its
    /// attempts share one request_id, so a re-send never applies it twice; the version is read before
    /// the first attempt and again after a transient failure (<see cref="WatchedVersion.WhyNotResend"/>)
    /// to catch a server that restarted and lost its state. The re-read asks the server to wait for
    /// writes in flight (InfoRequest.wait_for_writes), since a write goes on after its connection is
    /// lost. With MaxAttempts = 1 nothing can be re-sent, so no Admin.Info call is made
    /// (docs/client.md, Retries).
    /// </summary>
    private async Task<T> RunNotIdempotentAsync<T>(string name, WatchedVersion version, Func<CallOptions, Task<T>> attempt, CancellationToken cancellationToken)
    {
        if (Options.MaxAttempts == 1)
        {
            return await _runner.RunAsync(name, attempt, cancellationToken).ConfigureAwait(false);
        }

        ulong before;
        try
        {
            before = version.Read(await InfoAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (R2MClientException e)
        {
            throw new R2MClientException($"{name} was not sent: reading {version.Name} before it failed: {e.Message}", e.StatusCode, e.Attempts, e);
        }

        return await _runner.RunAsync(name, attempt, cancellationToken, async ct =>
        {
            try
            {
                // Waits for a write the server is still running (it goes on after the connection is lost).
                return version.WhyNotResend(before, version.Read(await InfoAfterWritesAsync(ct).ConfigureAwait(false)));
            }
            catch (R2MClientException e)
            {
                return $"the server could not be checked before re-sending it: reading {version.Name} failed ({e.Message})";
            }
        }).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _channel.Dispose();
        _runner.Dispose();
    }

    /// <summary>
    /// Writes one message; when the server already ended the call (it rejected an earlier
    /// message), the write fails and the call's own status is the error worth reporting.
    /// </summary>
    private static async Task WriteOrStatusAsync<T, TReply>(IClientStreamWriter<T> writer, T message, Task<TReply> response, CancellationToken ct)
    {
        try
        {
            await writer.WriteAsync(message, ct).ConfigureAwait(false);
        }
        catch (Exception) when (response.IsCompleted)
        {
            await response.ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>"Service.Method" for messages, from the generated client's names (checked by the compiler).</summary>
    private static string Label(string service, string method) => $"{service}.{method}";
}
