namespace R2M.Tensors;

/// <summary>Which SGEMM implementation <see cref="Gemm.Sgemm"/> dispatches to.</summary>
public enum GemmBackend
{
    /// <summary>
    /// OpenBLAS when libopenblas.so.0 loads, else the managed kernel; with OpenBLAS loaded, large
    /// products (m, n &gt;= 128, k &gt;= 64) still go to the managed kernel when its AVX-512 micro-kernel
    /// runs (see <see cref="Gemm.BackendFor"/>).
    /// </summary>
    Auto,
    /// <summary>OpenBLAS cblas_sgemm; throws if the library is missing.</summary>
    OpenBlas,
    /// <summary>The managed blocked SIMD kernel.</summary>
    Managed,
}
