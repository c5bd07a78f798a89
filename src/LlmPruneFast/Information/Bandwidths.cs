namespace LlmPruneFast.Information;

/// <summary>Kernel bandwidth rules for one variable v of S samples (std with ddof 0, float64).</summary>
public static class Bandwidths
{
    /// <summary>Most index pairs the median heuristic looks at; beyond it a seeded random sample of pairs.</summary>
    public const int MedianPairs = 65536;

    /// <summary>Silverman: 1.06 * std * S^(-1/5).</summary>
    public static double Silverman(ReadOnlySpan<float> v) => 1.06 * ColumnMath.StdDdof0(v) * Math.Pow(v.Length, -0.2);

    /// <summary>Scott (one dimension): std * S^(-1/5).</summary>
    public static double Scott(ReadOnlySpan<float> v) => ColumnMath.StdDdof0(v) * Math.Pow(v.Length, -0.2);

    /// <summary>
    /// Median heuristic: the median of |v_a - v_b| over all pairs a &lt; b when there are at most
    /// <see cref="MedianPairs"/>, else over that many pairs (a, b), a != b, drawn with System.Random(seed).
    /// Even counts take the mean of the two middle values. If the median is 0 (over half the pairs tie) Silverman's
    /// sigma is used instead, so sigma is never 0 for a non-constant column.
    /// </summary>
    public static double Median(ReadOnlySpan<float> v, int seed)
    {
        int s = v.Length;
        long all = (long)s * (s - 1) / 2;
        double[] d;
        if (all <= MedianPairs)
        {
            d = new double[all];
            int p = 0;
            for (int a = 0; a < s; a++) for (int b = a + 1; b < s; b++) d[p++] = Math.Abs((double)v[a] - v[b]);
        }
        else
        {
            var rng = new Random(seed);
            d = new double[MedianPairs];
            for (int p = 0; p < d.Length; p++)
            {
                int a = rng.Next(s), b = rng.Next(s - 1);
                if (b >= a) b++;
                d[p] = Math.Abs((double)v[a] - v[b]);
            }
        }
        if (d.Length == 0) return Silverman(v);
        Array.Sort(d);
        double med = d.Length % 2 == 1 ? d[d.Length / 2] : 0.5 * (d[d.Length / 2 - 1] + d[d.Length / 2]);
        return med > 0 ? med : Silverman(v);
    }

    /// <summary>Sigma by a non-tuned rule (Silverman, Scott, Median).</summary>
    public static double Sigma(BandwidthRule rule, ReadOnlySpan<float> v, int seed) => rule switch
    {
        BandwidthRule.Silverman => Silverman(v),
        BandwidthRule.Scott => Scott(v),
        BandwidthRule.Median => Median(v, seed),
        _ => throw new ArgumentException($"rule {rule} needs more than the column"),
    };
}
