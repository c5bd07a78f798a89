using System.Numerics.Tensors;

namespace LlmPruneFast.Pruning;

/// <summary>
/// The few dense float64 routines pruning needs (row-major storage, sizes explicit): Cholesky factorisation,
/// solves and the inverse of symmetric positive-definite matrices. Inner loops are contiguous dot products
/// (SIMD through TensorPrimitives); outer loops run in parallel when the matrix is large.
/// </summary>
internal static class DenseMath
{
    private const int ParallelThreshold = 96;

    /// <summary>
    /// In place, A (n x n, symmetric positive definite) becomes its lower Cholesky factor L with A = L L^T
    /// (the strict upper triangle is zeroed). Throws <see cref="BadDataException"/> naming <paramref name="what"/>
    /// when a pivot is not positive.
    /// </summary>
    public static void CholeskyInPlace(double[] a, int n, string what) => CholeskyInPlace(a, n, what, NativeBlas.Use());

    /// <summary><see cref="CholeskyInPlace(double[], int, string)"/> on OpenBLAS or on the managed loops (tests compare them).</summary>
    internal static void CholeskyInPlace(double[] a, int n, string what, bool native)
    {
        if (native)
        {
            NativeCholesky(a, n, what);
            for (int i = 0; i < n; i++) a.AsSpan(i * n + i + 1, n - i - 1).Clear();
            return;
        }
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.AsSpan(j * n, j);
            double d = a[j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(d > 0) || !double.IsFinite(d))
                throw new BadDataException($"{what}: matrix is not positive definite (pivot {j} = {d:G6}); add damping");
            double ljj = Math.Sqrt(d);
            a[j * n + j] = ljj;
            int first = j + 1, count = n - first;
            if (count <= 0) continue;
            if (count * j >= ParallelThreshold * ParallelThreshold)
                Parallel.For(first, n, i => Eliminate(a, n, i, j, ljj));
            else
                for (int i = first; i < n; i++) Eliminate(a, n, i, j, ljj);
        }
        for (int i = 0; i < n; i++) a.AsSpan(i * n + i + 1, n - i - 1).Clear();
    }

    private static void NativeCholesky(double[] a, int n, string what)
    {
        // LAPACK stops at the first non-positive pivot but lets NaN through: check the factor's diagonal too.
        int info = NativeBlas.CholeskyLower(a, n);
        if (info < 0) throw new InvalidOperationException($"dpotrf: argument {-info} invalid");
        if (info > 0)
            throw new BadDataException($"{what}: matrix is not positive definite (pivot {info - 1} = {a[(long)(info - 1) * n + info - 1]:G6}); add damping");
        for (int j = 0; j < n; j++)
            if (!double.IsFinite(a[(long)j * n + j]))
                throw new BadDataException($"{what}: matrix is not positive definite (pivot {j} = {a[(long)j * n + j]:G6}); add damping");
    }

    private static void Eliminate(double[] a, int n, int i, int j, double ljj)
    {
        double s = a[i * n + j] - TensorPrimitives.Dot<double>(a.AsSpan(i * n, j), a.AsSpan(j * n, j));
        a[i * n + j] = s / ljj;
    }

    /// <summary>
    /// Solves (L L^T) X = B in place for m right-hand sides: B is n x m row-major on entry, X on return.
    /// </summary>
    public static void CholeskySolveInPlace(double[] l, int n, double[] b, int m) => CholeskySolveInPlace(l, n, b, m, NativeBlas.Use());

    internal static void CholeskySolveInPlace(double[] l, int n, double[] b, int m, bool native)
    {
        // Work column-major on a transposed copy so every right-hand side is contiguous.
        var bt = new double[(long)n * m];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < m; c++) bt[(long)c * n + i] = b[(long)i * m + c];
        if (native)
        {
            int info = NativeBlas.SolveCholeskyLower(l, n, bt, m);
            if (info != 0) throw new InvalidOperationException($"dpotrs: info {info}");
        }
        else
        {
        void SolveOne(int c)
        {
            var x = bt.AsSpan(c * n, n);
            for (int i = 0; i < n; i++)   // forward: L y = b
                x[i] = (x[i] - TensorPrimitives.Dot<double>(l.AsSpan(i * n, i), x[..i])) / l[i * n + i];
            for (int i = n - 1; i >= 0; i--)   // backward: L^T x = y
            {
                double s = x[i];
                for (int k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
                x[i] = s / l[i * n + i];
            }
        }
        if ((long)n * m >= ParallelThreshold * ParallelThreshold) Parallel.For(0, m, SolveOne);
        else for (int c = 0; c < m; c++) SolveOne(c);
        }
        for (int i = 0; i < n; i++)
            for (int c = 0; c < m; c++) b[(long)i * m + c] = bt[(long)c * n + i];
    }

    /// <summary>Inverse of a symmetric positive-definite n x n matrix (the input is not modified).</summary>
    public static double[] InverseSpd(ReadOnlySpan<double> a, int n, string what) => InverseSpd(a, n, what, NativeBlas.Use());

    internal static double[] InverseSpd(ReadOnlySpan<double> a, int n, string what, bool native) => InvertSpdInPlace(a.ToArray(), n, what, native);

    /// <summary>
    /// <see cref="InverseSpd(ReadOnlySpan{double}, int, string)"/> overwriting <paramref name="a"/>, which the result
    /// reuses on OpenBLAS: at a 7B FFN width each N x N matrix not copied is about 1 GB of peak memory.
    /// </summary>
    public static double[] InvertSpdInPlace(double[] a, int n, string what) => InvertSpdInPlace(a, n, what, NativeBlas.Use());

    private static double[] InvertSpdInPlace(double[] l, int n, string what, bool native)
    {
        if (native)
        {
            NativeCholesky(l, n, what);
            int info = NativeBlas.InverseFromCholeskyLower(l, n);
            if (info != 0) throw new BadDataException($"{what}: matrix is singular (dpotri info {info}); add damping");
            MirrorLower(l, n);   // dpotri fills one triangle only; the result is exactly symmetric
            return l;
        }
        CholeskyInPlace(l, n, what, native: false);
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1.0;
        CholeskySolveInPlace(l, n, inv, n, native: false);
        // Symmetrise: rounding leaves tiny asymmetries that later downdates would amplify.
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double v = 0.5 * (inv[i * n + j] + inv[j * n + i]);
                inv[i * n + j] = v; inv[j * n + i] = v;
            }
        return inv;
    }

    /// <summary>
    /// Gram matrix G = A^T A [cols x cols] of a row-major A [rows x cols] on OpenBLAS (dsyrk; callers check
    /// <see cref="NativeBlas.Use"/> and keep their own managed loops otherwise). The result is symmetric.
    /// </summary>
    public static double[] GramAtA(ReadOnlySpan<double> a, int rows, int cols)
    {
        var g = new double[(long)cols * cols];
        AddGramAtA(a, rows, cols, g);
        MirrorLower(g, cols);
        return g;
    }

    /// <summary>
    /// Lower triangle of G += A^T A for a row-major A [rows x cols] (the upper triangle is not maintained: call
    /// <see cref="MirrorLower"/> after the last block). Accumulating blocks of rows bounds the working copy.
    /// OpenBLAS only.
    /// </summary>
    public static void AddGramAtA(ReadOnlySpan<double> a, int rows, int cols, double[] g)
    {
        if (!NativeBlas.Available) throw new InvalidOperationException("AddGramAtA needs OpenBLAS");
        if (rows == 0 || cols == 0) return;
        NativeBlas.SyrkLowerAtA(cols, rows, 1.0, a, cols, 1.0, g);
    }

    /// <summary>Copies the lower triangle of a row-major n x n matrix onto its upper triangle.</summary>
    public static void MirrorLower(double[] a, int n)
    {
        // Tiles keep both the rows read and the rows written in cache.
        const int tile = 64;
        void Band(int i0)
        {
            int i1 = Math.Min(n, i0 + tile);
            for (int j0 = i0; j0 < n; j0 += tile)
            {
                int j1 = Math.Min(n, j0 + tile);
                for (int j = j0; j < j1; j++)
                    for (int i = i0; i < Math.Min(i1, j); i++) a[(long)i * n + j] = a[(long)j * n + i];
            }
        }
        int bands = (n + tile - 1) / tile;
        if (n >= 512) Parallel.For(0, bands, b => Band(b * tile));
        else for (int b = 0; b < bands; b++) Band(b * tile);
    }

    /// <summary>Sub-matrix A[rows, cols] of an n-column row-major matrix, row-major.</summary>
    public static double[] Gather(ReadOnlySpan<double> a, int n, ReadOnlySpan<int> rows, ReadOnlySpan<int> cols)
    {
        var r = new double[rows.Length * cols.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            int src = rows[i] * n, dst = i * cols.Length;
            for (int j = 0; j < cols.Length; j++) r[dst + j] = a[src + cols[j]];
        }
        return r;
    }
}
