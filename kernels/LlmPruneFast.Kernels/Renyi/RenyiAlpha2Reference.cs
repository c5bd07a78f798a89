namespace LlmPruneFast.Kernels.Renyi;

/// <summary>
/// Plain float64 reference for <see cref="RenyiAlpha2"/>, written from the definition: build the Gram matrices
/// A = Kx / S, B = Ky / S and C = (A o B) / tr(A o B), then I = S_2(A) + S_2(B) - S_2(C) with S_2(M) = -log2 ||M||_F^2.
/// </summary>
public static class RenyiAlpha2Reference
{
    public static double Pair(ReadOnlySpan<float> x, ReadOnlySpan<float> y, double sigmaX, double sigmaY)
    {
        if (Plugin.PluginMiReference.IsConstant(x) || Plugin.PluginMiReference.IsConstant(y)) return 0;
        int n = x.Length;
        var a = Gram(x, sigmaX);
        var b = Gram(y, sigmaY);
        double trace = 0;
        for (int s = 0; s < n; s++) trace += a[s, s] * b[s, s];
        double fa = 0, fb = 0, fc = 0;
        for (int s = 0; s < n; s++)
            for (int t = 0; t < n; t++)
            {
                fa += a[s, t] * a[s, t];
                fb += b[s, t] * b[s, t];
                double c = a[s, t] * b[s, t] / trace;
                fc += c * c;
            }
        return -Math.Log2(fa) - Math.Log2(fb) + Math.Log2(fc);
    }

    /// <summary>Marginal term M = sum_st K_st^2 of one column.</summary>
    public static double MarginalTerm(ReadOnlySpan<float> v, double sigma)
    {
        double m = 0;
        for (int s = 0; s < v.Length; s++)
            for (int t = 0; t < v.Length; t++)
            {
                double k = Math.Exp(-Math.Pow(v[s] - (double)v[t], 2) / (2 * sigma * sigma));
                m += k * k;
            }
        return m;
    }

    private static double[,] Gram(ReadOnlySpan<float> v, double sigma)
    {
        int n = v.Length;
        var k = new double[n, n];
        for (int s = 0; s < n; s++)
            for (int t = 0; t < n; t++)
                k[s, t] = Math.Exp(-Math.Pow(v[s] - (double)v[t], 2) / (2 * sigma * sigma)) / n;
        return k;
    }
}
