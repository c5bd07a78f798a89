using System.Numerics.Tensors;

namespace LlmPruneFast.Information;

/// <summary>
/// Gaussian-copula MI (GCMI), in nats. Each variable is rank-transformed to normal scores
/// g_s = Phi^-1((rank_s + 1) / (S + 1)) with 0-based STABLE ranks (ties by index order), r = Pearson correlation of
/// the two score vectors, and
/// <code>I = -1/2 ln(1 - r^2)</code>
/// the MI of a bivariate normal with that correlation: a lower bound on the MI of the original pair, exact when the
/// copula is Gaussian. r^2 is capped at 1 - 1e-7 (float32 resolution of the all-pairs product), so identical
/// rankings give 8.06 nats, not infinity. A constant column gives 0.
/// Per column: centred, unit-norm scores once (float64 for pairs, float32 for all pairs). All pairs of a layer are
/// one Gram matrix of the scores (<see cref="ColumnGram"/>), tiled, on all cores.
/// </summary>
public sealed class CopulaEstimator : IMutualInformationEstimator
{
    /// <summary>Largest r^2 used; caps the estimate at -1/2 ln(1e-7) = 8.06 nats.</summary>
    public const double MaxRSquared = 1 - 1e-7;

    private const int TileSize = 64;

    public string Name => "copula";
    public MiUnits Units => MiUnits.Nats;
    public IReadOnlyDictionary<string, object> Parameters { get; } = new Dictionary<string, object>();
    public int MinimumSamples => 2;

    /// <summary>I from a correlation r (capped as documented).</summary>
    public static double FromCorrelation(double r) => -0.5 * Math.Log(1 - Math.Min(r * r, MaxRSquared));

    /// <summary>Normal scores Phi^-1((k+1)/(S+1)), k = 0..S-1, centred and scaled to unit norm (shared by all columns).</summary>
    internal static double[] ScoreTable(int s)
    {
        var t = new double[s];
        for (int k = 0; k < s; k++) t[k] = NormalDistribution.InverseCdf((k + 1.0) / (s + 1.0));
        double mean = t.Average();
        for (int k = 0; k < s; k++) t[k] -= mean;
        double norm = Math.Sqrt(TensorPrimitives.Dot<double>(t, t));
        for (int k = 0; k < s; k++) t[k] /= norm;
        return t;
    }

    /// <summary>Scores of one column in sample order, or null when the column is constant.</summary>
    private static double[]? Scores(ReadOnlySpan<float> v, double[] table)
    {
        if (ColumnMath.IsConstant(v)) return null;
        int s = v.Length;
        var rank = new int[s];
        ColumnMath.StableRanks(v, rank, new int[s]);
        var g = new double[s];
        for (int i = 0; i < s; i++) g[i] = table[rank[i]];
        return g;
    }

    public double Estimate(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new BadDataException($"x has {x.Length} samples but y has {y.Length}");
        ColumnMath.EnsureFinite(x, "x");
        ColumnMath.EnsureFinite(y, "y");
        if (x.Length < MinimumSamples) throw new BadDataException($"copula needs at least {MinimumSamples} samples, found S = {x.Length}");
        var table = ScoreTable(x.Length);
        var gx = Scores(x, table);
        var gy = Scores(y, table);
        return gx == null || gy == null ? 0.0 : FromCorrelation(TensorPrimitives.Dot<double>(gx, gy));
    }

    public void EstimatePairs(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, Span<double> result,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        Validate(z);
        var table = ScoreTable(z.Rows);
        var scores = new double[]?[z.Columns];
        var need = new bool[z.Columns];
        z.EnsurePairsInRange(pairs);
        foreach (var (i, j) in pairs) need[i] = need[j] = true;
        Parallel.For(0, z.Columns, new ParallelOptions { CancellationToken = cancellationToken },
            j => { if (need[j]) scores[j] = Scores(z.Column(j), table); });
        for (int p = 0; p < pairs.Length; p++)
        {
            var (i, j) = pairs[p];
            result[p] = scores[i] == null || scores[j] == null ? 0.0 : FromCorrelation(TensorPrimitives.Dot<double>(scores[i], scores[j]));
        }
        progress?.Report(new MiProgress(pairs.Length, pairs.Length));
    }

    public void EstimateAllPairs(ActivationMatrix z, IMiTileSink sink, IProgress<MiProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Validate(z);
        int s = z.Rows, n = z.Columns;
        var table = ScoreTable(s);
        var g = new float[(long)s * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = cancellationToken }, j =>
        {
            var sc = Scores(z.Column(j), table);
            var dst = g.AsSpan(j * s, s);
            if (sc == null) dst.Clear(); // a zero column has r = 0 with everything: I = 0
            else TensorPrimitives.ConvertTruncating<double, float>(sc, dst);
        });
        int tiles = (n + TileSize - 1) / TileSize;
        var tileList = new List<(int, int)>();
        for (int a = 0; a < tiles; a++) for (int b = a; b < tiles; b++) tileList.Add((a, b));
        long total = (long)n * (n - 1) / 2, done = 0;
        Parallel.For(0, tileList.Count, new ParallelOptions { CancellationToken = cancellationToken },
            () => new float[TileSize * TileSize],
            (k, _, tile) =>
            {
                var (a, b) = tileList[k];
                int r0 = a * TileSize, c0 = b * TileSize, rows = Math.Min(TileSize, n - r0), cols = Math.Min(TileSize, n - c0);
                var t = tile.AsSpan(0, rows * cols);
                ColumnGram.Tile(g, s, r0, rows, c0, cols, t);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++)
                        t[r * cols + c] = r0 + r == c0 + c ? 0f : (float)FromCorrelation(t[r * cols + c]);
                sink.Accept(r0, c0, rows, cols, t);
                long pairsHere = a == b ? (long)rows * (rows - 1) / 2 : (long)rows * cols;
                progress?.Report(new MiProgress(Interlocked.Add(ref done, pairsHere), total));
                return tile;
            }, _ => { });
    }

    private void Validate(ActivationMatrix z)
    {
        z.EnsureFinite();
        if (z.Rows < MinimumSamples) throw new BadDataException($"copula needs at least {MinimumSamples} samples, found S = {z.Rows}");
    }
}
