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
    public static void CholeskyInPlace(double[] a, int n, string what)
    {
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

    private static void Eliminate(double[] a, int n, int i, int j, double ljj)
    {
        double s = a[i * n + j] - TensorPrimitives.Dot<double>(a.AsSpan(i * n, j), a.AsSpan(j * n, j));
        a[i * n + j] = s / ljj;
    }

    /// <summary>
    /// Solves (L L^T) X = B in place for m right-hand sides: B is n x m row-major on entry, X on return.
    /// </summary>
    public static void CholeskySolveInPlace(double[] l, int n, double[] b, int m)
    {
        // Work column-major on a transposed copy so every right-hand side is contiguous.
        var bt = new double[(long)n * m];
        for (int i = 0; i < n; i++)
            for (int c = 0; c < m; c++) bt[(long)c * n + i] = b[(long)i * m + c];
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
        for (int i = 0; i < n; i++)
            for (int c = 0; c < m; c++) b[(long)i * m + c] = bt[(long)c * n + i];
    }

    /// <summary>Inverse of a symmetric positive-definite n x n matrix (the input is not modified).</summary>
    public static double[] InverseSpd(ReadOnlySpan<double> a, int n, string what)
    {
        var l = a.ToArray();
        CholeskyInPlace(l, n, what);
        var inv = new double[n * n];
        for (int i = 0; i < n; i++) inv[i * n + i] = 1.0;
        CholeskySolveInPlace(l, n, inv, n);
        // Symmetrise: rounding leaves tiny asymmetries that later downdates would amplify.
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double v = 0.5 * (inv[i * n + j] + inv[j * n + i]);
                inv[i * n + j] = v; inv[j * n + i] = v;
            }
        return inv;
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
