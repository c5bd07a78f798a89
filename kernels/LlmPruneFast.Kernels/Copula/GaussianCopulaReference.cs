namespace LlmPruneFast.Kernels.Copula;

/// <summary>
/// Plain float64 reference for <see cref="GaussianCopula"/>: ranks by sorting, normal scores by
/// <see cref="NormalQuantile.Inverse"/>, standardised with their own mean and std, r = mean product, I = -1/2 ln(1 - r^2).
/// </summary>
public static class GaussianCopulaReference
{
    public static double Pair(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (Plugin.PluginMiReference.IsConstant(x) || Plugin.PluginMiReference.IsConstant(y)) return 0;
        var a = Scores(x);
        var b = Scores(y);
        double r = 0;
        for (int s = 0; s < a.Length; s++) r += a[s] * b[s];
        r /= a.Length;
        return -0.5 * Math.Log(Math.Max(1 - r * r, GaussianCopula.MinOneMinusRSquared));
    }

    private static double[] Scores(ReadOnlySpan<float> v)
    {
        int n = v.Length;
        var ranks = Columns.ColumnRanksReference.Compute(v, n, 1);
        var g = new double[n];
        for (int s = 0; s < n; s++) g[s] = NormalQuantile.Inverse((ranks[s] + 1.0) / (n + 1.0));
        double mean = g.Average();
        double sd = Math.Sqrt(g.Sum(t => (t - mean) * (t - mean)) / n);
        for (int s = 0; s < n; s++) g[s] = (g[s] - mean) / sd;
        return g;
    }
}
