using R2M.Models;
using R2M.Models.Generation;

namespace R2M.Alignment;

/// <summary>
/// <see cref="ITrainablePolicy"/> over an R2M.Models causal LM: grouped sampling with a KV cache
/// (the K samples of a prompt decode as one batch), batched teacher forcing with right padding,
/// and backward through <see cref="TransformerModel.BackwardLogProbs"/>. Hidden states are the
/// model's final post-norm states (docs/method.md section 2: what HF returns last).
/// </summary>
public sealed class TransformerPolicy : ITrainablePolicy
{
    private readonly TransformerModel _model;
    private readonly HashSet<int> _eos;

    /// <param name="eosTokenIds">Tokens that end a completion (default: the config's eos ids).</param>
    public TransformerPolicy(TransformerModel model, IEnumerable<int>? eosTokenIds = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Config.Head != ModelHead.CausalLm) throw new ArgumentException($"a policy needs a causal-LM head, got {model.Config.Head}", nameof(model));
        _model = model;
        _eos = [.. eosTokenIds ?? model.Config.EosTokenIds];
    }

    public TransformerModel Model => _model;
    public int HiddenSize => _model.Config.HiddenSize;
    public Span<float> Parameters => _model.Parameters;
    public Span<float> Gradients => _model.Gradients;
    public void ZeroGrad() => _model.ZeroGrad();

    /// <summary>
    /// The K samples of one prompt decode as one KV-cache batch through R2M.Models' generator, which
    /// also returns each sample's sampling log-probs (of logits / temperature) and its S - 1 final
    /// hidden states. The 64-bit seed folds into the generator's 32-bit seed.
    /// </summary>
    public IReadOnlyList<PolicySample> SampleGroup(ReadOnlySpan<int> prompt, int count, int maxNewTokens, float temperature, ulong seed)
    {
        if (prompt.IsEmpty) throw new ArgumentException("prompt is empty", nameof(prompt));
        if (count <= 0 || maxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"count ({count}) and maxNewTokens ({maxNewTokens}) must be positive");
        if (!(temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be > 0");
        var p = prompt.ToArray();
        var result = TextGenerator.Generate(_model, [.. Enumerable.Repeat(p, count)], new GenerationOptions
        {
            MaxNewTokens = maxNewTokens,
            Temperature = temperature,
            Seed = unchecked((int)(seed ^ (seed >> 32))),
            StopTokens = _eos,
            ReturnHiddenStates = true,
        });
        int c = HiddenSize;
        var hidden = result.HiddenStates!;
        return [.. Enumerable.Range(0, count).Select(i => new PolicySample(result.Tokens[i], result.LogProbs[i], hidden[i], hidden[i].Length / c))];
    }

    public PolicyPass Forward(IReadOnlyList<(int[] Prompt, int[] Completion)> batch, float temperature, bool keepActivations)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Count == 0) throw new ArgumentException("empty batch", nameof(batch));
        int b = batch.Count, c = HiddenSize;
        int s = batch.Max(x => x.Prompt.Length + x.Completion.Length);
        if (batch.Any(x => x.Prompt.Length == 0)) throw new ArgumentException("an item has an empty prompt", nameof(batch));
        var tokens = new int[b * s];
        var mask = new int[b * s];
        for (int i = 0; i < b; i++)
        {
            var (pr, co) = batch[i];
            pr.CopyTo(tokens, i * s);
            co.CopyTo(tokens, i * s + pr.Length);
            mask.AsSpan(i * s, pr.Length + co.Length).Fill(1); // right padding: causal attention leaves real tokens unchanged
        }
        var logp = new float[b * (s - 1)];
        var r = _model.LogProbs(tokens, mask, b, s, logp, temperature, training: keepActivations);
        var lps = new float[b][];
        var hs = new float[b][];
        var rows = new int[b];
        var h = r.Hidden.Span;
        for (int i = 0; i < b; i++)
        {
            var (pr, co) = batch[i];
            lps[i] = logp.AsSpan(i * (s - 1) + pr.Length - 1, co.Length).ToArray();
            rows[i] = pr.Length + co.Length - 1;
            hs[i] = h.Slice(i * s * c, rows[i] * c).ToArray();
        }
        // Training passes (the ones PolicyOptimizer reports on) also carry the entropy, read from the logits
        // this forward already holds; reference and evaluation passes skip the extra exp over the vocabulary.
        var entropy = keepActivations ? CompletionEntropy(r.Logits.Span, batch, s, temperature) : null;
        return new PolicyPass(lps, hs, rows, keepActivations ? new PassState(b, s, temperature, [.. batch.Select(x => x.Prompt.Length)]) : null, entropy);
    }

    /// <summary>Per item (T_i) entropies of the rows of logits (B, S, V) that predict the completion tokens.</summary>
    private float[][] CompletionEntropy(ReadOnlySpan<float> logits, IReadOnlyList<(int[] Prompt, int[] Completion)> batch, int s, float temperature)
    {
        int v = _model.Config.VocabSize;
        var result = new float[batch.Count][];
        for (int i = 0; i < batch.Count; i++)
        {
            var (pr, co) = batch[i];
            result[i] = new float[co.Length];
            // Position p predicts token p + 1, so completion token t is predicted at prompt length - 1 + t.
            var rows = logits.Slice((i * s + pr.Length - 1) * v, co.Length * v);
            TokenEntropy.Rows(rows, co.Length, v, temperature, result[i]);
        }
        return result;
    }

    public void Backward(PolicyPass pass, IReadOnlyList<float[]> dCompletionLogProbs)
    {
        var st = pass.State as PassState ?? throw new InvalidOperationException("Backward needs a Forward with keepActivations: true");
        if (dCompletionLogProbs.Count != st.Batch) throw new ArgumentException($"{dCompletionLogProbs.Count} gradients for a batch of {st.Batch}", nameof(dCompletionLogProbs));
        var d = new float[st.Batch * (st.SeqLen - 1)];
        for (int i = 0; i < st.Batch; i++) dCompletionLogProbs[i].CopyTo(d, i * (st.SeqLen - 1) + st.PromptLengths[i] - 1);
        _model.BackwardLogProbs(d, default, st.Temperature);
    }

    private sealed record PassState(int Batch, int SeqLen, float Temperature, int[] PromptLengths);
}

