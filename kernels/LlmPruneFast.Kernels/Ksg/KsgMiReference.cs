namespace LlmPruneFast.Kernels.Ksg;

/// <summary>
/// Plain float64 reference for <see cref="KsgMi"/>: sorts all distances for each sample to find the k-th, counts
/// strictly closer marginal neighbours, and uses psi(n) = -gamma + sum_{m&lt;n} 1/m (harmonic numbers).
/// </summary>
public static class KsgMiReference
{
    /// <summary>KSG MI (nats, unclipped) of x and y scaled by their own std (two-pass, ddof 0).</summary>
    public static double Pair(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int k) => Pair(x, y, k, Std(x), Std(y));

    /// <summary>KSG MI (nats, unclipped) with the given scale factors (x / stdX, y / stdY; 0 means 1).</summary>
    public static double Pair(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int k, double stdX, double stdY)
    {
        int s = x.Length;
        if (Plugin.PluginMiReference.IsConstant(x) || Plugin.PluginMiReference.IsConstant(y)) return 0;
        var xs = Scale(x, stdX);
        var ys = Scale(y, stdY);
        double sum = 0;
        var d = new double[s - 1];
        for (int p = 0; p < s; p++)
        {
            int m = 0;
            for (int r = 0; r < s; r++)
                if (r != p) d[m++] = Math.Max(Math.Abs(xs[r] - xs[p]), Math.Abs(ys[r] - ys[p]));
            Array.Sort(d);
            double eps = d[k - 1];
            int nx = 0, ny = 0;
            for (int r = 0; r < s; r++)
            {
                if (r == p) continue;
                double dx = Math.Abs(xs[r] - xs[p]), dy = Math.Abs(ys[r] - ys[p]);
                if (eps > 0 ? dx < eps : dx == 0) nx++;
                if (eps > 0 ? dy < eps : dy == 0) ny++;
            }
            sum += Digamma(nx + 1) + Digamma(ny + 1);
        }
        return Digamma(s) + Digamma(k) - sum / s;
    }

    /// <summary>psi(n) for a positive integer n: -EulerGamma + H_{n-1}.</summary>
    public static double Digamma(int n)
    {
        double h = 0;
        for (int m = 1; m < n; m++) h += 1.0 / m;
        return h - 0.57721566490153286061;
    }

    private static double[] Scale(ReadOnlySpan<float> v, double sd)
    {
        var r = new double[v.Length];
        for (int i = 0; i < v.Length; i++) r[i] = sd > 0 ? v[i] / sd : v[i];
        return r;
    }

    /// <summary>Population standard deviation (ddof 0), two-pass, float64.</summary>
    public static double Std(ReadOnlySpan<float> v)
    {
        double mean = 0;
        foreach (float f in v) mean += f;
        mean /= v.Length;
        double ss = 0;
        foreach (float f in v) ss += (f - mean) * (f - mean);
        return Math.Sqrt(ss / v.Length);
    }
}
