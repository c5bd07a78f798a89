namespace LlmPruneFast.Information;

/// <summary>
/// The "tuned" bandwidth rule for the Renyi estimator: sigma = c * Silverman's sigma, with one factor c per layer
/// chosen on the layer itself. The matrix-based estimator is biased upward on independent data, and the bias grows as
/// sigma shrinks (the S diagonal ones of the Gram matrices weigh more against the off-diagonal mass). The rule takes
/// the SMALLEST c of <see cref="Factors"/> whose mean alpha = 2 MI over <see cref="NullPairs"/> shuffled pairs of
/// the layer (seeded) is at most <see cref="TargetBits"/>: the sharpest kernel whose null is ~0, so a raw threshold
/// means about the same thing in every layer. Measurements behind the numbers: perf/RESULTS.md, "tuned bandwidth".
/// </summary>
public static class RenyiBandwidthTuner
{
    public static readonly double[] Factors = [0.5, 0.71, 1, 1.41, 2, 2.83, 4, 5.66, 8, 11.3, 16];
    public const int NullPairs = 16;
    public const double TargetBits = 0.01;

    /// <summary>The chosen factor and, for every factor tried, the mean null MI (bits) it gave.</summary>
    public sealed record Choice(double Factor, IReadOnlyList<(double Factor, double NullMeanBits)> Trials);

    public static Choice ChooseFactor(ActivationMatrix z, int seed, CancellationToken ct = default)
    {
        z.EnsureFinite();
        var rng = new Random(seed);
        var pairs = new (int I, int J)[NullPairs];
        for (int p = 0; p < pairs.Length; p++) pairs[p] = (rng.Next(z.Columns), rng.Next(z.Columns));
        var shuffled = PermutationNull.ShuffledPairs(z, pairs, rng.Next());
        var trials = new List<(double, double)>();
        foreach (double c in Factors)
        {
            ct.ThrowIfCancellationRequested();
            var values = new double[pairs.Length];
            Parallel.For(0, pairs.Length, new ParallelOptions { CancellationToken = ct },
                p => values[p] = NullMi(shuffled.Column(2 * p), shuffled.Column(2 * p + 1), c));
            double mean = values.Average();
            trials.Add((c, mean));
            if (mean <= TargetBits) return new Choice(c, trials);
        }
        return new Choice(Factors[^1], trials);
    }

    /// <summary>alpha = 2 Renyi MI (bits) with sigma = c * Silverman per variable.</summary>
    internal static double NullMi(ReadOnlySpan<float> x, ReadOnlySpan<float> y, double c)
    {
        if (ColumnMath.IsConstant(x) || ColumnMath.IsConstant(y)) return 0;
        int s = x.Length;
        double sx = c * Bandwidths.Silverman(x), sy = c * Bandwidths.Silverman(y);
        var u = new double[s];
        var w = new double[s];
        for (int i = 0; i < s; i++) { u[i] = x[i] / sx; w[i] = y[i] / sy; }
        var row = new double[s];
        var tmp = new double[s];
        double fx = RenyiEstimator.GaussSum(u, null, row, tmp), fy = RenyiEstimator.GaussSum(w, null, row, tmp);
        double fxy = RenyiEstimator.GaussSum(u, w, row, tmp);
        return Math.Log2(fxy * ((double)s * s) / (fx * fy));
    }
}
