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
/// one Gram matrix of the scores: on the system OpenBLAS (sgemm/ssyrk by blocks) when it loads, else
/// <see cref="ColumnGram"/> tiles on all cores.
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
        var g = ScoreMatrix(z, cancellationToken);
        if (Pruning.NativeBlas.SingleAvailable) AllPairsBlas(g, z.Rows, z.Columns, sink, progress, cancellationToken);
        else AllPairsTiles(g, z.Rows, z.Columns, sink, progress, cancellationToken);
    }

    /// <summary>
    /// Scores of every column, float32, N x S row-major (column j at [j*S, (j+1)*S)); a constant column is all zeros
    /// (r = 0 with everything: I = 0).
    /// </summary>
    private static float[] ScoreMatrix(ActivationMatrix z, CancellationToken ct)
    {
        int s = z.Rows, n = z.Columns;
        var table = ScoreTable(s);
        var table32 = new float[s];
        TensorPrimitives.ConvertTruncating<double, float>(table, table32); // round to nearest, as a cast does
        var g = new float[(long)s * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, () => (Rank: new int[s], Order: new int[s]), (j, _, w) =>
        {
            var col = z.Column(j);
            var dst = g.AsSpan((int)((long)j * s), s);
            if (ColumnMath.IsConstant(col)) { dst.Clear(); return w; }
            ColumnMath.StableRanks(col, w.Rank, w.Order);
            for (int i = 0; i < s; i++) dst[i] = table32[w.Rank[i]];
            return w;
        }, _ => { });
        return g;
    }

    /// <summary>Side of a Gram block on the BLAS path: one sgemm/ssyrk call per block pair, 4 MB of float32.</summary>
    private const int BlasBlock = 1024;

    /// <summary>Rows per tile handed to the sink from a BLAS block (transformed in parallel).</summary>
    private const int Stripe = 64;

    /// <summary>
    /// All pairs with the Gram on the system OpenBLAS: per block pair one sgemm (ssyrk on the diagonal, whose lower
    /// half is mirrored), sequential so OpenBLAS's own threads use the cores; then, in parallel stripes of rows,
    /// r -> -1/2 ln(1 - min(r^2, cap)) by vector ops in float64 (1 - r^2 in float32 would lose small MI values) and
    /// each stripe to the sink. Stripes of a diagonal block start at their own diagonal (ColStart = RowStart).
    /// </summary>
    private static void AllPairsBlas(float[] g, int s, int n, IMiTileSink sink, IProgress<MiProgress>? progress, CancellationToken ct)
    {
        int bs = Math.Min(BlasBlock, n), blocks = (n + bs - 1) / bs;
        var c = new float[bs * bs];
        long total = (long)n * (n - 1) / 2, done = 0;
        var options = new ParallelOptions { CancellationToken = ct };
        for (int a = 0; a < blocks; a++)
            for (int b = a; b < blocks; b++)
            {
                ct.ThrowIfCancellationRequested();
                int r0 = a * bs, c0 = b * bs, rows = Math.Min(bs, n - r0), cols = Math.Min(bs, n - c0);
                bool diagonal = a == b;
                if (diagonal) Pruning.NativeBlas.SyrkUpperAAtSingle(rows, s, g.AsSpan((int)((long)r0 * s)), s, c);
                else Pruning.NativeBlas.GemmABtSingle(rows, cols, s, g.AsSpan((int)((long)r0 * s)), s, g.AsSpan((int)((long)c0 * s)), s, c);
                Parallel.For(0, (rows + Stripe - 1) / Stripe, options, () => new double[cols], (t, _, buf) =>
                {
                    int first = t * Stripe, count = Math.Min(Stripe, rows - first);
                    // on the diagonal: columns from the stripe's own first row; the lower half of its leading square
                    // mirrored from the upper half ssyrk wrote
                    int off = diagonal ? first : 0, width = cols - off;
                    if (diagonal)
                        for (int r = first + 1; r < first + count; r++)
                            for (int q = first; q < r; q++) c[r * cols + q] = c[q * cols + r];
                    var stripe = c.AsSpan(first * cols, count * cols);
                    for (int r = 0; r < count; r++)
                    {
                        var row = stripe.Slice(r * cols + off, width);
                        var d = buf.AsSpan(0, width);
                        TensorPrimitives.ConvertTruncating<float, double>(row, d);
                        TensorPrimitives.Multiply(d, d, d);
                        TensorPrimitives.Min(d, MaxRSquared, d);
                        TensorPrimitives.Subtract(1.0, d, d);
                        TensorPrimitives.Log(d, d);
                        TensorPrimitives.Multiply(d, -0.5, d);
                        TensorPrimitives.ConvertTruncating<double, float>(d, stripe.Slice(r * width, width)); // compacts rows to width
                        if (diagonal) stripe[r * width + r] = 0f;
                    }
                    sink.Accept(r0 + first, c0 + off, count, width, stripe[..(count * width)]);
                    return buf;
                }, _ => { });
                long pairsHere = diagonal ? (long)rows * (rows - 1) / 2 : (long)rows * cols;
                progress?.Report(new MiProgress(done += pairsHere, total));
            }
    }

    /// <summary>All pairs without a BLAS: the Gram by <see cref="ColumnGram"/> tiles on all cores.</summary>
    private static void AllPairsTiles(float[] g, int s, int n, IMiTileSink sink, IProgress<MiProgress>? progress, CancellationToken ct)
    {
        int tiles = (n + TileSize - 1) / TileSize;
        var tileList = new List<(int, int)>();
        for (int a = 0; a < tiles; a++) for (int b = a; b < tiles; b++) tileList.Add((a, b));
        long total = (long)n * (n - 1) / 2, done = 0;
        Parallel.For(0, tileList.Count, new ParallelOptions { CancellationToken = ct },
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
