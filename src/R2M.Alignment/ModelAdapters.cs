using R2M.Alignment.Internal;
using R2M.Models;

namespace R2M.Alignment;

/// <summary>
/// <see cref="ITrainablePolicy"/> over an R2M.Models causal LM: grouped sampling with a KV cache
/// (the K samples of a prompt decode as one batch), batched teacher forcing with right padding,
/// and backward through <see cref="TransformerModel.BackwardLogProbs"/>. Hidden states are the
/// model's final post-norm states (DESIGN.md: what HF returns last).
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

    public IReadOnlyList<PolicySample> SampleGroup(ReadOnlySpan<int> prompt, int count, int maxNewTokens, float temperature, ulong seed)
    {
        if (prompt.IsEmpty) throw new ArgumentException("prompt is empty", nameof(prompt));
        if (count <= 0 || maxNewTokens <= 0) throw new ArgumentOutOfRangeException(nameof(count), $"count ({count}) and maxNewTokens ({maxNewTokens}) must be positive");
        if (!(temperature > 0f)) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be > 0");
        int p = prompt.Length, c = HiddenSize, v = _model.Config.VocabSize;
        var rng = new Rng(seed);
        var cache = _model.CreateCache(count, p + maxNewTokens);
        var tokens = new int[count * p];
        for (int i = 0; i < count; i++) prompt.CopyTo(tokens.AsSpan(i * p, p));
        var logits = new float[count * v];
        var promptHidden = new float[count * p * c];
        _model.ForwardCached(tokens, default, cache, logits, promptHidden);
        var comp = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var logp = Enumerable.Range(0, count).Select(_ => new List<float>()).ToArray();
        var hidden = Enumerable.Range(0, count).Select(i => new List<float>(promptHidden.AsSpan(i * p * c, p * c).ToArray())).ToArray();
        var alive = Enumerable.Repeat(true, count).ToArray();
        var next = new int[count];
        var mask = new int[count];
        var stepHidden = new float[count * c];
        for (int step = 0; step < maxNewTokens; step++)
        {
            for (int i = 0; i < count; i++)
            {
                mask[i] = 0;
                next[i] = 0;
                if (!alive[i]) continue;
                var (tok, lp) = Draw(logits.AsSpan(i * v, v), temperature, rng);
                comp[i].Add(tok);
                logp[i].Add(lp);
                if (_eos.Contains(tok)) { alive[i] = false; continue; }
                (next[i], mask[i]) = (tok, 1);
            }
            if (step == maxNewTokens - 1 || !alive.Any(a => a)) break;
            _model.ForwardCached(next, mask, cache, logits, stepHidden);
            for (int i = 0; i < count; i++) if (mask[i] == 1) hidden[i].AddRange(stepHidden.AsSpan(i * c, c).ToArray());
        }
        return [.. Enumerable.Range(0, count).Select(i => new PolicySample([.. comp[i]], [.. logp[i]], [.. hidden[i]], hidden[i].Count / c))];
    }

    /// <summary>Temperature sample from logits (V); returns the token and its log-prob (stable log-sum-exp, double).</summary>
    private static (int Token, float LogProb) Draw(ReadOnlySpan<float> logits, float temperature, Rng rng)
    {
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l / (double)temperature);
        double sum = 0;
        foreach (var l in logits) sum += Math.Exp(l / (double)temperature - max);
        double lse = max + Math.Log(sum), u = rng.NextDouble(), cdf = 0;
        int tok = logits.Length - 1;
        for (int j = 0; j < logits.Length; j++)
        {
            cdf += Math.Exp(logits[j] / (double)temperature - lse);
            if (u < cdf) { tok = j; break; }
        }
        return (tok, (float)(logits[tok] / (double)temperature - lse));
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
        return new PolicyPass(lps, hs, rows, keepActivations ? new PassState(b, s, temperature, [.. batch.Select(x => x.Prompt.Length)]) : null);
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
/// the final post-norm hidden state at the last token (R2M-METHOD.md section 2).
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
