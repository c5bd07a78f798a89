namespace LlmPruneFast.Information;

/// <summary>
/// Skeleton shared by estimators that are computed pair by pair from per-column precomputations:
/// <typeparamref name="TColumn"/> is what one column contributes (bins, sorted values, kernel terms), built once per
/// column per call; <typeparamref name="TScratch"/> is per-thread working memory. Pair lists and all-pairs tiles run
/// on all cores (Parallel.For over blocks of pairs / tiles), each worker with its own scratch.
/// </summary>
public abstract class PairwiseEstimator<TColumn, TScratch> : IMutualInformationEstimator
    where TColumn : class
    where TScratch : class
{
    /// <summary>Side of an all-pairs tile (columns); a tile's results are handed to the sink as one block.</summary>
    protected virtual int TileSize => 64;

    /// <summary>
    /// Most worker threads a call may use (-1 = all cores). 1 makes every call single-threaded, which is how per-pair
    /// costs are compared with single-threaded peers.
    /// </summary>
    public int MaxDegreeOfParallelism { get; init; } = -1;

    private ParallelOptions Options(CancellationToken ct) => new() { CancellationToken = ct, MaxDegreeOfParallelism = MaxDegreeOfParallelism };

    public abstract string Name { get; }
    public abstract MiUnits Units { get; }
    public abstract IReadOnlyDictionary<string, object> Parameters { get; }
    public abstract int MinimumSamples { get; }

    /// <summary>Precomputes what column <paramref name="v"/> (S finite values) contributes to every pair.</summary>
    protected abstract TColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role);

    /// <summary>Working memory for one thread, for samples of length <paramref name="s"/>.</summary>
    protected abstract TScratch CreateScratch(int s);

    /// <summary>MI of one pair from its two precomputed columns.</summary>
    protected abstract double EstimatePrepared(TColumn x, TColumn y, TScratch scratch);

    /// <summary>
    /// MI of x with each of ys[from .. from+count) into <paramref name="result"/> (all-pairs rows). The default calls
    /// <see cref="EstimatePrepared"/> per pair; estimators override it to share work across the row.
    /// </summary>
    protected virtual void EstimateRow(TColumn x, TColumn[] ys, int from, int count, Span<float> result, TScratch scratch)
    {
        for (int c = 0; c < count; c++) result[c] = (float)EstimatePrepared(x, ys[from + c], scratch);
    }

    /// <summary>Hook called once per call on the whole matrix before columns are prepared (e.g. tuned bandwidths).</summary>
    protected virtual void BeginMatrix(ActivationMatrix z, CancellationToken ct) { }

    /// <summary>True when the column preparation differs for the x and y role (KSG's reproduction jitter).</summary>
    protected virtual bool RoleDependent => false;

    public double Estimate(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new BadDataException($"x has {x.Length} samples but y has {y.Length}");
        ColumnMath.EnsureFinite(x, "x");
        ColumnMath.EnsureFinite(y, "y");
        EnsureEnoughSamples(x.Length);
        var z = new ActivationMatrix(x.Length, 2);
        x.CopyTo(z.ColumnMutable(0));
        y.CopyTo(z.ColumnMutable(1));
        BeginMatrix(z, CancellationToken.None);
        return EstimatePrepared(PrepareColumn(x, ColumnRole.X), PrepareColumn(y, ColumnRole.Y), CreateScratch(x.Length));
    }

    public void EstimatePairs(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, Span<double> result,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (result.Length < pairs.Length) throw new ArgumentException($"result holds {result.Length} values, {pairs.Length} pairs given");
        Validate(z);
        z.EnsurePairsInRange(pairs);
        BeginMatrix(z, cancellationToken);
        var xs = new TColumn?[z.Columns];
        var ys = RoleDependent ? new TColumn?[z.Columns] : xs;
        PrepareMarked(z, pairs, xs, ys, cancellationToken);
        // pairs visited grouped by their first column, as EstimateAllPairs' rows are: per-x work an estimator keeps in
        // its scratch (the plug-in's lane masks) and x's data serve the whole group; results land in list order
        var order = ByFirstColumn(pairs, z.Columns);

        if (MaxDegreeOfParallelism == 1)
        {
            // one thread: no Parallel.For, no copies (its per-call cost is visible at S = 1024 with ~100 pairs)
            var scratch1 = CreateScratch(z.Rows);
            for (int k = 0; k < order.Length; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int p = order[k];
                result[p] = EstimatePrepared(xs[pairs[p].I]!, ys[pairs[p].J]!, scratch1);
                if (progress != null && ((k + 1) % 64 == 0 || k + 1 == pairs.Length)) progress.Report(new MiProgress(k + 1, pairs.Length));
            }
            return;
        }
        var pairArray = pairs.ToArray();
        var output = new double[pairArray.Length];
        const int Chunk = 64;
        int chunks = (pairArray.Length + Chunk - 1) / Chunk;
        long done = 0;
        Parallel.For(0, chunks, Options(cancellationToken), () => CreateScratch(z.Rows),
            (c, _, scratch) =>
            {
                int end = Math.Min(pairArray.Length, (c + 1) * Chunk);
                for (int k = c * Chunk; k < end; k++)
                {
                    int p = order[k];
                    output[p] = EstimatePrepared(xs[pairArray[p].I]!, ys[pairArray[p].J]!, scratch);
                }
                long d = Interlocked.Add(ref done, end - c * Chunk);
                progress?.Report(new MiProgress(d, pairArray.Length));
                return scratch;
            }, _ => { });
        output.CopyTo(result);
    }

    public void EstimateAllPairs(ActivationMatrix z, IMiTileSink sink, IProgress<MiProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        Validate(z);
        BeginMatrix(z, cancellationToken);
        int n = z.Columns;
        var xs = new TColumn[n];
        var ys = RoleDependent ? new TColumn[n] : xs;
        void Prepare(int j)
        {
            xs[j] = PrepareColumn(z.Column(j), ColumnRole.X);
            if (RoleDependent) ys[j] = PrepareColumn(z.Column(j), ColumnRole.Y);
        }
        int t = TileSize, tiles = (n + t - 1) / t;
        var tileList = new List<(int, int)>();
        for (int a = 0; a < tiles; a++) for (int b = a; b < tiles; b++) tileList.Add((a, b));
        long total = (long)n * (n - 1) / 2, done = 0;
        if (MaxDegreeOfParallelism == 1)
        {
            // one thread: plain loops (two Parallel.For calls cost more than a small layer's pairs)
            for (int j = 0; j < n; j++) { cancellationToken.ThrowIfCancellationRequested(); Prepare(j); }
            var local1 = (Scratch: CreateScratch(z.Rows), Tile: new float[t * t]);
            for (int k = 0; k < tileList.Count; k++) { cancellationToken.ThrowIfCancellationRequested(); Tile(k, local1); }
            return;
        }
        Parallel.For(0, n, Options(cancellationToken), Prepare);
        Parallel.For(0, tileList.Count, Options(cancellationToken),
            () => (Scratch: CreateScratch(z.Rows), Tile: new float[t * t]),
            (k, _, local) => Tile(k, local), _ => { });

        (TScratch Scratch, float[] Tile) Tile(int k, (TScratch Scratch, float[] Tile) local)
        {
            var (a, b) = tileList[k];
            int r0 = a * t, c0 = b * t, rows = Math.Min(t, n - r0), cols = Math.Min(t, n - c0);
            long pairsHere = 0;
            for (int r = 0; r < rows; r++)
            {
                int first = a == b ? r + 1 : 0;
                if (a == b) local.Tile[r * cols + r] = 0f;
                if (first >= cols) continue;
                EstimateRow(xs[r0 + r], ys, c0 + first, cols - first, local.Tile.AsSpan(r * cols + first, cols - first), local.Scratch);
                pairsHere += cols - first;
            }
            if (a == b)
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < r; c++) local.Tile[r * cols + c] = local.Tile[c * cols + r];
            sink.Accept(r0, c0, rows, cols, local.Tile.AsSpan(0, rows * cols));
            progress?.Report(new MiProgress(Interlocked.Add(ref done, pairsHere), total));
            return local;
        }
    }

    /// <summary>Checks finiteness and sample count; throws <see cref="BadDataException"/> otherwise.</summary>
    protected void Validate(ActivationMatrix z)
    {
        z.EnsureFinite();
        EnsureEnoughSamples(z.Rows);
    }

    private void EnsureEnoughSamples(int s)
    {
        if (s < MinimumSamples)
            throw new BadDataException($"{Name} with {DescribeParameters()} needs at least {MinimumSamples} samples, found S = {s}");
    }

    private string DescribeParameters() => string.Join(", ", Parameters.Select(p => $"{p.Key}={p.Value}"));

    /// <summary>The indices of <paramref name="pairs"/> ordered by first column, list order within one (a counting sort).</summary>
    private static int[] ByFirstColumn(ReadOnlySpan<(int I, int J)> pairs, int columns)
    {
        var start = new int[columns + 1];
        foreach (var (i, _) in pairs) start[i + 1]++;
        for (int c = 0; c < columns; c++) start[c + 1] += start[c];
        var order = new int[pairs.Length];
        for (int p = 0; p < pairs.Length; p++) order[start[pairs[p].I]++] = p;
        return order;
    }

    private void PrepareMarked(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, TColumn?[] xs, TColumn?[] ys, CancellationToken ct)
    {
        var needX = new bool[z.Columns];
        var needY = new bool[z.Columns];
        foreach (var (i, j) in pairs) { needX[i] = true; needY[j] = true; }
        if (!RoleDependent) for (int j = 0; j < needX.Length; j++) needX[j] |= needY[j];
        if (MaxDegreeOfParallelism == 1)
        {
            for (int j = 0; j < z.Columns; j++)
            {
                ct.ThrowIfCancellationRequested();
                if (needX[j]) xs[j] = PrepareColumn(z.Column(j), ColumnRole.X);
                if (RoleDependent && needY[j]) ys[j] = PrepareColumn(z.Column(j), ColumnRole.Y);
            }
            return;
        }
        Parallel.For(0, z.Columns, Options(ct), j =>
        {
            if (needX[j]) xs[j] = PrepareColumn(z.Column(j), ColumnRole.X);
            if (RoleDependent && needY[j]) ys[j] = PrepareColumn(z.Column(j), ColumnRole.Y);
        });
    }
}

/// <summary>Whether a column enters a pair as its first (x) or second (y) variable.</summary>
public enum ColumnRole { X, Y }
