using System.Runtime.InteropServices;

namespace LlmPruneFast.Pruning;

/// <summary>
/// The system's OpenBLAS (Debian/Ubuntu <c>libopenblas0-pthread</c>, which build.sh installs), bound directly:
/// CBLAS dsyrk/dgemm and LAPACK dpotrf/dpotri/dpotrs, plus ssyrk/sgemm for the float32 copula Gram. Every routine
/// here works on ROW-MAJOR arrays like the rest of the engine.
/// <para>Why not MathNet.Numerics.Providers.OpenBLAS 5.0.0 (the obvious library)? Its managed provider calls a
/// Math.NET-specific native shim, <c>libMathNetNumericsOpenBLAS</c>, which the NuGet package does not ship (no
/// runtimes/ folder; checked in the 5.0.0 package) and no Linux distribution packages, so it always falls back to
/// managed code. Binding the five routines of the distribution's library is smaller than building that shim.</para>
/// <para>LAPACK is column-major; a symmetric row-major matrix is its own transpose, so the row-major LOWER triangle
/// is LAPACK's UPPER triangle ('U'): dpotrf 'U' leaves the row-major lower Cholesky factor L (A = L L^T).</para>
/// <para>When the library cannot be loaded (or <c>LLMPRUNE_BLAS=managed</c>), <see cref="Available"/> is false
/// and <see cref="DenseMath"/> uses its managed loops, after printing one note to stderr.</para>
/// </summary>
internal static unsafe class NativeBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112, Upper = 121, Lower = 122;

    private static readonly delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void> _dsyrk;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> _dgemm;
    private static readonly delegate* unmanaged<byte*, int*, double*, int*, int*, void> _dpotrf, _dpotri;
    private static readonly delegate* unmanaged<byte*, int*, int*, double*, int*, double*, int*, int*, void> _dpotrs;
    private static readonly delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void> _ssyrk;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> _sgemm;
    private static readonly delegate* unmanaged<int, void> _setThreads;
    private static int _noted;

    /// <summary>Why the native library is not used (null when it is).</summary>
    public static string? Unavailable { get; }

    public static bool Available => Unavailable == null;

    static NativeBlas()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("LLMPRUNE_BLAS"), "managed", StringComparison.OrdinalIgnoreCase))
        {
            Unavailable = "LLMPRUNE_BLAS=managed";
            return;
        }
        nint lib = 0;
        foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas" })
            if (NativeLibrary.TryLoad(name, out lib)) break;
        if (lib == 0)
        {
            Unavailable = "libopenblas.so.0 not found (install libopenblas0-pthread)";
            return;
        }
        nint Get(string symbol) => NativeLibrary.TryGetExport(lib, symbol, out var p) ? p : 0;
        nint syrk = Get("cblas_dsyrk"), gemm = Get("cblas_dgemm"), potrf = Get("dpotrf_"), potri = Get("dpotri_"), potrs = Get("dpotrs_");
        if (syrk == 0 || gemm == 0 || potrf == 0 || potri == 0 || potrs == 0)
        {
            Unavailable = "libopenblas lacks cblas_dsyrk/cblas_dgemm/dpotrf_/dpotri_/dpotrs_";
            return;
        }
        _dsyrk = (delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void>)syrk;
        _dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)gemm;
        _dpotrf = (delegate* unmanaged<byte*, int*, double*, int*, int*, void>)potrf;
        _dpotri = (delegate* unmanaged<byte*, int*, double*, int*, int*, void>)potri;
        _dpotrs = (delegate* unmanaged<byte*, int*, int*, double*, int*, double*, int*, int*, void>)potrs;
        _setThreads = (delegate* unmanaged<int, void>)Get("openblas_set_num_threads");
        _ssyrk = (delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void>)Get("cblas_ssyrk");
        _sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)Get("cblas_sgemm");
    }

    /// <summary>True when the native routines are in use; otherwise prints (once per process) why not.</summary>
    public static bool Use()
    {
        if (Available) return true;
        if (Interlocked.Exchange(ref _noted, 1) == 0)
            Console.Error.WriteLine($"note: dense linear algebra runs in managed code ({Unavailable}); it is much slower at large widths");
        return false;
    }

    /// <summary>OpenBLAS worker threads (the tool's --threads; values &lt;= 0 leave OpenBLAS's default: all cores).</summary>
    public static void SetThreads(int threads)
    {
        if (Available && threads > 0 && _setThreads != null) _setThreads(threads);
    }

    /// <summary>True when the float32 routines (<see cref="SyrkUpperAAtSingle"/>, <see cref="GemmABtSingle"/>) can be called.</summary>
    public static bool SingleAvailable => Available && _ssyrk != null && _sgemm != null;

    /// <summary>C = A A^T on the upper triangle only (row-major float32): A is n x k with row stride lda, C n x n.</summary>
    public static void SyrkUpperAAtSingle(int n, int k, ReadOnlySpan<float> a, int lda, Span<float> c)
    {
        if (n == 0) return;
        fixed (float* pa = a) fixed (float* pc = c)
            _ssyrk(RowMajor, Upper, NoTrans, n, k, 1f, pa, lda, 0f, pc, n);
    }

    /// <summary>C [m x n] = A B^T (row-major float32): A is m x k, B is n x k, row strides lda and ldb.</summary>
    public static void GemmABtSingle(int m, int n, int k, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c)
    {
        if (m == 0 || n == 0) return;
        fixed (float* pa = a) fixed (float* pb = b) fixed (float* pc = c)
            _sgemm(RowMajor, NoTrans, Trans, m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, n);
    }

    /// <summary>
    /// C = alpha A^T A + beta C on the lower triangle only (row-major): A is k x n with row stride lda, C n x n.
    /// Callers mirror the triangle themselves.
    /// </summary>
    public static void SyrkLowerAtA(int n, int k, double alpha, ReadOnlySpan<double> a, int lda, double beta, Span<double> c)
    {
        if (n == 0) return;
        fixed (double* pa = a) fixed (double* pc = c)
            _dsyrk(RowMajor, Lower, Trans, n, k, alpha, pa, lda, beta, pc, n);
    }

    /// <summary>C = alpha A A^T + beta C on the lower triangle only (row-major): A is n x k with row stride lda.</summary>
    public static void SyrkLowerAAt(int n, int k, double alpha, ReadOnlySpan<double> a, int lda, double beta, Span<double> c)
    {
        if (n == 0) return;
        fixed (double* pa = a) fixed (double* pc = c)
            _dsyrk(RowMajor, Lower, NoTrans, n, k, alpha, pa, lda, beta, pc, n);
    }

    /// <summary>C [m x n] = alpha op(A) op(B) + beta C, row-major, leading dimensions explicit.</summary>
    public static void Gemm(bool transA, bool transB, int m, int n, int k, double alpha, ReadOnlySpan<double> a, int lda,
        ReadOnlySpan<double> b, int ldb, double beta, Span<double> c, int ldc)
    {
        if (m == 0 || n == 0) return;
        fixed (double* pa = a) fixed (double* pb = b) fixed (double* pc = c)
            _dgemm(RowMajor, transA ? Trans : NoTrans, transB ? Trans : NoTrans, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
    }

    /// <summary>
    /// In place, symmetric positive-definite A (n x n row-major, lower triangle read) becomes its lower Cholesky factor
    /// (the strict upper triangle is left untouched). Returns LAPACK's info: 0, or i &gt; 0 when pivot i-1 failed.
    /// </summary>
    public static int CholeskyLower(Span<double> a, int n)
    {
        byte uplo = (byte)'U';
        int nn = n, lda = Math.Max(1, n), info = 0;
        fixed (double* pa = a) _dpotrf(&uplo, &nn, pa, &lda, &info);
        return info;
    }

    /// <summary>From the lower Cholesky factor (row-major), the lower triangle of A^-1 in place. Returns LAPACK's info.</summary>
    public static int InverseFromCholeskyLower(Span<double> l, int n)
    {
        byte uplo = (byte)'U';
        int nn = n, lda = Math.Max(1, n), info = 0;
        fixed (double* pl = l) _dpotri(&uplo, &nn, pl, &lda, &info);
        return info;
    }

    /// <summary>
    /// Solves (L L^T) X = B with L the lower Cholesky factor (row-major n x n); B is m right-hand sides stored as m
    /// contiguous columns of length n (that is, B^T row-major, m x n), overwritten with X the same way.
    /// </summary>
    public static int SolveCholeskyLower(ReadOnlySpan<double> l, int n, Span<double> bColumns, int m)
    {
        byte uplo = (byte)'U';
        int nn = n, mm = m, lda = Math.Max(1, n), ldb = Math.Max(1, n), info = 0;
        fixed (double* pl = l) fixed (double* pb = bColumns) _dpotrs(&uplo, &nn, &mm, pl, &lda, pb, &ldb, &info);
        return info;
    }
}
