using R2M.Tensors.Internal;

namespace R2M.Tensors;

/// <summary>
/// Single-precision GEMM, row-major, with the cblas_sgemm (CblasRowMajor) contract:
/// C(m,n) = alpha * op(A)(m,k) @ op(B)(k,n) + beta * C, where op(X) is X or X^T per flag.
/// lda/ldb/ldc are row strides of the matrices as stored: A is stored (m,k) or, when transA,
/// (k,m); B is stored (k,n) or, when transB, (n,k). beta == 0 overwrites C (NaN in C ignored).
/// </summary>
public static class Gemm
{
    private static GemmBackend s_backend = GemmBackend.Auto;
    private static int s_threads = Environment.ProcessorCount;

    /// <summary>Backend used by <see cref="Sgemm"/>. Auto = OpenBLAS when it loads, else Managed.</summary>
    public static GemmBackend Backend
    {
        get => s_backend;
        set
        {
            if (!Enum.IsDefined(value))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "unknown GemmBackend");
            }
            s_backend = value;
        }
    }

    /// <summary>True when libopenblas.so.0 loaded and exports cblas_sgemm.</summary>
    public static bool OpenBlasAvailable => OpenBlas.Available;

    /// <summary>
    /// The backend a call to <see cref="Sgemm"/> uses for small and skinny products (decode-sized);
    /// <see cref="BackendFor"/> gives the choice for a given shape.
    /// </summary>
    public static GemmBackend EffectiveBackend =>
        s_backend == GemmBackend.Auto ? (OpenBlas.Available ? GemmBackend.OpenBlas : GemmBackend.Managed) : s_backend;

    /// <summary>Smallest m and n (and k) that <see cref="GemmBackend.Auto"/> sends to the AVX-512 managed kernel.</summary>
    private const int ManagedMinMN = 128, ManagedMinK = 64;

    /// <summary>
    /// The backend <see cref="Sgemm"/> uses for an (m,n,k) product. Under Auto, large products run on
    /// the managed kernel when its AVX-512 8x32 micro-kernel is selected: on this project's machines
    /// (Debian libopenblas0-pthread 0.3.x) it measured ~1.5x OpenBLAS's single-core rate on the
    /// transformer shapes (2048 x 768..3072, CPU time, tests/R2M.Benchmarks `gemm`), while OpenBLAS
    /// stays ahead on skinny products (m &lt; ~64, e.g. batch-8 decode).
    /// </summary>
    public static GemmBackend BackendFor(int m, int n, int k) => BackendFor(false, true, m, n, k);

    /// <summary>
    /// The backend <see cref="Sgemm"/> uses for this product. Besides the large products above, Auto
    /// sends few-row x W^T products (m &lt;= 16, B stored (n,k): a decode step's projections and LM head)
    /// to the managed AVX-512 few-rows kernel (Kernels/FewRowsKernel.cs), which streams the weights
    /// once on all threads; OpenBLAS's sgemm packs B for them and measured several times slower.
    /// </summary>
    public static GemmBackend BackendFor(bool transA, bool transB, int m, int n, int k)
    {
        var b = EffectiveBackend;
        if (s_backend != GemmBackend.Auto || b != GemmBackend.OpenBlas || !Kernels.GemmMicroKernel.IsAvx512)
        {
            return b;
        }
        bool large = m >= ManagedMinMN && n >= ManagedMinMN && k >= ManagedMinK;
        return large || ManagedGemm.UsesFewRows(m, transA, transB) ? GemmBackend.Managed : b;
    }

    /// <summary>
    /// Worker threads for both backends (openblas_set_num_threads and the managed Parallel.For),
    /// also used by the parallel kernels in this library. Default: Environment.ProcessorCount.
    /// </summary>
    public static int ThreadCount
    {
        get => s_threads;
        set
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "ThreadCount must be >= 1");
            }
            s_threads = value;
            if (OpenBlas.Available)
            {
                OpenBlas.SetThreads(value);
            }
        }
    }

    /// <summary>C(m,n) = alpha * op(A) @ op(B) + beta * C on the selected <see cref="Backend"/>.</summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        if (BackendFor(transA, transB, m, n, k) == GemmBackend.OpenBlas)
        {
            SgemmOpenBlas(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
        else
        {
            SgemmManaged(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    /// <summary>
    /// C(m,n) = alpha * A(m,k) @ W^T + beta * C with W an (n,k) <see cref="WeightMatrix"/> of any
    /// precision, on the managed kernels (few rows: the decode kernel; more: the blocked GEMM, widening
    /// W while packing). A and C are row-major with row strides lda and ldc.
    /// </summary>
    public static void Sgemm(int m, float alpha, ReadOnlySpan<float> a, int lda, WeightMatrix w, float beta, Span<float> c, int ldc)
    {
        ArgumentNullException.ThrowIfNull(w);
        Validate(false, false, m, w.Rows, w.Cols, a, lda, default, Math.Max(1, w.Rows), c, ldc, checkB: false);
        ManagedGemm.Run(m, alpha, a, lda, w, beta, c, ldc, s_threads);
    }

    /// <summary>Same contract as <see cref="Sgemm"/>, always on the managed kernel.</summary>
    public static void SgemmManaged(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        ManagedGemm.Run(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, s_threads);
    }

    /// <summary>Same contract as <see cref="Sgemm"/>, always on OpenBLAS.</summary>
    /// <exception cref="InvalidOperationException">libopenblas.so.0 could not be loaded.</exception>
    public static unsafe void SgemmOpenBlas(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        Validate(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
        if (!OpenBlas.Available)
        {
            throw new InvalidOperationException("OpenBLAS (libopenblas.so.0) is not available; install libopenblas0-pthread or use GemmBackend.Managed");
        }
        if (m == 0 || n == 0)
        {
            return;
        }
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            OpenBlas.Sgemm(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc, bool checkB = true)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "m must be >= 0");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "n must be >= 0");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "k must be >= 0");
        CheckMatrix(nameof(a), nameof(lda), a.Length, lda, transA ? k : m, transA ? m : k);
        if (checkB)
        {
            CheckMatrix(nameof(b), nameof(ldb), b.Length, ldb, transB ? n : k, transB ? k : n);
        }
        CheckMatrix(nameof(c), nameof(ldc), c.Length, ldc, m, n);
    }

    private static void CheckMatrix(string name, string ldName, int length, int ld, int rows, int cols)
    {
        if (ld < Math.Max(1, cols))
        {
            throw new ArgumentException($"{ldName} = {ld} is smaller than the {cols} columns of stored {name} ({rows}x{cols})", ldName);
        }
        long need = rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;
        if (length < need)
        {
            throw new ArgumentException($"{name} has {length} elements but a stored {rows}x{cols} matrix with row stride {ld} needs {need}", name);
        }
    }
}
