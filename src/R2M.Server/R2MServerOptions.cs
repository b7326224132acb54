using System.Net;

namespace R2M.Server;

/// <summary>
/// Settings of r2m-server, bound from the configuration section <c>R2M</c>: appsettings.json, then
/// environment variables (<c>R2M__ApiKey</c>), then command-line flags (<c>--R2M:ApiKey=...</c> or the
/// short forms listed in <see cref="R2MServer.SwitchMappings"/>, e.g. <c>--api-key</c>). Later sources win.
/// </summary>
public sealed class R2MServerOptions
{
    public const string SectionName = "R2M";

    /// <summary>Address to listen on. Loopback by default: exposing the server is an explicit choice.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one (the chosen port is logged and exposed by <see cref="R2MServer.GetPort"/>).</summary>
    public int Port { get; set; } = 50051;

    /// <summary>HuggingFace-format policy directory (config.json, *.safetensors, tokenizer.json).</summary>
    public string? PolicyPath { get; set; }

    /// <summary>HuggingFace-format reward model directory (a *ForSequenceClassification or GPTNeoXRewardModel).</summary>
    public string? RewardModelPath { get; set; }

    /// <summary>
    /// When set, every method declared WRITE in the protos (Optimize, Update, checkpoints, Reset)
    /// needs <c>authorization: Bearer &lt;key&gt;</c>. From appsettings.json or the environment
    /// (<c>R2M__ApiKey</c>) only: a key on the command line is refused, since other users can read
    /// a process's arguments.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>A file whose content (trailing line break removed) is the API key; an alternative to <see cref="ApiKey"/>.</summary>
    public string? ApiKeyFile { get; set; }

    /// <summary>When true (and a key is set), every r2m call (READ methods too) and /metrics need the key; health never does.</summary>
    public bool ApiKeyRequiredForAll { get; set; }

    /// <summary>Largest request message accepted (bytes). Hidden states are big: default 64 MiB.</summary>
    public int MaxReceiveMessageBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Largest response message sent (bytes).</summary>
    public int MaxSendMessageBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>Memory cap of the rollout store in bytes; oldest rollouts are evicted beyond it.</summary>
    public long RolloutStoreBytes { get; set; } = 1L << 30;

    /// <summary>Dynamic batching: how long the first item of a batch waits for others (milliseconds).</summary>
    public double ScoreBatchWindowMs { get; set; } = 2;

    /// <summary>Dynamic batching: most items per backbone batch.</summary>
    public int ScoreMaxBatch { get; set; } = 64;

    /// <summary>Most Score items in flight per stream (RESOURCE_EXHAUSTED beyond).</summary>
    public int MaxScoreItemsInFlight { get; set; } = 256;

    /// <summary>Cross-attention width d of the R2M head (paper: 2048 for 3B-8B models).</summary>
    public int AttentionDim { get; set; } = 64;

    /// <summary>Cross-attention heads (1 is the paper).</summary>
    public int AttentionHeads { get; set; } = 1;

    /// <summary>Seed of the cross-attention initialization and of the sampler when a request has none.</summary>
    public ulong Seed { get; set; } = 1234;

    /// <summary>Default AdamW learning rate of the reward head (Update without learning_rate).</summary>
    public float RewardLearningRate { get; set; } = 1e-3f;

    /// <summary>Default AdamW learning rate of the policy (Optimize without learning_rate).</summary>
    public float PolicyLearningRate { get; set; } = 1e-4f;

    /// <summary>Directory under which named checkpoints are written.</summary>
    public string CheckpointRoot { get; set; } = "checkpoints";

    /// <summary>Allow checkpoint paths outside <see cref="CheckpointRoot"/>.</summary>
    public bool AllowArbitraryCheckpointPaths { get; set; }

    /// <summary>Largest K per prompt and largest prompts*K per Generate call.</summary>
    public int MaxSamplesPerPrompt { get; set; } = 64;

    public int MaxRolloutsPerGenerate { get; set; } = 1024;

    /// <summary>Default max new tokens of Generate.</summary>
    public int DefaultMaxNewTokens { get; set; } = 64;

    /// <summary>Checkpoint to load at startup (a name under the root or a path), so a restarted server resumes.</summary>
    public string? ResumeFrom { get; set; }

    /// <summary>HTTP/1.1 port serving /metrics for Prometheus (0: OS-chosen; unset: no metrics endpoint). Behind the key when every call needs it.</summary>
    public int? MetricsPort { get; set; }

    /// <summary>
    /// TLS certificate for the gRPC endpoint (HTTP/2 over TLS, ALPN h2): a PEM certificate (with
    /// <see cref="CertificateKeyPath"/>) or a PKCS#12 file. Unset: cleartext HTTP/2 (prior knowledge).
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key of a PEM <see cref="CertificatePath"/> (unset for PKCS#12 or a PEM holding both).</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>Include exception messages of unexpected failures in statuses (development only).</summary>
    public bool DetailedErrors { get; set; }

    /// <summary>
    /// Most hidden-state bytes one Score item or Update member may hold once decoded (4 bytes per
    /// element whatever the wire dtype), summed over its chunks. An item above it gets RESOURCE_EXHAUSTED
    /// (in-band for Score); its further chunks are read and dropped.
    /// </summary>
    public long MaxHiddenStateBytesPerItem { get; set; } = 64L << 20;

    /// <summary>
    /// Most bytes one call may hold: a Score stream's unanswered items (decoded hidden states, tokens,
    /// the item itself) and the request messages of a client-streamed call (Update, Optimize). A Score
    /// stream at the cap stops reading (backpressure) until its own replies are sent; a client stream
    /// above it gets RESOURCE_EXHAUSTED.
    /// </summary>
    public long MaxInFlightBytesPerStream { get; set; } = 256L << 20;

    /// <summary>Most bytes all calls together may hold (the same accounting); beyond it RESOURCE_EXHAUSTED (Score: in-band).</summary>
    public long MaxInFlightBytes { get; set; } = 1L << 30;

    /// <summary>Most UTF-8 bytes of one text field that the server tokenizes (prompt and response texts), checked before tokenizing.</summary>
    public int MaxTextBytes { get; set; } = 1 << 20;

    /// <summary>
    /// Serve on a non-loopback address without an API key. Off by default: r2m-server refuses to start
    /// on such an address without a key unless the operator sets this, saying so explicitly.
    /// </summary>
    public bool AllowUnauthenticatedNetwork { get; set; }

    internal IPAddress ListenAddress() => Host == "localhost" ? IPAddress.Loopback : IPAddress.Parse(Host);
}
