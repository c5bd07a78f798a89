namespace LlmPruneFast.Information;

/// <summary>
/// Null distribution of an estimator on one layer: MI of column pairs (i, j) of Z where the rows of the second column
/// are shuffled by a seeded permutation, which keeps both marginals and destroys the dependence. Thresholds are then
/// calibrated as quantiles of it (a pair is "redundant" when its MI exceeds, say, the 0.99 quantile).
/// </summary>
public sealed class NullDistribution
{
    private readonly double[] _sorted;

    internal NullDistribution(double[] values, MiUnits units)
    {
        Values = values;
        Units = units;
        _sorted = (double[])values.Clone();
        Array.Sort(_sorted);
    }

    /// <summary>The null MI values, one per shuffled pair, in draw order.</summary>
    public IReadOnlyList<double> Values { get; }

    public MiUnits Units { get; }

    public double Mean => _sorted.Average();

    /// <summary>Empirical quantile, linear interpolation between order statistics (numpy's default "linear").</summary>
    public double Quantile(double q)
    {
        if (!(q >= 0 && q <= 1)) throw new BadArgumentException($"quantile {q} out of range [0, 1]");
        double pos = q * (_sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, _sorted.Length - 1);
        return _sorted[lo] + (pos - lo) * (_sorted[hi] - _sorted[lo]);
    }
}

/// <summary>Computes <see cref="NullDistribution"/>s.</summary>
public static class PermutationNull
{
    /// <summary>
    /// Null MI of <paramref name="pairCount"/> pairs (i, j), i != j drawn uniformly with System.Random(seed) (i == j
    /// only when N = 1), each with the rows of column j permuted by its own Fisher-Yates shuffle from the same
    /// generator. Runs through <paramref name="estimator"/>'s pair path, so memory is 2 x pairCount columns.
    /// </summary>
    public static NullDistribution Compute(IMutualInformationEstimator estimator, ActivationMatrix z, int pairCount, int seed,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (pairCount < 1) throw new BadArgumentException($"null pair count {pairCount} must be at least 1");
        var rng = new Random(seed);
        var pairs = new (int I, int J)[pairCount];
        for (int p = 0; p < pairCount; p++)
        {
            int i = rng.Next(z.Columns), j = i;
            if (z.Columns > 1) { j = rng.Next(z.Columns - 1); if (j >= i) j++; }
            pairs[p] = (i, j);
        }
        return Compute(estimator, z, pairs, rng.Next(), progress, cancellationToken);
    }

    /// <summary>Null MI of the given pairs: for each, column J's rows shuffled with System.Random(seed) draws.</summary>
    public static NullDistribution Compute(IMutualInformationEstimator estimator, ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs,
        int seed, IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var shuffled = ShuffledPairs(z, pairs, seed);
        var work = new (int, int)[pairs.Length];
        for (int p = 0; p < work.Length; p++) work[p] = (2 * p, 2 * p + 1);
        var values = new double[pairs.Length];
        estimator.EstimatePairs(shuffled, work, values, progress, cancellationToken);
        return new NullDistribution(values, estimator.Units);
    }

    /// <summary>An S x 2P matrix: column 2p = z[:, I_p], column 2p+1 = z[perm_p, J_p].</summary>
    internal static ActivationMatrix ShuffledPairs(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, int seed)
    {
        z.EnsurePairsInRange(pairs);
        var rng = new Random(seed);
        int s = z.Rows;
        var m = new ActivationMatrix(s, 2 * pairs.Length);
        var perm = new int[s];
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            z.Column(i).CopyTo(m.ColumnMutable(2 * p));
            for (int k = 0; k < s; k++) perm[k] = k;
            for (int k = s - 1; k > 0; k--) { int r = rng.Next(k + 1); (perm[k], perm[r]) = (perm[r], perm[k]); }
            var src = z.Column(j);
            var dst = m.ColumnMutable(2 * p + 1);
            for (int k = 0; k < s; k++) dst[k] = src[perm[k]];
        }
        return m;
    }
}
