using Grpc.Core;
using Microsoft.Extensions.Logging;
using R2M.Api.V1;

namespace R2M.Server.Internal.Services;

/// <summary>Policy service (policy.proto): Generate, TeacherForce and Optimize, on the generated base.</summary>
internal sealed class PolicyService(
    ModelHost host, PolicyHost policy, HostedModels models, RolloutStore store, PolicyTrainer trainer,
    R2MServerOptions options, ILogger<PolicyService> logger) : Policy.PolicyBase
{
    private const int DefaultChunkBytes = 1 << 20;

    public override async Task Generate(GenerateRequest request, IServerStreamWriter<Rollout> responses, ServerCallContext context)
    {
        host.EnsureReady();
        var ct = context.CancellationToken;
        var k = Samples(request);
        var prompts = Prompts(request);
        var settings = Settings(request, prompts);
        var dtype = request.HiddenStatesDtype == DType.Unspecified ? DType.F32 : request.HiddenStatesDtype;
        TensorCodec.ElementSize(dtype, "hidden_states_dtype");
        var chunkBytes = ChunkBytes(request.HiddenStatesChunkBytes);

        // The served weights and their version, read together under the policy gate (Optimize publishes both under it).
        var (samples, version) = await Task.Run(() => policy.ReadAsync((model, v) => (PolicyEngine.Generate(policy.Meta, model, prompts, k, settings, ct), v), ct), ct).ConfigureAwait(false);

        var temperature = settings.Temperature > 0 ? settings.Temperature : 1f;
        var total = await StreamAsync(responses, samples, temperature, version, new WireHidden(request.ReturnHiddenStates, dtype, chunkBytes), ct).ConfigureAwait(false);
        ServerLog.Generated(logger, total, version);
    }

    /// <summary>
    /// Teacher-forced pass over given pairs (policy.proto TeacherForce): stored and streamed as rollouts,
    /// so Score can score any text with policy feedback by id.
    /// </summary>
    public override async Task TeacherForce(TeacherForceRequest request, IServerStreamWriter<Rollout> responses, ServerCallContext context)
    {
        host.EnsureReady();
        var ct = context.CancellationToken;
        var items = PolicyInputs.TeacherForceItems(request, models.Policy, options);
        var dtype = request.HiddenStatesDtype == DType.Unspecified ? DType.F32 : request.HiddenStatesDtype;
        TensorCodec.ElementSize(dtype, "hidden_states_dtype");
        var chunkBytes = ChunkBytes(request.HiddenStatesChunkBytes);
        var (passes, version) = await Task.Run(() => policy.ReadAsync((model, v) => (PolicyEngine.TeacherForce(model, items, ct), v), ct), ct).ConfigureAwait(false);
        var total = await StreamAsync(responses, passes, 1f, version, new WireHidden(request.ReturnHiddenStates, dtype, chunkBytes), ct).ConfigureAwait(false);
        ServerLog.TeacherForced(logger, total, version);
    }

    /// <summary>How hidden states go on the wire: whether at all, their element type and the bytes per chunk.</summary>
    private readonly record struct WireHidden(bool Return, DType Dtype, int ChunkBytes);

    /// <summary>Keeps every response in the rollout store and streams it; returns the count.</summary>
    private async Task<int> StreamAsync(IServerStreamWriter<Rollout> responses, List<SampledResponse> samples, float temperature, ulong version, WireHidden wire, CancellationToken ct)
    {
        foreach (var sample in samples)
        {
            var stored = Store(sample.Prompt, sample, temperature, version);
            await WriteAsync(responses, stored, sample, wire, ct).ConfigureAwait(false);
        }

        return samples.Count;
    }

    /// <summary>
    /// K, checked as the uint32 it is on the wire and, with the prompt count, against the per-call
    /// limits before any prompt is tokenized.
    /// </summary>
    private int Samples(GenerateRequest request)
    {
        var k = request.SamplesPerPrompt == 0 ? 1u : request.SamplesPerPrompt;
        if (k > (uint)options.MaxSamplesPerPrompt)
        {
            throw new InvalidInputException($"samples_per_prompt {k} is above the server limit {options.MaxSamplesPerPrompt} (R2M:MaxSamplesPerPrompt)");
        }

        if ((long)k * request.Prompts.Count > options.MaxRolloutsPerGenerate)
        {
            throw new LimitExceededException($"{request.Prompts.Count} prompts x {k} samples = {(long)k * request.Prompts.Count} rollouts, above the per-call limit {options.MaxRolloutsPerGenerate} (R2M:MaxRolloutsPerGenerate)");
        }

        return (int)k;
    }

    /// <summary>
    /// Bytes of hidden states per streamed chunk: the request's value (uint32 on the wire, compared
    /// before any cast) or by default 1 MiB, capped at half of R2M:MaxSendMessageBytes so a chunk
    /// always fits one message beside the rollout's tokens, log-probs and texts.
    /// </summary>
    private int ChunkBytes(uint requested)
    {
        var room = options.MaxSendMessageBytes / 2;
        var asked = requested == 0 ? DefaultChunkBytes : requested;
        return (int)Math.Min(asked, (uint)room);
    }

    private int[][] Prompts(GenerateRequest request)
    {
        if (request.Prompts.Count == 0) throw new InvalidInputException("prompts is empty; give at least one prompt");
        return request.Prompts.Select((p, i) => PolicyInputs.Prompt(p, $"prompts[{i}]", models.Policy, options.MaxTextBytes)).ToArray();
    }

    private SamplingSettings Settings(GenerateRequest request, int[][] prompts)
    {
        var s = request.Sampling ?? new SamplingParams();
        var temperature = s.HasTemperature ? s.Temperature : 1f;
        if (!(temperature >= 0) || !float.IsFinite(temperature)) throw new InvalidInputException($"sampling.temperature {temperature} must be >= 0");
        var topP = s.HasTopP ? s.TopP : 1f;
        if (!(topP > 0 && topP <= 1)) throw new InvalidInputException($"sampling.top_p {topP} must be in (0, 1]");
        var ctx = models.Policy.ContextLength;
        var maxNew = new int[prompts.Length];
        for (var i = 0; i < prompts.Length; i++)
        {
            var p = prompts[i].Length;
            if (p >= ctx)
            {
                throw new InvalidInputException($"prompts[{i}] has {p} tokens and fills the policy context length {ctx}; no token can be generated");
            }

            if (s.MaxNewTokens != 0 && p + (long)s.MaxNewTokens > ctx)
            {
                throw new InvalidInputException($"prompts[{i}] has {p} tokens; + sampling.max_new_tokens {s.MaxNewTokens} is longer than the policy context length {ctx}");
            }

            // policy.proto: 0 means the server default, capped so prompt + response fits the context.
            maxNew[i] = s.MaxNewTokens != 0 ? (int)s.MaxNewTokens : Math.Min(options.DefaultMaxNewTokens, ctx - p);
        }

        CheckStops(s);
        models.Policy.CheckTokens([.. s.StopTokenIds], "sampling.stop_token_ids");
        var seed = s.HasSeed ? s.Seed : policy.NextSeed();
        return new SamplingSettings(temperature, (int)Math.Min(s.TopK, (uint)models.Policy.VocabSize), topP, maxNew, seed, [.. s.Stop], [.. s.StopTokenIds]);
    }

    /// <summary>Stop strings and stop token ids are searched at every step of every response: their counts and lengths are bounded.</summary>
    private static void CheckStops(SamplingParams s)
    {
        if (s.Stop.Count > RequestLimits.MaxStopStrings)
        {
            throw new InvalidInputException($"sampling.stop has {s.Stop.Count} strings; at most {RequestLimits.MaxStopStrings}");
        }

        for (var i = 0; i < s.Stop.Count; i++)
        {
            if (s.Stop[i].Length is 0 or > RequestLimits.MaxStopStringLength)
            {
                throw new InvalidInputException($"sampling.stop[{i}] has {s.Stop[i].Length} characters; give 1 to {RequestLimits.MaxStopStringLength}");
            }
        }

        if (s.StopTokenIds.Count > RequestLimits.MaxStopTokenIds)
        {
            throw new InvalidInputException($"sampling.stop_token_ids has {s.StopTokenIds.Count} ids; at most {RequestLimits.MaxStopTokenIds}");
        }
    }

    private StoredRollout Store(int[] prompt, SampledResponse sample, float temperature, ulong version)
    {
        int[] rmTokens = [];
        string? rmError = null;
        try
        {
            rmTokens = ItemResolver.RmTokensOfRollout(models.Policy, models.Reward, models.SharedTokenizer, prompt, sample.Response, "rollout");
        }
        catch (InvalidInputException e)
        {
            rmError = e.Message;
        }

        var stored = new StoredRollout
        {
            Id = RolloutStore.NewId(), PromptTokens = prompt, ResponseTokens = sample.Response, Logprobs = sample.Logprobs,
            Temperature = temperature, PolicyVersion = version, RmTokens = rmTokens, RmTokensError = rmError,
            Feedback = new Feedback(sample.Hidden, sample.Rows),
        };
        var evicted = store.Add(stored);
        if (evicted > 0) ServerLog.Evicted(logger, evicted, store.CapacityBytes);
        return stored;
    }

    private async Task WriteAsync(IServerStreamWriter<Rollout> responses, StoredRollout r, SampledResponse s, WireHidden wire, CancellationToken ct)
    {
        var (prompt, sample) = (s.PromptIndex, s.SampleIndex);
        var tok = models.Policy.Tokenizer;
        var first = new Rollout
        {
            RolloutId = r.Id, PromptIndex = (uint)prompt, SampleIndex = (uint)sample,
            PromptTokenIds = { r.PromptTokens }, ResponseTokenIds = { r.ResponseTokens },
            ResponseText = tok.Decode(r.ResponseTokens, skipSpecialTokens: true), PromptText = tok.Decode(r.PromptTokens, skipSpecialTokens: true),
            Logprobs = { r.Logprobs }, FinishReason = s.Finish, PolicyVersion = r.PolicyVersion,
        };
        var (hidden, rows) = (s.Hidden, s.Rows);
        if (!wire.Return || rows == 0)
        {
            await responses.WriteAsync(first, ct).ConfigureAwait(false);
            return;
        }

        var width = models.Policy.Width;
        var rowBytes = width * (wire.Dtype == DType.F32 ? 4 : 2);
        var rowsPerChunk = Math.Max(1, wire.ChunkBytes / rowBytes);
        first.HiddenStatesShape.Add([rows, width]);
        for (int row = 0, chunk = 0; row < rows; row += rowsPerChunk, chunk++)
        {
            var n = Math.Min(rowsPerChunk, rows - row);
            var msg = chunk == 0 ? first : new Rollout { RolloutId = r.Id, ChunkIndex = (uint)chunk };
            msg.HiddenStates = TensorCodec.Encode(hidden.AsSpan(row * width, n * width), width, wire.Dtype);
            msg.MoreChunks = row + n < rows;
            await responses.WriteAsync(msg, ct).ConfigureAwait(false);
        }
    }

    public override Task<OptimizeReply> Optimize(IAsyncStreamReader<PolicyBatch> requests, ServerCallContext context)
    {
        host.EnsureReady();
        return trainer.OptimizeAsync(requests, context);
    }
}
