using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace R2M.Server.Internal;

/// <summary>
/// Counters, gauges and histograms rendered in the Prometheus text exposition format (version
/// 0.0.4: "# HELP", "# TYPE", then one "name{labels} value" line per series).
/// </summary>
internal sealed class ServerMetrics
{
    private static readonly double[] LatencyBuckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly ConcurrentDictionary<(string Method, string Code), long> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _latency = new(StringComparer.Ordinal);
    private readonly Histogram _batchSizes = new(BatchBuckets);
    private long _scoredItems;
    private long _rmVersion;
    private long _policyVersion;
    private double _btLoss, _greLoss, _policyLoss, _kl;
    private long _storeBytes, _storeRollouts, _evicted;

    public void RecordRequest(string method, string code, double seconds)
    {
        _requests.AddOrUpdate((method, code), 1, static (_, v) => v + 1);
        _latency.GetOrAdd(method, static _ => new Histogram(LatencyBuckets)).Observe(seconds);
    }

    public void RecordBatch(int size)
    {
        _batchSizes.Observe(size);
        Interlocked.Add(ref _scoredItems, size);
    }

    public void SetVersions(ulong policyVersion, ulong rmVersion)
    {
        Interlocked.Exchange(ref _policyVersion, (long)policyVersion);
        Interlocked.Exchange(ref _rmVersion, (long)rmVersion);
    }

    public void SetRewardLosses(float bt, float gre)
    {
        Volatile.Write(ref _btLoss, bt);
        Volatile.Write(ref _greLoss, gre);
    }

    public void SetPolicyLosses(float loss, float kl)
    {
        Volatile.Write(ref _policyLoss, loss);
        Volatile.Write(ref _kl, kl);
    }

    public void SetStore(long rollouts, long bytes, long evicted)
    {
        Interlocked.Exchange(ref _storeRollouts, rollouts);
        Interlocked.Exchange(ref _storeBytes, bytes);
        Interlocked.Exchange(ref _evicted, evicted);
    }

    public string Render()
    {
        var sb = new StringBuilder();
        Header(sb, "r2m_requests_total", "counter", "gRPC calls by method and status code.");
        foreach (var ((method, code), n) in _requests.OrderBy(p => p.Key.Method).ThenBy(p => p.Key.Code))
        {
            sb.Append("r2m_requests_total{method=\"").Append(method).Append("\",code=\"").Append(code).Append("\"} ")
              .Append(n.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        Header(sb, "r2m_request_duration_seconds", "histogram", "gRPC call latency by method.");
        foreach (var (method, h) in _latency.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            h.Render(sb, "r2m_request_duration_seconds", $"method=\"{method}\"");
        }

        Header(sb, "r2m_score_batch_size", "histogram", "Items per reward-backbone batch (dynamic batching).");
        _batchSizes.Render(sb, "r2m_score_batch_size", "");
        Gauge(sb, "r2m_scored_items_total", "counter", "Items scored.", Interlocked.Read(ref _scoredItems));
        Gauge(sb, "r2m_rm_version", "gauge", "Current reward model version.", Interlocked.Read(ref _rmVersion));
        Gauge(sb, "r2m_policy_version", "gauge", "Current policy version.", Interlocked.Read(ref _policyVersion));
        Gauge(sb, "r2m_update_bt_loss", "gauge", "Bradley-Terry loss of the last Update.", Volatile.Read(ref _btLoss));
        Gauge(sb, "r2m_update_gre_loss", "gauge", "Group reward entropy loss of the last Update.", Volatile.Read(ref _greLoss));
        Gauge(sb, "r2m_optimize_policy_loss", "gauge", "Policy loss of the last Optimize.", Volatile.Read(ref _policyLoss));
        Gauge(sb, "r2m_optimize_kl", "gauge", "KL to the reference policy of the last Optimize.", Volatile.Read(ref _kl));
        Gauge(sb, "r2m_rollout_store_rollouts", "gauge", "Rollouts held.", Interlocked.Read(ref _storeRollouts));
        Gauge(sb, "r2m_rollout_store_bytes", "gauge", "Bytes held by the rollout store.", Interlocked.Read(ref _storeBytes));
        Gauge(sb, "r2m_rollout_store_evicted_total", "counter", "Rollouts evicted to stay under the cap.", Interlocked.Read(ref _evicted));
        return sb.ToString();
    }

    private static void Header(StringBuilder sb, string name, string type, string help) =>
        sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
          .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Gauge(StringBuilder sb, string name, string type, string help, double value)
    {
        Header(sb, name, type, help);
        sb.Append(name).Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }

    private sealed class Histogram(double[] bounds)
    {
        private readonly Lock _lock = new();
        private readonly long[] _counts = new long[bounds.Length + 1];
        private double _sum;
        private long _count;

        public void Observe(double value)
        {
            var i = 0;
            while (i < bounds.Length && value > bounds[i]) i++;
            lock (_lock)
            {
                _counts[i]++;
                _sum += value;
                _count++;
            }
        }

        public void Render(StringBuilder sb, string name, string labels)
        {
            lock (_lock)
            {
                long cumulative = 0;
                var sep = labels.Length == 0 ? "" : ",";
                for (var i = 0; i <= bounds.Length; i++)
                {
                    cumulative += _counts[i];
                    var le = i < bounds.Length ? bounds[i].ToString("R", CultureInfo.InvariantCulture) : "+Inf";
                    sb.Append(name).Append("_bucket{").Append(labels).Append(sep).Append("le=\"").Append(le).Append("\"} ")
                      .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }

                var l = labels.Length == 0 ? "" : "{" + labels + "}";
                sb.Append(name).Append("_sum").Append(l).Append(' ').Append(_sum.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
                sb.Append(name).Append("_count").Append(l).Append(' ').Append(_count.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }
}
