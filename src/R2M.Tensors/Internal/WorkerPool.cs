namespace R2M.Tensors.Internal;

/// <summary>
/// Fork-join for the kernels with little hand-off latency: <see cref="Gemm.ThreadCount"/> - 1
/// dedicated background workers plus the calling thread pull part indices from a shared counter
/// (so a late or descheduled worker's parts are taken by the others). A decode step forks ~100
/// times for ~0.1 ms each; Parallel.For's task hand-off and thread-pool wake-up cost a sizeable share
/// of that, so workers spin briefly for the next fork before blocking. Calls from inside a part, or
/// while another thread holds the pool, fall back to running inline or to Parallel.For.
/// </summary>
internal static class WorkerPool
{
    /// <summary>How long an idle worker polls for the next fork before it blocks: iterations of Thread.SpinWait(32), ~1 us each, so ~50 us.</summary>
    private const int SpinIterations = 50;

    private static readonly object Gate = new();
    private static readonly List<Worker> Workers = [];
    private static volatile Job? s_current;
    private static int s_epoch;

    [ThreadStatic]
    private static bool t_inside;


    /// <summary>Runs body(0..parts-1) on up to <paramref name="maxThreads"/> threads, the caller included.</summary>
    public static void Run(int parts, int maxThreads, Action<int> body)
    {
        int threads = Math.Min(parts, maxThreads);
        if (parts <= 1 || threads <= 1 || t_inside)
        {
            for (int i = 0; i < parts; i++)
            {
                body(i);
            }
            return;
        }
        if (!Monitor.TryEnter(Gate))
        {
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
            return;
        }
        try
        {
            while (Workers.Count < threads - 1)
            {
                Workers.Add(new Worker());
            }
            var job = new Job(body, parts, ++s_epoch);
            s_current = job;
            for (int w = 0; w < threads - 1; w++)
            {
                Workers[w].Wake();
            }
            t_inside = true;
            try
            {
                job.Drain();
            }
            finally
            {
                t_inside = false;
            }
            job.WaitAll();
        }
        finally
        {
            Monitor.Exit(Gate);
        }
    }

    private sealed class Job(Action<int> body, int parts, int epoch)
    {
        private int _next;
        private int _done;
        private Exception? _error;

        public int Epoch => epoch;

        public void Drain()
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < parts)
            {
                try
                {
                    body(i);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref _error, e, null);
                }
                Interlocked.Increment(ref _done);
            }
        }

        public void WaitAll()
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < parts)
            {
                spin.SpinOnce(sleep1Threshold: -1);
            }
            if (_error is { } e)
            {
                throw new AggregateException(e);
            }
        }
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim _signal = new(0);

        public Worker()
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = "R2M.Tensors worker" };
            thread.Start();
        }

        public void Wake()
        {
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }

        private void Loop()
        {
            t_inside = true;
            int seen = 0;
            while (true)
            {
                var job = Poll(seen);
                if (job is null)
                {
                    _signal.Wait();
                    continue;
                }
                seen = job.Epoch;
                job.Drain();
            }
        }

        private static Job? Poll(int seen)
        {
            for (int i = 0; i < SpinIterations; i++)
            {
                if (s_current is { } job && job.Epoch != seen)
                {
                    return job;
                }
                Thread.SpinWait(32);
            }
            return null;
        }
    }
}
