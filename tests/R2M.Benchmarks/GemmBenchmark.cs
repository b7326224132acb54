using R2M.Tensors;

namespace R2M.Benchmarks;

/// <summary>
/// SGEMM GFLOP/s of OpenBLAS (cblas_sgemm) and the managed kernel, side by side at the same thread
/// count, on a large square product and on the transformer-shaped products of a Pythia-160M layer at
/// batch 4 x 512 (QKV projection, MLP up, and the MLP down weight gradient).
/// Options: --threads N (default: processor count), --quick (smaller sizes, one repetition).
/// </summary>
public sealed class GemmBenchmark : IBenchmark
{
    public string Name => "gemm";

    public string Description => "SGEMM GFLOP/s: OpenBLAS vs managed kernel (square and transformer shapes)";

    public Task RunAsync(string[] args)
    {
        int threads = Environment.ProcessorCount;
        int idx = Array.IndexOf(args, "--threads");
        if (idx >= 0 && (idx + 1 >= args.Length || !int.TryParse(args[idx + 1], out threads) || threads < 1))
        {
            Console.Error.WriteLine("gemm: --threads needs a positive integer");
            return Task.CompletedTask;
        }
        bool quick = args.Contains("--quick");
        int reps = quick ? 1 : 5;
        int sq = quick ? 1024 : 2048;
        Console.WriteLine($"threads {threads}, managed kernel {ManagedKernelName}, OpenBLAS {(Gemm.OpenBlasAvailable ? "loaded" : "MISSING")}");
        var shapes = new (string Label, bool Ta, bool Tb, int M, int N, int K)[]
        {
            ($"square {sq}^3", false, false, sq, sq, sq),
            ("qkv   x(2048,768) W(2304,768)^T", false, true, 2048, 2304, 768),
            ("mlp   x(2048,768) W(3072,768)^T", false, true, 2048, 3072, 768),
            ("dW    dy(2048,768)^T x(2048,3072)", true, false, 768, 3072, 2048),
            ("decode x(8,768) W(2304,768)^T", false, true, 8, 2304, 768),
        };
        Console.WriteLine($"{"shape",-36} {"OpenBLAS",10} {"managed",10} {"managed/OpenBLAS",17}");
        double peak = double.NaN;
        foreach (var s in shapes)
        {
            double managed = SgemmPeak.MeasureShape(GemmBackend.Managed, threads, s.Ta, s.Tb, s.M, s.N, s.K, reps);
            double blas = Gemm.OpenBlasAvailable
                ? SgemmPeak.MeasureShape(GemmBackend.OpenBlas, threads, s.Ta, s.Tb, s.M, s.N, s.K, reps)
                : double.NaN;
            Console.WriteLine($"{s.Label,-36} {blas,10:F1} {managed,10:F1} {managed / blas,17:F2}");
            if (double.IsNaN(peak))
            {
                // The square row is exactly what SgemmPeak.Measure(threads, sq, reps) times (OpenBLAS
                // when it loads, else managed); reuse it instead of timing the same product again.
                peak = Gemm.OpenBlasAvailable ? blas : managed;
            }
        }
        Console.WriteLine($"SgemmPeak.Measure({threads}) = {peak:F1} GFLOP/s (the square row)");
        return Task.CompletedTask;
    }

    private static string ManagedKernelName => Tensors.Kernels.GemmMicroKernel.Name;
}
