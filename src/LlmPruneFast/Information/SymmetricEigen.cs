using System.Numerics.Tensors;

namespace LlmPruneFast.Information;

/// <summary>
/// Eigenvalues of a real symmetric matrix in float64: Householder reduction to tridiagonal form, then the implicit
/// QL iteration with Wilkinson-style shifts on the tridiagonal matrix. O(n^3) for the reduction (rows updated with
/// TensorPrimitives), O(n^2) for the iteration. Eigenvalues only (no vectors), ascending.
/// </summary>
public static class SymmetricEigen
{
    /// <summary>
    /// Eigenvalues of the n x n symmetric matrix <paramref name="a"/> (row-major; only symmetric input is meaningful;
    /// it is overwritten). Returns them in ascending order.
    /// </summary>
    public static double[] Eigenvalues(double[] a, int n)
    {
        if (a.Length < (long)n * n) throw new ArgumentException($"matrix buffer holds {a.Length} values, expected {n} x {n}");
        var d = new double[n];
        var e = new double[n];
        Tridiagonalize(a, n, d, e);
        TridiagonalQl(d, e);
        Array.Sort(d);
        return d;
    }

    /// <summary>
    /// Householder reduction: Q^T A Q = T with diagonal <paramref name="d"/> and off-diagonal e[i] = T[i, i+1]
    /// (e[n-1] = 0). For column k, v (unit) maps A[k+1.., k] onto alpha*e_1; the trailing block becomes
    /// A - v w^T - w v^T with p = A v and w = 2p - 2(v^T p) v.
    /// </summary>
    internal static void Tridiagonalize(double[] a, int n, double[] d, double[] e)
    {
        var v = new double[n];
        var p = new double[n];
        for (int k = 0; k < n - 2; k++)
        {
            int m = n - k - 1; // length of the sub-column below the diagonal
            var x = v.AsSpan(0, m);
            for (int i = 0; i < m; i++) x[i] = a[(k + 1 + i) * n + k];
            double norm = Math.Sqrt(TensorPrimitives.Dot<double>(x, x));
            d[k] = a[k * n + k];
            if (norm == 0) { e[k] = 0; continue; }
            double alpha = x[0] > 0 ? -norm : norm;
            x[0] -= alpha;
            double vnorm = Math.Sqrt(TensorPrimitives.Dot<double>(x, x));
            e[k] = alpha;
            if (vnorm == 0) continue;
            TensorPrimitives.Divide(x, vnorm, x);
            var pp = p.AsSpan(0, m);
            for (int i = 0; i < m; i++) pp[i] = TensorPrimitives.Dot<double>(a.AsSpan((k + 1 + i) * n + k + 1, m), x);
            double vp = TensorPrimitives.Dot<double>(x, pp);
            // w = 2p - 2(v.p) v, stored in pp
            for (int i = 0; i < m; i++) pp[i] = 2 * pp[i] - 2 * vp * x[i];
            for (int i = 0; i < m; i++)
            {
                var row = a.AsSpan((k + 1 + i) * n + k + 1, m);
                TensorPrimitives.MultiplyAdd(pp, -x[i], row, row);
                TensorPrimitives.MultiplyAdd(x, -pp[i], row, row);
            }
        }
        if (n >= 2)
        {
            d[n - 2] = a[(n - 2) * n + n - 2];
            e[n - 2] = a[(n - 1) * n + n - 2];
        }
        d[n - 1] = a[(n - 1) * n + n - 1];
        e[n - 1] = 0;
    }

    /// <summary>
    /// Implicit QL iteration on the symmetric tridiagonal matrix (d, e with e[i] coupling i and i+1): repeatedly splits
    /// off negligible off-diagonals and chases a shifted QL step through the unreduced block until every e is ~0;
    /// d then holds the eigenvalues.
    /// </summary>
    internal static void TridiagonalQl(double[] d, double[] e)
    {
        int n = d.Length;
        // Off-diagonals below eps * ||T|| are negligible in absolute terms: without this floor the eigenvalues far
        // below the largest (Gaussian Gram matrices reach 1e-17 of their norm) never meet the relative test.
        double norm = 0;
        for (int i = 0; i < n; i++) norm = Math.Max(norm, Math.Abs(d[i]) + Math.Abs(e[i]) + (i > 0 ? Math.Abs(e[i - 1]) : 0));
        double floor = 2.2e-16 * norm;
        for (int l = 0; l < n; l++)
        {
            int iterations = 0;
            while (true)
            {
                int m = l;
                for (; m < n - 1; m++)
                {
                    double dd = Math.Abs(d[m]) + Math.Abs(d[m + 1]);
                    if (Math.Abs(e[m]) <= floor || Math.Abs(e[m]) <= 2.2e-16 * dd) break;
                }
                if (m == l) break;
                if (++iterations > 64) throw new InvalidOperationException($"QL iteration did not converge for eigenvalue {l}");
                // shift from the leading 2x2 block
                double g = (d[l + 1] - d[l]) / (2.0 * e[l]);
                double r = Hypot(g, 1.0);
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
                double s = 1, c = 1, shift = 0;
                bool deflated = false;
                for (int i = m - 1; i >= l; i--)
                {
                    double f = s * e[i], b = c * e[i];
                    r = Hypot(f, g);
                    e[i + 1] = r;
                    if (r == 0)
                    {
                        // underflow: the block splits here
                        d[i + 1] -= shift;
                        e[m] = 0;
                        deflated = true;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - shift;
                    r = (d[i] - g) * s + 2.0 * c * b;
                    shift = s * r;
                    d[i + 1] = g + shift;
                    g = c * r - b;
                }
                if (deflated) continue;
                d[l] -= shift;
                e[l] = g;
                e[m] = 0;
            }
        }
    }

    private static double Hypot(double a, double b)
    {
        double x = Math.Abs(a), y = Math.Abs(b);
        if (x < y) (x, y) = (y, x);
        if (x == 0) return 0;
        double t = y / x;
        return x * Math.Sqrt(1 + t * t);
    }
}
