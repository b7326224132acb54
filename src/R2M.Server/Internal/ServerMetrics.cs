using Prometheus;

namespace R2M.Server.Internal;

/// <summary>
/// r2m-server's Prometheus metrics (prometheus-net), in a registry of this server's own: two
/// servers in one process (tests, benchmarks) never share series, and nothing is registered in the
/// library's process-wide default registry. Served as text exposition 0.0.4 on the metrics port.
/// </summary>
internal sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly Counter _requests;
    private readonly Histogram _latency;
    private readonly Histogram _batchSizes;
    private readonly Counter _scoredItems;
    private readonly Gauge _rmVersion, _policyVersion, _btLoss, _greLoss, _policyLoss, _kl, _storeRollouts, _storeBytes;
    private readonly Gauge _evicted;
    private readonly Gauge _inFlight;

    public ServerMetrics()
    {
        var f = Metrics.WithCustomRegistry(Registry);
        _requests = f.CreateCounter("r2m_requests_total", "gRPC calls by method and status code.", "method", "code");
        _latency = f.CreateHistogram("r2m_request_duration_seconds", "gRPC call latency by method.",
            new HistogramConfiguration { LabelNames = ["method"], Buckets = LatencyBuckets });
        _batchSizes = f.CreateHistogram("r2m_score_batch_size", "Items per reward-backbone batch (dynamic batching).",
            new HistogramConfiguration { Buckets = BatchBuckets });
        _scoredItems = f.CreateCounter("r2m_scored_items_total", "Items scored.");
        _rmVersion = f.CreateGauge("r2m_rm_version", "Current reward model version.");
        _policyVersion = f.CreateGauge("r2m_policy_version", "Current policy version.");
        _btLoss = f.CreateGauge("r2m_update_bt_loss", "Bradley-Terry loss of the last Update.");
        _greLoss = f.CreateGauge("r2m_update_gre_loss", "Group reward entropy loss of the last Update.");
        _policyLoss = f.CreateGauge("r2m_optimize_policy_loss", "Policy loss of the last Optimize.");
        _kl = f.CreateGauge("r2m_optimize_kl", "KL to the reference policy of the last Optimize.");
        _storeRollouts = f.CreateGauge("r2m_rollout_store_rollouts", "Rollouts held.");
        _storeBytes = f.CreateGauge("r2m_rollout_store_bytes", "Bytes held by the rollout store.");
        // A gauge named like a counter: the store reports its running total, which only grows.
        _evicted = f.CreateGauge("r2m_rollout_store_evicted_total", "Rollouts evicted to stay under the cap (running total).");
        _inFlight = f.CreateGauge("r2m_inflight_bytes", "Bytes held by running calls (unanswered Score items, request messages), under R2M:MaxInFlightBytes.");
    }

    /// <summary>This server's registry (the /metrics endpoint serves it).</summary>
    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public void RecordRequest(string method, string code, double seconds)
    {
        _requests.WithLabels(method, code).Inc();
        _latency.WithLabels(method).Observe(seconds);
    }

    public void RecordBatch(int size)
    {
        _batchSizes.Observe(size);
        _scoredItems.Inc(size);
    }

    public void SetPolicyVersion(ulong version) => _policyVersion.Set(version);

    public void SetRmVersion(ulong version) => _rmVersion.Set(version);

    public void SetRewardLosses(float bt, float gre)
    {
        _btLoss.Set(bt);
        _greLoss.Set(gre);
    }

    public void SetPolicyLosses(float loss, float kl)
    {
        _policyLoss.Set(loss);
        _kl.Set(kl);
    }

    public void SetStore(long rollouts, long bytes, long evicted)
    {
        _storeRollouts.Set(rollouts);
        _storeBytes.Set(bytes);
        _evicted.Set(evicted);
    }

    public void SetInFlightBytes(long bytes) => _inFlight.Set(bytes);
}
