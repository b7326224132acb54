namespace R2M.Alignment;

/// <summary>
/// A policy trained with full parameters (docs/method.md section 1). Parameters and gradients are
/// each one contiguous buffer, so AdamW, clipping and checkpoints work on flat spans. Implemented
/// over R2M.Models' transformer families by an adapter; tests use a tiny policy of their own.
/// </summary>
public interface ITrainablePolicy
{
    /// <summary>D_p: width of the last-layer hidden states.</summary>
    int HiddenSize { get; }

    /// <summary>All trainable parameters, contiguous.</summary>
    Span<float> Parameters { get; }

    /// <summary>Gradients, same layout; Backward accumulates.</summary>
    Span<float> Gradients { get; }

    void ZeroGrad();

    /// <summary>
    /// Samples <paramref name="count"/> completions of prompt (temperature sampling from a stream seeded
    /// by seed; stops at EOS or maxNewTokens), each with its tokens, their log-probs under the
    /// sampling distribution (logits / temperature), and the last-layer hidden states of x ⊕ y
    /// ((S-1, D_p): the positions that predict the next token).
    /// </summary>
    IReadOnlyList<PolicySample> SampleGroup(ReadOnlySpan<int> prompt, int count, int maxNewTokens, float temperature, ulong seed);

    /// <summary>
    /// Teacher-forced pass over a batch of prompt ⊕ completion sequences: per item, completion
    /// log-probs (T_i) at the given temperature and hidden states (S_i - 1, D_p). keepActivations:
    /// keep what Backward needs; Backward must follow before the next Forward on this policy.
    /// A policy that has its logits at hand may also fill <see cref="PolicyPass.CompletionEntropy"/>
    /// (a diagnostic; <see cref="PolicyOptimizer"/> reports its mean when every pass has it).
    /// </summary>
    PolicyPass Forward(IReadOnlyList<(int[] Prompt, int[] Completion)> batch, float temperature, bool keepActivations);

    /// <summary>Accumulates d(loss)/d(parameters) from dCompletionLogProbs (one (T_i) array per item) of the last kept pass.</summary>
    void Backward(PolicyPass pass, IReadOnlyList<float[]> dCompletionLogProbs);
}

/// <summary>One sampled completion. Hidden: (HiddenRows, D_p) row-major.</summary>
public sealed record PolicySample(int[] Completion, float[] LogProbs, float[] Hidden, int HiddenRows);

/// <summary>
/// One teacher-forced batch pass: per item log-probs (T_i), hidden states (HiddenRows_i, D_p). State: opaque.
/// CompletionEntropy: per item (T_i) entropy in nats of the distribution each completion token was drawn
/// from (<see cref="TokenEntropy"/>, same temperature as the log-probs); null when the policy does not compute it.
/// </summary>
public sealed record PolicyPass(float[][] CompletionLogProbs, float[][] Hidden, int[] HiddenRows, object? State, float[][]? CompletionEntropy = null);

/// <summary>The frozen reward backbone: reward token embedding H_last (D_rm) of a token sequence.</summary>
public interface IRteSource
{
    /// <summary>D_rm.</summary>
    int HiddenSize { get; }

    /// <summary>Final (post final-norm) hidden state at the last token of sequence (D_rm).</summary>
    float[] ComputeRte(ReadOnlySpan<int> sequence);

    /// <summary>RTEs (B, D_rm) of several sequences; a backbone that can batch them overrides this.</summary>
    IReadOnlyList<float[]> ComputeRtes(IReadOnlyList<int[]> sequences) => [.. sequences.Select(s => ComputeRte(s))];
}

/// <summary>
/// A rollout kept between generation, scoring, policy update and the GREBT update. Hidden is replaced
/// by the last policy epoch's forward pass (h').
/// </summary>
public sealed class Rollout
{
    public required string Id { get; init; }
    public required int[] Prompt { get; init; }
    public required int[] Completion { get; init; }

    /// <summary>pi_old log-probs (T).</summary>
    public required float[] OldLogProbs { get; init; }

    /// <summary>Frozen reference log-probs (T); null when beta = 0.</summary>
    public float[]? RefLogProbs { get; set; }

    /// <summary>Policy feedback h, (HiddenRows, D_p).</summary>
    public required float[] Hidden { get; set; }

    public required int HiddenRows { get; set; }

    /// <summary>Reward at annotation time (step 3).</summary>
    public float AnnotationReward { get; set; }

    /// <summary>prompt ⊕ completion.</summary>
    public int[] Sequence() => [.. Prompt, .. Completion];
}
