using Google.Protobuf.Reflection;
using R2M.Api.V1;

namespace R2M.Client.Training;

/// <summary>
/// Names of the variants of docs/method.md section 4 (common.proto VariantConfig): accepted as
/// "r2m-without-train", "R2M_WITHOUT_TRAIN" or "VARIANT_CONFIG_R2M_WITHOUT_TRAIN".
/// </summary>
public static class Variants
{
    private const string Prefix = "VARIANT_CONFIG_";
    private static readonly EnumDescriptor Descriptor = CommonReflection.Descriptor.FindTypeByName<EnumDescriptor>("VariantConfig");

    /// <summary>Every concrete variant in the paper's order (UNSPECIFIED excluded).</summary>
    public static IReadOnlyList<VariantConfig> All { get; } =
        Descriptor.Values.Where(v => v.Number != 0).Select(v => (VariantConfig)v.Number).ToArray();

    /// <summary>Variants whose reward model never trains: Update is refused, the loop skips it.</summary>
    public static bool FreezesRewardModel(VariantConfig v) =>
        v is VariantConfig.Vanilla or VariantConfig.R2MWithoutTrain or VariantConfig.PretrainedRm;

    /// <summary>Variants whose reward fuses the attended vector Ĥ (policy feedback or, for w/ Noise, its stand-in).</summary>
    public static bool HasFusedPath(VariantConfig v) =>
        v is not (VariantConfig.Vanilla or VariantConfig.IterativeRmHead or VariantConfig.PretrainedRm);

    /// <summary>"R2M_WITHOUT_TRAIN" for VARIANT_CONFIG_R2M_WITHOUT_TRAIN.</summary>
    public static string DisplayName(VariantConfig v) =>
        Descriptor.FindValueByNumber((int)v)?.Name[Prefix.Length..] ?? ((int)v).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public static VariantConfig Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string key = name.Trim().ToUpperInvariant().Replace('-', '_');
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            key = Prefix + key;
        }

        EnumValueDescriptor? value = Descriptor.FindValueByName(key);
        if (value is null || value.Number == 0)
        {
            throw new ArgumentException($"--variant '{name}' is not one of: {string.Join(", ", All.Select(v => DisplayName(v).ToLowerInvariant().Replace('_', '-')))}");
        }

        return (VariantConfig)value.Number;
    }
}

/// <summary>Parsing of the other enum-valued settings; errors list the accepted values.</summary>
internal static class Choices
{
    public static Algorithm Algorithm(string s) => Pick(s, "algorithm", new Dictionary<string, Algorithm>
    {
        ["grpo"] = Api.V1.Algorithm.Grpo,
        ["rloo"] = Api.V1.Algorithm.Rloo,
    });

    public static LossAggregation Aggregation(string s) => Pick(s, "aggregation", new Dictionary<string, LossAggregation>
    {
        ["sequence-mean"] = LossAggregation.SequenceMean,
        ["token-mean"] = LossAggregation.TokenMean,
        ["constant-norm"] = LossAggregation.ConstantNorm,
        ["minibatch-token-mean"] = LossAggregation.MinibatchTokenMean,
    });

    public static PairSelection PairSelection(string s) => Pick(s, "pair-selection", new Dictionary<string, PairSelection>
    {
        ["annotation"] = Api.V1.PairSelection.Annotation,
        ["recomputed"] = Api.V1.PairSelection.Recomputed,
    });

    private static T Pick<T>(string value, string flag, Dictionary<string, T> choices) =>
        choices.TryGetValue(value.Trim().ToLowerInvariant().Replace('_', '-'), out T? v)
            ? v
            : throw new ArgumentException($"--{flag} '{value}' is not one of: {string.Join(", ", choices.Keys)}");
}