/// <summary>
/// <see cref="IRteSource"/> over a frozen R2M.Models backbone (reward or causal-LM head): the RTE is
/// the final post-norm hidden state at the last token (docs/method.md section 2).
/// </summary>
public sealed class TransformerRteSource(TransformerModel backbone) : IRteSource
{
    private readonly TransformerModel _model = backbone ?? throw new ArgumentNullException(nameof(backbone));

    public int HiddenSize => _model.Config.HiddenSize;

    public float[] ComputeRte(ReadOnlySpan<int> sequence)
    {
        if (sequence.IsEmpty) throw new ArgumentException("empty sequence", nameof(sequence));
        var r = _model.Forward(sequence, default, 1, sequence.Length, training: false);
        int c = HiddenSize;
        return r.Hidden.Span.Slice((sequence.Length - 1) * c, c).ToArray();
    }

    /// <summary>
    /// RTEs of sequences (B, T_i) in one right-padded forward (B, max T_i): the attention is causal, so the
    /// padding after a sequence does not reach its real tokens, and its RTE is read at its own last token.
    /// </summary>
    public IReadOnlyList<float[]> ComputeRtes(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0) return [];
        if (sequences.Any(x => x.Length == 0)) throw new ArgumentException("empty sequence", nameof(sequences));
        int b = sequences.Count, t = sequences.Max(x => x.Length), c = HiddenSize;
        var tokens = new int[b * t];
        var mask = new int[b * t];
        for (int i = 0; i < b; i++)
        {
            sequences[i].CopyTo(tokens, i * t);
            Array.Fill(mask, 1, i * t, sequences[i].Length);
        }
        var hidden = _model.Forward(tokens, mask, b, t, training: false).Hidden.Span;
        var result = new float[b][];
        for (int i = 0; i < b; i++) result[i] = hidden.Slice((i * t + sequences[i].Length - 1) * c, c).ToArray();
        return result;
    }

    /// <summary>
    /// The pretrained scoring head to initialise phi: HF score.weight row 0 (no bias) or
    /// Open-Assistant out_proj.weight/out_proj.bias.
    /// </summary>
    public (float[] Weight, float Bias, bool HasBias) ScoringHead()
    {
        if (_model.Layout.Contains("score.weight")) return (_model.Parameter("score.weight")[..HiddenSize].ToArray(), 0f, false);
        if (_model.Layout.Contains("out_proj.weight")) return (_model.Parameter("out_proj.weight").ToArray(), _model.Parameter("out_proj.bias")[0], true);
        throw new InvalidOperationException($"backbone has no reward head (score.weight or out_proj.weight); model head is {_model.Config.Head}");
    }
}
