namespace LlmPruneFast.Kernels.Copula;

/// <summary>
/// The standard normal quantile Phi^-1(p) and CDF Phi(x) in float64 (host code: the copula kernels need only S
/// quantiles, one per rank). Phi^-1 starts from Acklam's rational approximation (relative error about 1e-9) and
/// applies two Halley steps on Phi(x) - p, which brings it to a few ulp. Phi uses erfc: a Taylor series of erf for
/// |z| &lt; 2 and a Lentz continued fraction for erfc beyond.
/// </summary>
public static class NormalQuantile
{
    /// <summary>Phi^-1(p) for 0 &lt; p &lt; 1.</summary>
    public static double Inverse(double p)
    {
        if (!(p > 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), p, "normal quantile needs 0 < p < 1");
        double x = Acklam(p);
        for (int step = 0; step < 2; step++)
        {
            double e = Cdf(x) - p;
            double u = e * Math.Sqrt(2 * Math.PI) * Math.Exp(x * x / 2);
            x -= u / (1 + x * u / 2);
        }
        return x;
    }

    /// <summary>Phi(x) = erfc(-x / sqrt 2) / 2.</summary>
    public static double Cdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>Complementary error function erfc(z) = 1 - erf(z).</summary>
    public static double Erfc(double z)
    {
        if (z < 0) return 2 - Erfc(-z);
        if (z < 2) return 1 - ErfSeries(z);
        // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))), modified Lentz.
        const double tiny = 1e-300;
        double f = z, c = z, d = 0;
        for (int n = 1; n < 500; n++)
        {
            double an = n / 2.0;
            d = z + an * d;
            d = Math.Abs(d) < tiny ? tiny : d;
            c = z + an / c;
            c = Math.Abs(c) < tiny ? tiny : c;
            d = 1 / d;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Exp(-z * z) / Math.Sqrt(Math.PI) / f;
    }

    /// <summary>erf(z) = 2/sqrt(pi) sum_n (-1)^n z^(2n+1) / (n! (2n+1)), for |z| &lt; 2.</summary>
    private static double ErfSeries(double z)
    {
        double term = z, sum = z, z2 = z * z;
        for (int n = 1; n < 200; n++)
        {
            term *= -z2 / n;
            double add = term / (2 * n + 1);
            sum += add;
            if (Math.Abs(add) < 1e-17 * Math.Abs(sum)) break;
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }

    private static double Acklam(double p)
    {
        ReadOnlySpan<double> a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        ReadOnlySpan<double> b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        ReadOnlySpan<double> c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        ReadOnlySpan<double> d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double low = 0.02425;
        if (p < low)
        {
            double q = Math.Sqrt(-2 * Math.Log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - low)
        {
            double q = Math.Sqrt(-2 * Math.Log(1 - p));
            return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        double r = p - 0.5, r2 = r * r;
        return (((((a[0] * r2 + a[1]) * r2 + a[2]) * r2 + a[3]) * r2 + a[4]) * r2 + a[5]) * r
            / (((((b[0] * r2 + b[1]) * r2 + b[2]) * r2 + b[3]) * r2 + b[4]) * r2 + 1);
    }

    /// <summary>
    /// Standardised normal scores by rank for S samples: g_r = Phi^-1((r + 1) / (S + 1)), r = 0..S-1, then
    /// (g_r - mean g) / std g (ddof 0). Every column's scores are a permutation of this table.
    /// </summary>
    public static double[] StandardisedScores(int rows)
    {
        if (rows < 2) throw new ArgumentOutOfRangeException(nameof(rows), rows, "normal scores need at least 2 samples");
        var g = new double[rows];
        for (int r = 0; r < rows; r++) g[r] = Inverse((r + 1.0) / (rows + 1.0));
        double mean = 0;
        foreach (double v in g) mean += v;
        mean /= rows;
        double ss = 0;
        foreach (double v in g) ss += (v - mean) * (v - mean);
        double sd = Math.Sqrt(ss / rows);
        for (int r = 0; r < rows; r++) g[r] = (g[r] - mean) / sd;
        return g;
    }
}
