namespace R2M.Tensors;

/// <summary>Which SGEMM implementation <see cref="Gemm.Sgemm"/> dispatches to.</summary>
public enum GemmBackend
{
    /// <summary>OpenBLAS when libopenblas.so.0 loads, else the managed kernel.</summary>
    Auto,
    /// <summary>OpenBLAS cblas_sgemm; throws if the library is missing.</summary>
    OpenBlas,
    /// <summary>The managed blocked SIMD kernel.</summary>
    Managed,
}
