using System.Globalization;
using R2M.Models;

namespace R2M.Sandbox.Internal;

/// <summary>
/// Trains the three sandbox models into a fresh directory and measures them: SFT policy, proxy RM on
/// planted pairs, rm-gold fine-tuned from the proxy on unplanted gold pairs.
/// </summary>
internal sealed class SandboxBuilder(SandboxModelOptions o, IProgress<string>? progress, TimeProvider time)
{
    public SandboxModelReport Build(string directory, CancellationToken ct)
    {
        long start = time.GetTimestamp();
        var policy = TrainPolicy(Path.Combine(directory, SandboxModels.PolicyDirectoryName), ct);
        var (rm, proxyPartial) = TrainProxy(Path.Combine(directory, SandboxModels.RewardModelDirectoryName), ct);
        var (goldRm, goldPartial) = TrainGold(rm, Path.Combine(directory, SandboxModels.GoldRewardModelDirectoryName), ct);
        var heldOut = SandboxData.HeldOut(o.EvalPairs, o.Seed, o.Task);
        var proxy = proxyPartial with { HeldOutAccuracy = ModelEvaluation.PairAccuracy(rm, heldOut) };
        var gold = goldPartial with { HeldOutAccuracy = ModelEvaluation.PairAccuracy(goldRm, heldOut) };
        var report = new SandboxModelReport(o.Seed, o.Hash(), policy, proxy, gold, time.GetElapsedTime(start).TotalSeconds);
        Say($"proxy RM held-out accuracy {proxy.HeldOutAccuracy:F3}, rm-gold held-out accuracy {gold.HeldOutAccuracy:F3}");
        return report;
    }

    private PolicyReport TrainPolicy(string dir, CancellationToken ct)
    {
        long start = time.GetTimestamp();
        var model = PolicySft.Create(o);
        Say($"policy: {model.ParameterCount} parameters (llama, hidden {o.PolicyHiddenSize}), SFT {o.SftSteps} steps on {o.SftExamples} examples");
        var data = SandboxData.Sft(o.SftExamples, o.Seed, o.Task);
        var curve = PolicySft.Train(model, data, o, Reporter("SFT", o.SftSteps), ct);
        double seconds = time.GetElapsedTime(start).TotalSeconds;
        Save(model, dir);
        var samples = ModelEvaluation.SamplePolicy(model, o);
        Say($"policy: SFT loss {curve.Start:F3} -> {curve.End:F3}; samples gold {samples.MeanGold:F3}, '!' rate {samples.BangRate:F3}, exact {samples.ExactRate:F3}");
        return new PolicyReport(model.ParameterCount, curve.Start, curve.End, samples, seconds);
    }

    private (TransformerModel Model, RewardModelReport Report) TrainProxy(string dir, CancellationToken ct)
    {
        long start = time.GetTimestamp();
        var model = RewardModelBt.Create(o);
        Say($"rm: {model.ParameterCount} parameters (gpt_neox, hidden {o.RewardHiddenSize}), Bradley-Terry {o.RewardSteps} steps on {o.RewardPairs} planted pairs");
        var pairs = SandboxData.RewardModelTraining(o.RewardPairs, o.Seed, o.Task);
        return TrainBt(model, pairs, o.RewardSteps, o.RewardLearningRate, SeedStreams.RewardOrder, start, dir, "rm", ct);
    }

    private (TransformerModel Model, RewardModelReport Report) TrainGold(TransformerModel proxy, string dir, CancellationToken ct)
    {
        long start = time.GetTimestamp();
        // Start from the proxy's weights: the PRETRAINED_RM baseline is "an RM fine-tuned offline on gold pairs".
        var model = TransformerModel.Create(proxy.Config);
        proxy.Parameters.CopyTo(model.Parameters, 0);
        Say($"rm-gold: fine-tuning the proxy {o.GoldSteps} steps on {o.GoldPairs} gold pairs without planting");
        var pairs = SandboxData.GoldTraining(o.GoldPairs, o.Seed, o.Task);
        return TrainBt(model, pairs, o.GoldSteps, o.GoldLearningRate, SeedStreams.GoldOrder, start, dir, "rm-gold", ct);
    }

    /// <summary>Bradley-Terry training of one reward model, timed from <paramref name="start"/>, then saved to <paramref name="dir"/> and measured.</summary>
    private (TransformerModel Model, RewardModelReport Report) TrainBt(TransformerModel model, IReadOnlyList<PreferencePair> pairs,
        int steps, float peakLr, ulong orderStream, long start, string dir, string name, CancellationToken ct)
    {
        var curve = RewardModelBt.Train(model, pairs, steps, o.RewardBatchSize, peakLr, orderStream, o, Reporter($"{name} BT", steps), ct);
        double seconds = time.GetElapsedTime(start).TotalSeconds;
        Save(model, dir);
        return (model, Measure(model, curve, pairs, seconds, name));
    }

    private RewardModelReport Measure(TransformerModel model, TrainingCurve curve, IReadOnlyList<PreferencePair> pairs, double seconds, string name)
    {
        double trainAcc = ModelEvaluation.PairAccuracy(model, pairs.Take(o.EvalPairs).ToArray());
        var one = ModelEvaluation.BangPreference(model, o, 1);
        var max = ModelEvaluation.BangPreference(model, o, o.Task.MaxBangs);
        Say($"{name}: BT loss {curve.Start:F3} -> {curve.End:F3}; train accuracy {trainAcc:F3}; exact sort + ' !' preferred on {one.PreferenceRate:F3} of prompts (mean margin {one.MeanMargin:+0.000;-0.000})");
        return new RewardModelReport(model.ParameterCount, curve.Start, curve.End, trainAcc, double.NaN,
            one.PreferenceRate, one.MeanMargin, max.PreferenceRate, max.MeanMargin, seconds);
    }

    private static void Save(TransformerModel model, string dir)
    {
        ModelCheckpoint.Save(model, dir);
        SandboxVocabulary.WriteTokenizerFiles(dir);
    }

    private Action<int, float>? Reporter(string phase, int total)
    {
        if (progress is null || total == 0)
        {
            return null;
        }
        int every = Math.Max(1, total / 5);
        return (step, loss) =>
        {
            if ((step + 1) % every == 0 || step + 1 == total)
            {
                Say($"{phase} step {step + 1}/{total} loss {loss:F4}");
            }
        };
    }

    private void Say(FormattableString message) => progress?.Report("sandbox: " + message.ToString(CultureInfo.InvariantCulture));
}
