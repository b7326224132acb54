namespace R2M.Sandbox;

/// <summary>Measured figures of one reward model of the sandbox (recorded in the manifest).</summary>
/// <param name="Parameters">Parameter count.</param>
/// <param name="LossStart">Mean Bradley-Terry loss over the first tenth of the training steps (NaN without steps).</param>
/// <param name="LossEnd">Mean Bradley-Terry loss over the last tenth of the training steps.</param>
/// <param name="TrainAccuracy">Pair accuracy on (up to EvalPairs of) its own training pairs.</param>
/// <param name="HeldOutAccuracy">Pair accuracy on EvalPairs held-out gold-labeled pairs (<see cref="SandboxData.HeldOut"/>, same seed).</param>
/// <param name="BangPreferenceRate">Fraction of evaluation prompts whose exact sort + " !" scores above the exact sort (ties 1/2).</param>
/// <param name="BangMargin">Mean score(exact sort + " !") - score(exact sort): positive means the RM pays for the hack.</param>
/// <param name="MaxBangPreferenceRate">As <paramref name="BangPreferenceRate"/> with MaxBangs " !".</param>
/// <param name="MaxBangMargin">As <paramref name="BangMargin"/> with MaxBangs " !".</param>
/// <param name="Seconds">Training time.</param>
public sealed record RewardModelReport(
    long Parameters,
    double LossStart,
    double LossEnd,
    double TrainAccuracy,
    double HeldOutAccuracy,
    double BangPreferenceRate,
    double BangMargin,
    double MaxBangPreferenceRate,
    double MaxBangMargin,
    double Seconds);

/// <summary>Measured figures of the SFT policy (recorded in the manifest).</summary>
/// <param name="Parameters">Parameter count.</param>
/// <param name="LossStart">Mean response cross-entropy (nats/token) over the first tenth of the SFT steps.</param>
/// <param name="LossEnd">Mean response cross-entropy over the last tenth of the SFT steps.</param>
/// <param name="Samples">Gold-side statistics of EvalSamples responses sampled at temperature 1.</param>
/// <param name="Seconds">Training time.</param>
public sealed record PolicyReport(long Parameters, double LossStart, double LossEnd, ResponseStats Samples, double Seconds);

/// <summary>Everything measured while preparing the sandbox models.</summary>
/// <param name="Seed">The options' seed.</param>
/// <param name="OptionsHash"><see cref="SandboxModelOptions.Hash"/>.</param>
/// <param name="Policy">The SFT policy (policy/).</param>
/// <param name="Proxy">The proxy RM trained on planted pairs (rm/).</param>
/// <param name="Gold">The RM fine-tuned on unplanted gold pairs (rm-gold/, the PRETRAINED_RM baseline).</param>
/// <param name="TotalSeconds">Wall time of the whole preparation, evaluation included.</param>
public sealed record SandboxModelReport(
    ulong Seed,
    string OptionsHash,
    PolicyReport Policy,
    RewardModelReport Proxy,
    RewardModelReport Gold,
    double TotalSeconds);

/// <summary>Where <see cref="SandboxModels.EnsureAsync(string, SandboxModelOptions?, IProgress{string}?, CancellationToken)"/> put the models.</summary>
/// <param name="Root">The sandbox directory.</param>
/// <param name="Policy">HF directory of the policy (LlamaForCausalLM).</param>
/// <param name="RewardModel">HF directory of the proxy reward model (GPTNeoXForSequenceClassification).</param>
/// <param name="GoldRewardModel">HF directory of the gold-tuned reward model (same architecture as the proxy).</param>
/// <param name="Manifest">Path of manifest.json.</param>
/// <param name="Report">The measured figures (from the manifest when nothing was rebuilt).</param>
/// <param name="Rebuilt">True when this call trained the models; false when the existing ones were current.</param>
public sealed record SandboxModelPaths(
    string Root,
    string Policy,
    string RewardModel,
    string GoldRewardModel,
    string Manifest,
    SandboxModelReport Report,
    bool Rebuilt);
