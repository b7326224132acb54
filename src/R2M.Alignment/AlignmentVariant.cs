namespace R2M.Alignment;

/// <summary>The baselines and ablations of docs/method.md section 4, all one code path.</summary>
public enum AlignmentVariant
{
    /// <summary>Frozen RM, no policy feedback, no RM updates.</summary>
    Vanilla,

    /// <summary>Feedback fused into scores; cross-attention and head never updated.</summary>
    WithoutTrain,

    /// <summary>Feedback replaced by Gaussian noise of the same mean and variance; trained like R2M.</summary>
    WithNoise,

    /// <summary>No feedback; GREBT on annotation-time scores, only phi updated.</summary>
    IterativeHead,

    /// <summary>R2M with alpha = 1 (GRE only).</summary>
    WithoutBT,

    /// <summary>R2M with alpha = 0 (BT only).</summary>
    WithoutGRE,

    /// <summary>RM fine-tuned offline with BT on gold pairs (<see cref="R2MRewardModel.PretrainBradleyTerry"/>), then vanilla RL.</summary>
    Pretrained,

    /// <summary>The full method.</summary>
    R2M,
}

/// <summary>Where the head's key/value rows come from.</summary>
public enum FeedbackSource { None, Policy, Noise }

/// <summary>Which parameters GREBT updates.</summary>
public enum RmTraining { None, PhiOnly, Full }

/// <summary>What a variant switches: feedback source, trained parameters, alpha override.</summary>
public sealed record VariantSettings(FeedbackSource Feedback, RmTraining Training, float? AlphaOverride)
{
    public bool UsesFeedback => Feedback != FeedbackSource.None;

    public static VariantSettings For(AlignmentVariant v) => v switch
    {
        AlignmentVariant.Vanilla or AlignmentVariant.Pretrained => new(FeedbackSource.None, RmTraining.None, null),
        AlignmentVariant.WithoutTrain => new(FeedbackSource.Policy, RmTraining.None, null),
        AlignmentVariant.WithNoise => new(FeedbackSource.Noise, RmTraining.Full, null),
        AlignmentVariant.IterativeHead => new(FeedbackSource.None, RmTraining.PhiOnly, null),
        AlignmentVariant.WithoutBT => new(FeedbackSource.Policy, RmTraining.Full, 1f),
        AlignmentVariant.WithoutGRE => new(FeedbackSource.Policy, RmTraining.Full, 0f),
        AlignmentVariant.R2M => new(FeedbackSource.Policy, RmTraining.Full, null),
        _ => throw new ArgumentOutOfRangeException(nameof(v), v, "unknown alignment variant"),
    };
}
