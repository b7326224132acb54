namespace R2M.Alignment;

/// <summary>How the fresh cross-attention weights are drawn (the paper only says "small random").</summary>
public enum CrossAttentionInitKind
{
    /// <summary>
    /// PyTorch <c>nn.Linear</c>'s default: each matrix U(-s/sqrt(fan_in), s/sqrt(fan_in)) with
    /// fan_in its input width (D_rm for W_q, D_p for W_k and W_v, d for W_o); s = <see cref="CrossAttentionInit.Scale"/>.
    /// (kaiming_uniform with a = sqrt(5): bound = sqrt(6 / ((1 + a^2) fan_in)) = 1 / sqrt(fan_in).)
    /// </summary>
    LinearDefault,

    /// <summary>Every weight N(0, s^2), s = <see cref="CrossAttentionInit.Scale"/>, independent of the widths.</summary>
    Normal,
}

/// <summary>
/// Initialisation of the cross-attention (W_q, W_k, W_v, W_o) of an <see cref="R2MHead"/>. It decides
/// how much the untrained fused path moves the reward (Huang et al., arXiv 2601.22664, Table 3: the
/// untrained fusion visibly perturbs scores), so it is an option, not a constant.
/// </summary>
/// <param name="Kind">Distribution family.</param>
/// <param name="Scale">Multiplier of the uniform bound (<see cref="CrossAttentionInitKind.LinearDefault"/>) or the std (<see cref="CrossAttentionInitKind.Normal"/>).</param>
public sealed record CrossAttentionInit(CrossAttentionInitKind Kind, float Scale)
{
    /// <summary>
    /// The default since issue 15: PyTorch's nn.Linear default, calibrated to the widths. Changing
    /// the default changed every seeded result that used it (head weights, hence every fused reward).
    /// </summary>
    public static CrossAttentionInit Default { get; } = new(CrossAttentionInitKind.LinearDefault, 1f);

    /// <summary>The default before issue 15: N(0, 0.02^2) for every weight (tiny fused path at these widths).</summary>
    public static CrossAttentionInit Legacy { get; } = new(CrossAttentionInitKind.Normal, 0.02f);

    /// <summary>N(0, std^2) for every weight.</summary>
    public static CrossAttentionInit NormalStd(float std) => new(CrossAttentionInitKind.Normal, std);

    /// <summary>Throws when the scale is negative or not finite, or the kind is unknown.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Kind)) throw new ArgumentOutOfRangeException(nameof(Kind), Kind, "unknown cross-attention init kind");
        if (!(Scale >= 0f) || !float.IsFinite(Scale)) throw new ArgumentOutOfRangeException(nameof(Scale), Scale, "init scale must be finite and >= 0");
    }

    /// <summary>"linear-default x1" / "normal std 0.02": for logs and reports.</summary>
    public override string ToString() => Kind == CrossAttentionInitKind.LinearDefault
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"linear-default x{Scale:G4}")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"normal std {Scale:G4}");
}
