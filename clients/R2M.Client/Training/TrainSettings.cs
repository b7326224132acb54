using System.Text.Json;
using System.Text.Json.Serialization;
using R2M.Api.V1;

namespace R2M.Client.Training;

/// <summary>
/// Every knob of <c>r2m-client train</c> (and of each run of <c>demo</c>): connection, the RL loop
/// of docs/method.md section 1, the R2M schedule and GREBT settings, outputs. Each property is a
/// flag and a config-file entry (<see cref="SettingAttribute"/>); flags override the file.
/// Optional numbers left null take the server's default (documented in the .proto files).
/// </summary>
public sealed class TrainSettings
{
    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        PropertyNameCaseInsensitive = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
    };

    // ------------------------------------------------------------------ connection
    [Setting("server address, host:port or http://host:port")]
    public string Server { get; set; } = "127.0.0.1:50051";

    [Setting("file holding the API key, sent as 'authorization: Bearer KEY' (never on the command line)", WhenNull = "the key in $R2M_API_KEY")]
    public string? ApiKeyFile { get; set; }

    /// <summary>The API key: the content of <see cref="ApiKeyFile"/> (trailing line break removed), else $R2M_API_KEY.</summary>
    public string? ResolveApiKey() =>
        ApiKeyFile is { Length: > 0 } file ? File.ReadAllText(file).TrimEnd('\r', '\n') : Environment.GetEnvironmentVariable("R2M_API_KEY");

    [Setting("deadline of every call, seconds")]
    public double Timeout { get; set; } = 120;

    [Setting("attempts per call on transient failures (UNAVAILABLE, connection reset)")]
    public int Retries { get; set; } = 5;

    [Setting("delay before the first retry, milliseconds (doubles per retry, with jitter)")]
    public double BackoffMs { get; set; } = 200;

    [Setting("largest retry delay, milliseconds")]
    public double MaxBackoffMs { get; set; } = 5000;

    [Setting("most calls in flight at once")]
    public int Concurrency { get; set; } = 4;

    // ------------------------------------------------------------------ the task
    [Setting("sandbox task: spurious, oracle-labels (diagnostic: gold picks the GREBT pairs), shift, beyond-semantics", WhenNull = "spurious")]
    public string? Task { get; set; }

    [Setting("JSONL file of your own prompts ({\"prompt\": \"...\"} per line) instead of a sandbox task; no gold reward")]
    public string? PromptsFile { get; set; }

    [Setting("JSONL prompts to evaluate on: one response each (K = 1), mean RM reward (and gold when the task has it) in the metrics")]
    public string? EvalPrompts { get; set; }

    [Setting("evaluate --eval-prompts every N steps (0 = after the last step only)")]
    public int EvalEvery { get; set; }

    [Setting("JSONL held-out preference pairs ({\"prompt\", \"chosen\", \"rejected\"} per line) for RM accuracy")]
    public string? EvalPairs { get; set; }

    // ------------------------------------------------------------------ the loop
    [Setting("variant: vanilla, r2m, r2m-without-train, r2m-with-noise, iterative-rm-head, r2m-without-bt, r2m-without-gre, pretrained-rm")]
    public string Variant { get; set; } = "r2m";

    [Setting("policy-gradient algorithm: grpo or rloo")]
    public string Algorithm { get; set; } = "grpo";

    [Setting("RL steps T")]
    public int Steps { get; set; } = 20;

    [Setting("prompts per step n")]
    public int Prompts { get; set; } = 8;

    [Setting("responses per prompt K (group size)")]
    public int K { get; set; } = 4;

    [Setting("run seed: prompts and sampling seeds derive from it")]
    public ulong Seed { get; set; } = 1;

    [Setting("sampling temperature (0 = greedy)")]
    public double Temperature { get; set; } = 1.0;

    [Setting("top-k sampling (0 = off)")]
    public int TopK { get; set; }

    [Setting("nucleus sampling top-p in (0, 1]", WhenNull = "off")]
    public double? TopP { get; set; }

    [Setting("most tokens per response, EOS included")]
    public int MaxNewTokens { get; set; } = 12;

    [Setting("policy AdamW learning rate", WhenNull = "the server's")]
    public double? PolicyLr { get; set; }

    [Setting("KL coefficient beta to the reference policy")]
    public double Beta { get; set; } = 0.04;

    [Setting("policy epochs k over each batch (paper: 2)")]
    public int Epochs { get; set; } = 2;

    [Setting("PPO clip range epsilon")]
    public double ClipEpsilon { get; set; } = 0.2;

    [Setting("upper clip range", WhenNull = "= clip-epsilon")]
    public double? ClipEpsilonHigh { get; set; }

    [Setting("sequences per optimizer step (0 = whole batch)")]
    public int MinibatchSize { get; set; }

    [Setting("epsilon added to the group std in GRPO advantages")]
    public double AdvantageEpsilon { get; set; } = 1e-4;

    [Setting("policy gradient-norm clip", WhenNull = "the server's, 1.0")]
    public double? MaxGradNorm { get; set; }

    [Setting("loss aggregation: sequence-mean, token-mean, constant-norm, minibatch-token-mean")]
    public string Aggregation { get; set; } = "sequence-mean";

    [Setting("send rewards and let the server compute group advantages (default: the client computes them)")]
    public bool ServerAdvantages { get; set; }

    [Setting("reward-model AdamW learning rate", WhenNull = "the server's")]
    public double? RmLr { get; set; }

    [Setting("GREBT alpha: (1 - alpha) BT + alpha GRE (paper: 0.3)")]
    public double Alpha { get; set; } = 0.3;

    [Setting("Omega, the floor of omega(t) (paper: 0.6-0.7)")]
    public double OmegaFloor { get; set; } = 0.6;

    [Setting("AdamW steps of each Update")]
    public int RmSteps { get; set; } = 1;

    [Setting("which rewards pick winner/loser: annotation or recomputed")]
    public string PairSelection { get; set; } = "annotation";

    // ------------------------------------------------------------------ outputs
    [Setting("output folder; one run per folder (see --resume, --overwrite)", WhenNull = "runs/VARIANT-seedSEED")]
    public string? Out { get; set; }

    [Setting("metrics JSONL file", WhenNull = "OUT/metrics.jsonl")]
    public string? Metrics { get; set; }

    [Setting("write SVG plots into OUT/plots at the end")]
    public bool Plots { get; set; } = true;

    [Setting("save a server checkpoint every N steps (0 = never); the last step is always saved when N > 0")]
    public int CheckpointEvery { get; set; }

    [Setting("checkpoint name under the server's checkpoint root", WhenNull = "VARIANT-seedSEED")]
    public string? CheckpointName { get; set; }

    [Setting("load the checkpoint and continue after its step (metrics past it are dropped); the checkpoint and the metrics file must belong to one run")]
    public bool Resume { get; set; }

    [Setting("replace the run already in the output folder (its metrics file is deleted)")]
    public bool Overwrite { get; set; }

    [Setting("do not reset the server (Admin.Reset with the run seed) before a fresh run: train on from its current weights")]
    public bool NoReset { get; set; }

    [Setting("held-out gold pairs scored at t = T after training for RM accuracy (0 = skip)")]
    public int HeldOutPairs { get; set; } = 200;

    [Setting("seed of the held-out pairs")]
    public ulong HeldOutSeed { get; set; } = 2;

    /// <summary>The variant as the API enum.</summary>
    [JsonIgnore]
    public VariantConfig VariantConfig => Variants.Parse(Variant);

    [JsonIgnore]
    public string RunName => $"{Variants.DisplayName(VariantConfig)}-seed{Seed}";

    [JsonIgnore]
    public string OutDirectory => Out ?? Path.Combine("runs", RunName);

    [JsonIgnore]
    public string MetricsPath => Metrics ?? Path.Combine(OutDirectory, "metrics.jsonl");

    [JsonIgnore]
    public string CheckpointNameOrDefault => CheckpointName ?? RunName;

    /// <summary>
    /// Reads a JSON config file. Keys are the flags in camelCase, matched case-insensitively
    /// ("PolicyLr" = "policyLr"); an unknown key is an error naming it, the file and the nearest
    /// known key; a value of the wrong type names its key.
    /// </summary>
    public static TrainSettings Load(string path)
    {
        string text = File.ReadAllText(path);
        ConfigKeys.Check<TrainSettings>(text, path);
        try
        {
            return JsonSerializer.Deserialize<TrainSettings>(text, JsonOptions)
                ?? throw new InvalidDataException($"config file {path} holds JSON null");
        }
        catch (JsonException e)
        {
            throw ConfigKeys.ValueError<TrainSettings>(path, e);
        }
    }

    /// <summary>
    /// Applies the entries present in a JSON config file onto <paramref name="target"/> (other
    /// settings keep the target's values, e.g. the demo's defaults); errors as <see cref="Load"/>.
    /// </summary>
    public static TrainSettings LoadOnto(string path, TrainSettings target)
    {
        ArgumentNullException.ThrowIfNull(target);
        TrainSettings file = Load(path);
        var keys = ConfigKeys.Present(File.ReadAllText(path));
        foreach (var p in typeof(TrainSettings).GetProperties().Where(p => p.CanWrite && keys.Contains(JsonNamingPolicy.CamelCase.ConvertName(p.Name))))
        {
            p.SetValue(target, p.GetValue(file));
        }

        return target;
    }

    public TrainSettings Clone() => (TrainSettings)MemberwiseClone();

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting and its flag.</summary>
    public void Validate()
    {
        Require(Steps >= 1, "steps", Steps, ">= 1");
        Require(Prompts >= 1, "prompts", Prompts, ">= 1");
        Require(K >= 2, "k", K, ">= 2 (group advantages need two responses per prompt)");
        Require(Temperature >= 0, "temperature", Temperature, ">= 0");
        Require(TopK >= 0, "top-k", TopK, ">= 0");
        Require(TopP is null or (> 0 and <= 1), "top-p", TopP!, "in (0, 1]");
        Require(MaxNewTokens >= 1, "max-new-tokens", MaxNewTokens, ">= 1");
        Require(PolicyLr is null or > 0, "policy-lr", PolicyLr!, "> 0");
        Require(Beta >= 0, "beta", Beta, ">= 0");
        Require(Epochs >= 1, "epochs", Epochs, ">= 1");
        Require(ClipEpsilon is > 0 and < 1, "clip-epsilon", ClipEpsilon, "in (0, 1)");
        Require(ClipEpsilonHigh is null or > 0, "clip-epsilon-high", ClipEpsilonHigh!, "> 0");
        Require(MinibatchSize >= 0, "minibatch-size", MinibatchSize, ">= 0");
        Require(AdvantageEpsilon >= 0, "advantage-epsilon", AdvantageEpsilon, ">= 0");
        Require(MaxGradNorm is null or >= 0, "max-grad-norm", MaxGradNorm!, ">= 0");
        Require(RmLr is null or > 0, "rm-lr", RmLr!, "> 0");
        Require(Alpha is >= 0 and <= 1, "alpha", Alpha, "in [0, 1]");
        Require(OmegaFloor is >= 0 and <= 1, "omega-floor", OmegaFloor, "in [0, 1]");
        Require(RmSteps >= 1, "rm-steps", RmSteps, ">= 1");
        Require(Timeout > 0, "timeout", Timeout, "> 0");
        Require(Retries >= 1, "retries", Retries, ">= 1");
        Require(BackoffMs >= 0 && MaxBackoffMs >= BackoffMs, "backoff-ms", BackoffMs, "in [0, max-backoff-ms]");
        Require(Concurrency >= 1, "concurrency", Concurrency, ">= 1");
        Require(ApiKeyFile is null || File.Exists(ApiKeyFile), "api-key-file", ApiKeyFile!, "an existing file");
        Require(CheckpointEvery >= 0, "checkpoint-every", CheckpointEvery, ">= 0");
        Require(HeldOutPairs >= 0, "held-out-pairs", HeldOutPairs, ">= 0");
        Require(!Resume || CheckpointEvery > 0 || CheckpointName is not null, "resume", Resume, "used with --checkpoint-every or --checkpoint-name");
        Require(!(Resume && Overwrite), "overwrite", Overwrite, "left out with --resume (continue the run, or replace it, not both)");
        Require(PromptsFile is null || Task is null, "prompts-file", PromptsFile!, "left out with --task (a run trains on a sandbox task or on your prompts)");
        Require(PromptsFile is null || File.Exists(PromptsFile), "prompts-file", PromptsFile!, "an existing file");
        Require(EvalPrompts is null || File.Exists(EvalPrompts), "eval-prompts", EvalPrompts!, "an existing file");
        Require(EvalPairs is null || File.Exists(EvalPairs), "eval-pairs", EvalPairs!, "an existing file");
        Require(EvalEvery >= 0, "eval-every", EvalEvery, ">= 0");
        if (Task is not null)
        {
            Sandbox.SandboxTask? task;
            try
            {
                task = Sandbox.SandboxTasks.Get(Task); // one lookup: names, case, '_' and the +gold-pairs suffix
            }
            catch (ArgumentException)
            {
                task = null;
            }

            Require(task is not null, "task", Task, "one of: " + string.Join(", ", Sandbox.SandboxTasks.Names) + " (each also as NAME" + Sandbox.SandboxTasks.GoldPairsSuffix + ")");
            // Gold labels reach the server only as annotation rewards (PairLabels.SelectionRewards).
            Require(task!.Labels != Sandbox.PairLabelSource.Gold || Choices.PairSelection(PairSelection) == Api.V1.PairSelection.Annotation,
                "pair-selection", PairSelection, $"annotation with --task {task.Name} (its pairs are picked by gold annotation rewards)");
        }

        _ = VariantConfig;
        _ = Choices.Algorithm(Algorithm);
        _ = Choices.Aggregation(Aggregation);
        _ = Choices.PairSelection(PairSelection);
    }

    /// <summary>Connection settings as client options.</summary>
    public R2MClientOptions ToClientOptions(Action<string, int, Exception, TimeSpan>? onRetry = null) => new()
    {
        Address = Server,
        ApiKey = ResolveApiKey(),
        CallTimeout = TimeSpan.FromSeconds(Timeout),
        MaxAttempts = Retries,
        InitialBackoff = TimeSpan.FromMilliseconds(BackoffMs),
        MaxBackoff = TimeSpan.FromMilliseconds(MaxBackoffMs),
        MaxConcurrency = Concurrency,
        OnRetry = onRetry,
    };

    private static void Require(bool ok, string flag, object value, string expected)
    {
        if (!ok)
        {
            throw new ArgumentException($"--{flag} = {value} must be {expected}");
        }
    }
}
