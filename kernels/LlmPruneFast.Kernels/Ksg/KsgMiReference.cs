namespace LlmPruneFast.Kernels.Ksg;

/// <summary>
/// Plain float64 reference for <see cref="KsgMi"/>: sorts all distances for each sample to find the k-th, counts
/// strictly closer marginal neighbours, and uses psi(n) = -gamma + sum_{m&lt;n} 1/m (harmonic numbers).
/// </summary>
public static class KsgMiReference
{
    public static double Pair(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int k)
    {
        int s = x.Length;
        if (Plugin.PluginMiReference.IsConstant(x) || Plugin.PluginMiReference.IsConstant(y)) return 0;
        double ax = 1 / Std(x), ay = 1 / Std(y);
        double sum = 0;
        var d = new double[s - 1];
        for (int p = 0; p < s; p++)
        {
            int m = 0;
            for (int r = 0; r < s; r++)
                if (r != p) d[m++] = Math.Max(Math.Abs((double)x[r] - x[p]) * ax, Math.Abs((double)y[r] - y[p]) * ay);
            Array.Sort(d);
            double eps = d[k - 1];
            int nx = 0, ny = 0;
            for (int r = 0; r < s; r++)
            {
                if (r == p) continue;
                if (Math.Abs((double)x[r] - x[p]) * ax < eps) nx++;
                if (Math.Abs((double)y[r] - y[p]) * ay < eps) ny++;
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

    private static double Std(ReadOnlySpan<float> v)
    {
        double mean = 0;
        foreach (float f in v) mean += f;
        mean /= v.Length;
        double ss = 0;
        foreach (float f in v) ss += (f - mean) * (f - mean);
        return Math.Sqrt(ss / v.Length);
    }
}
