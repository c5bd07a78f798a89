using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmPruneFast.Information;

/// <summary>
/// Kraskov-Stoegbauer-Grassberger estimator 1, in nats, as scikit-learn's <c>mutual_info_regression</c> computes it.
/// Each variable is divided by its standard deviation (ddof 0, no centring; float64, summed exactly as numpy's
/// pairwise sum does, so the scaled values are bit-identical to scikit-learn's: on real activations with tied values a
/// 1-ulp difference in the scale flips &lt;= r comparisons and moved I by up to 4e-6). With the max-norm
/// d(i,j) = max(|x_i-x_j|, |y_i-y_j|), eps_i = distance from point i to its k-th nearest other point, and
/// r_i = the largest double below eps_i (0 when eps_i = 0):
/// n_x(i) = #{j != i : |x_i-x_j| &lt;= r_i}, n_y(i) likewise, i.e. strictly inside eps_i, and
/// <code>I = psi(S) + psi(k) - mean_i psi(n_x(i)+1) - mean_i psi(n_y(i)+1)</code>
/// clipped at 0 unless <see cref="MiEstimatorOptions.ClipNegative"/> is off. A constant column gives 0.
/// Per column (once): scaled values sorted (a radix sort of the floats; padded with infinities) with every 8th and
/// every 64th of them, each sample's position in that order, and the edges of ~sqrt(S/k) equal-count slabs. Per pair:
/// the points bucketed into the slab grid (a counting sort, O(S); ~k points per cell). k &lt;= 3: 8 consecutive points
/// of one x slab at a time, one per vector lane, against every point of their cells and one slab around (certified
/// exact by the value gap to those cells' outer edges, else widened for that point to every slab its bound reaches);
/// k = 4: per point over the cells within about the previous point's k-th distance, likewise certified; larger k, or
/// fewer than k points near: a rectangle of cells grown toward the nearest slab edge, with an exact stopping bound.
/// n_x and n_y from the point's own position in the sorted columns by three vector compares a side (the samples,
/// then the edge's 8 values), galloping beyond 448 values. O(S log S)-free per pair.
/// (Measured on distinct pairs and rejected: a one-dimensional strip scan in x order (0.5-1.2x the grid's time at
/// S = 1024, 1.5x at S = 4096); edges of each count found from the previous position's edges in x/y order (no gain);
/// per-group reach from the previous group's k-th distances or balanced value-space margins (fewer widenings, more
/// points scanned: slower).)
/// </summary>
public sealed class KsgEstimator : PairwiseEstimator<KsgEstimator.ScaledColumn, KsgEstimator.Scratch>
{
    private readonly int _k;
    private readonly bool _clip;
    private readonly KsgJitter _jitter;

    public KsgEstimator(int k, bool clipNegative = true, KsgJitter jitter = KsgJitter.None)
    {
        if (k < 1) throw new BadArgumentException($"--k {k} out of range: expected k >= 1");
        _k = k;
        _clip = clipNegative;
        _jitter = jitter;
        Parameters = new Dictionary<string, object> { ["k"] = k, ["clip_negative"] = clipNegative, ["jitter"] = jitter.ToString() };
    }

    public override string Name => "ksg";
    public override MiUnits Units => MiUnits.Nats;
    public override IReadOnlyDictionary<string, object> Parameters { get; }
    public override int MinimumSamples => _k + 1;
    protected override bool RoleDependent => _jitter != KsgJitter.None;

    /// <summary>
    /// One column, scaled: its values ascending with <see cref="Pad"/> sentinels each side (-inf before, +inf after, so
    /// vector scans stop without bounds checks), each sample's position in that order, and the edges of the grid's
    /// equal-count slabs.
    /// </summary>
    public sealed class ScaledColumn(double[] sortedPadded, int[] rank, ushort[] slabOf, double[] slabLow, double[] slabHigh, bool constant)
    {
        /// <summary>Every 8th sorted value (<see cref="SortedStrip.EveryEighth"/>) for the strip counts.</summary>
        public readonly double[] Samples = SortedStrip.EveryEighth(sortedPadded);
        /// <summary>Every 64th sorted value (<see cref="SortedStrip.EverySixtyFourth"/>).</summary>
        public readonly double[] Samples64 = SortedStrip.EverySixtyFourth(sortedPadded);
        /// <summary>Grid slab of each sample (its rank's), so a pair's cells need no division per point.</summary>
        public readonly ushort[] SlabOf = slabOf;
        /// <summary>Scaled values ascending at [Pad, Pad+S); -inf before, +inf after.</summary>
        public readonly double[] SortedPadded = sortedPadded;
        /// <summary>Position of each sample in the ascending order (0-based, without the pad).</summary>
        public readonly int[] Rank = rank;
        /// <summary>Smallest and largest value of each of the grid's equal-count slabs.</summary>
        public readonly double[] SlabLow = slabLow, SlabHigh = slabHigh;
        public readonly bool Constant = constant;

        /// <summary>Scaled value of sample i.</summary>
        public double Value(int i) => SortedPadded[Pad + Rank[i]];
    }

    /// <summary>Sentinels each side of the sorted values: one vector of doubles.</summary>
    public const int Pad = 8;

    public sealed class Scratch(int s, int k)
    {
        public readonly int[] CellStart = new int[GridSide(s, k) * GridSide(s, k) + 1];
        public readonly int[] Fill = new int[GridSide(s, k) * GridSide(s, k)];
        /// <summary>Point coordinates in grid order, then <see cref="VectorPad"/> points at +inf (vector over-reads).</summary>
        public readonly double[] Px = PaddedInf(s), Py = PaddedInf(s);
        /// <summary>Positions in x's and y's ascending order of the points, in grid order.</summary>
        public readonly int[] RankX = new int[s], RankY = new int[s];
        /// <summary>y slab (grid column) of the points, in grid order.</summary>
        public readonly ushort[] CellY = new ushort[s];
        /// <summary>Counting radius r_i of each point, indexed by its position in y's ascending order.</summary>
        public readonly double[] RadiusByY = new double[s];
        /// <summary>How many points have n_x = n (resp. n_y = n), n = 0..S-1.</summary>
        public readonly int[] CountX = new int[s], CountY = new int[s];
        public readonly double[] Heap = new double[k];
        public readonly double[] Psi = ColumnMath.DigammaTable(s + 1);

        private static double[] PaddedInf(int s)
        {
            var a = new double[s + VectorPad];
            a.AsSpan(s).Fill(double.PositiveInfinity);
            return a;
        }
    }

    /// <summary>Points past the end of the grid-ordered coordinates: one vector of doubles.</summary>
    private const int VectorPad = 8;

    protected override ScaledColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role)
    {
        int s = v.Length;
        bool constant = ColumnMath.IsConstant(v);
        double std = ColumnMath.NumpyStd(v);
        if (std == 0) std = 1; // scikit-learn's _handle_zeros_in_scale
        var values = new double[s];
        for (int i = 0; i < s; i++) values[i] = v[i] / std;
        if (_jitter == KsgJitter.SklearnRandomState0)
        {
            double meanAbs = 0;
            for (int i = 0; i < s; i++) meanAbs += Math.Abs(values[i]);
            double scale = 1e-10 * Math.Max(1.0, meanAbs / s);
            var noise = NumpyLegacyNormal.First(0, 2 * s).AsSpan(role == ColumnRole.X ? 0 : s, s);
            for (int i = 0; i < s; i++) values[i] += scale * noise[i];
        }
        // ascending order; the order among equal values does not matter (counts and distances see only values)
        var order = new int[s];
        double[] sortedValues;
        if (_jitter == KsgJitter.None)
        {
            // v / std is non-decreasing in v (std > 0, rounding is monotone): the floats' radix order sorts the doubles
            ColumnMath.StableOrder(v, order);
            sortedValues = new double[s];
            for (int p = 0; p < s; p++) sortedValues[p] = values[order[p]];
        }
        else
        {
            for (int i = 0; i < s; i++) order[i] = i;
            sortedValues = (double[])values.Clone();
            Array.Sort(sortedValues, order);
        }
        var padded = new double[s + 2 * Pad];
        padded.AsSpan(0, Pad).Fill(double.NegativeInfinity);
        padded.AsSpan(Pad + s).Fill(double.PositiveInfinity);
        sortedValues.CopyTo(padded, Pad);
        var rank = new int[s];
        for (int p = 0; p < s; p++) rank[order[p]] = p;
        int g = GridSide(s, _k);
        var lo = new double[g];
        var hi = new double[g];
        var slabOf = new ushort[s];
        for (int c = 0; c < g; c++)
        {
            int first = (int)(((long)c * s + g - 1) / g), next = (int)(((long)(c + 1) * s + g - 1) / g);
            lo[c] = first < s ? sortedValues[first] : double.PositiveInfinity;
            hi[c] = next - 1 >= first ? sortedValues[next - 1] : double.NegativeInfinity;
            // ranks first .. next-1 are exactly those with floor(rank * g / S) = c
            for (int p = first; p < next; p++) slabOf[order[p]] = (ushort)c;
        }
        return new ScaledColumn(padded, rank, slabOf, lo, hi, constant);
    }

    protected override Scratch CreateScratch(int s) => new(s, _k);

    /// <summary>The column preparation alone (x role), for the perf suite's phase split.</summary>
    internal ScaledColumn Prepare(ReadOnlySpan<float> v) => PrepareColumn(v, ColumnRole.X);

    protected override double EstimatePrepared(ScaledColumn x, ScaledColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        int s = x.Rank.Length;
        var (meanX, meanY) = GridMeans(x, y, scratch);
        double mi = scratch.Psi[s] + scratch.Psi[_k] - meanX - meanY;
        return _clip ? Math.Max(0.0, mi) : mi;
    }

    /// <summary>
    /// (mean_i psi(n_x(i)+1), mean_i psi(n_y(i)+1)): the points counting-sorted into the rank grid, each point's k-th
    /// distance by <see cref="GroupKth"/> (k &lt;= 3), <see cref="KthDistanceNeighbourhood"/> (k = 4) or
    /// <see cref="KthDistance"/>, n_x and n_y by <see cref="Count"/> around its rank.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // hot: optimised at first call (tier 0 would run for most of a one-shot run)
    private (double MeanX, double MeanY) GridMeans(ScaledColumn x, ScaledColumn y, Scratch scratch)
    {
        int s = x.Rank.Length, g = GridSide(s, _k), cells = g * g;
        var start = scratch.CellStart;
        Array.Clear(start, 0, cells + 1);
        // counting sort of the points into a g x g grid of rank cells (equal-count slabs in x and in y)
        var slabX = x.SlabOf;
        var slabY = y.SlabOf;
        for (int i = 0; i < s; i++) start[slabX[i] * g + slabY[i] + 1]++;
        for (int c = 0; c < cells; c++) start[c + 1] += start[c];
        var fill = scratch.Fill;
        Array.Copy(start, fill, cells);
        var px = scratch.Px;
        var py = scratch.Py;
        var rx = scratch.RankX;
        var ry = scratch.RankY;
        for (int i = 0; i < s; i++)
        {
            int ri = x.Rank[i], si = y.Rank[i];
            int q = fill[slabX[i] * g + slabY[i]]++;
            px[q] = x.SortedPadded[Pad + ri];
            py[q] = y.SortedPadded[Pad + si];
            rx[q] = ri;
            ry[q] = si;
            scratch.CellY[q] = slabY[i];
        }
        var psi = scratch.Psi;
        var radByY = scratch.RadiusByY;
        var countX = scratch.CountX;
        var countY = scratch.CountY;
        Array.Clear(countX);
        Array.Clear(countY);
        int window = 2 * SortedStrip.SearchWindow(s);
        // points in grid order, x slab by x slab (their cell known without division), ranks alongside: sequential
        // reads here, locality in the sorted columns
        if (_k <= GroupK)
        {
            Span<double> eps8 = stackalloc double[Group];
            for (int a = 0; a < g; a++)
                for (int q0 = start[a * g], rowEnd = start[(a + 1) * g]; q0 < rowEnd; q0 += Group)
                {
                    int count = Math.Min(Group, rowEnd - q0);
                    if (Vector512.IsHardwareAccelerated) GroupKth512(scratch, x, y, g, a, q0, count, eps8);
                    else GroupKth(scratch, x, y, g, a, q0, count, eps8);
                    for (int lane = 0; lane < count; lane++)
                    {
                        double rad = Below(eps8[lane]);
                        countX[Count(x, rx[q0 + lane], rad, window)]++;
                        radByY[ry[q0 + lane]] = rad;
                    }
                }
        }
        else
        {
            double guess = 0; // the previous point's k-th distance: in grid order, a near neighbour's
            for (int cx = 0, c = 0; cx < g; cx++)
                for (int cy = 0; cy < g; cy++, c++)
                    for (int q = start[c], end = start[c + 1]; q < end; q++)
                    {
                        double eps = _k <= FastK ? KthDistanceNeighbourhood(scratch, x, y, g, q, cx, cy, ref guess) : double.NaN;
                        if (double.IsNaN(eps)) eps = KthDistance(scratch, x, y, g, q, cx, cy);
                        double rad = Below(eps);
                        countX[Count(x, rx[q], rad, window)]++;
                        radByY[ry[q]] = rad;
                    }
        }
        // n_y in y's order, so consecutive counts read neighbouring stretches of the sorted column and its samples
        for (int p = 0; p < s; p++) countY[Count(y, p, radByY[p], window)]++;
        // mean_i psi(n(i)+1) as sum_n #(n) psi(n+1) / S: independent of the visiting order, and with one rounding
        // per distinct n it stays within ~1e-15 of scikit-learn's pairwise-summed np.mean
        // (an empty n adds 0 x psi = +-0, which leaves the sum unchanged: no branch on it)
        double meanX = 0, meanY = 0;
        for (int n = 0; n < s; n++)
        {
            meanX += countX[n] * psi[n + 1];
            meanY += countY[n] * psi[n + 1];
        }
        return (meanX / s, meanY / s);
    }

    /// <summary>n = #{j != i : |v_j - v_i| &lt;= rad} for the sample at position <paramref name="rank"/> of the column's sorted order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Count(ScaledColumn v, int rank, double rad, int window) => Vector512.IsHardwareAccelerated
        ? SortedStrip.CountWithinTwoLevel(v.SortedPadded, v.Samples, v.Samples64, Pad + rank, rad)
        : SortedStrip.CountWithinSearch(v.SortedPadded, Pad + rank, rad, window);

    /// <summary>The largest double below eps, 0 for eps = 0 (eps finite, &gt;= +0): one bit pattern step, no branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static double Below(double eps)
    {
        long bits = BitConverter.DoubleToInt64Bits(eps);
        return BitConverter.Int64BitsToDouble(bits - (long)((ulong)-bits >> 63));
    }

    /// <summary>
    /// Grid side: about S/k cells in all, so a cell holds ~k points and the k nearest of a point lie within its 3 x 3
    /// cells but for a small fraction of points (k-NN radius ~ half a slab; the nearest outside point is >= one slab away).
    /// </summary>
    private static int GridSide(int s, int k) => Math.Clamp((int)Math.Sqrt((double)s / k), 1, 2048);

    /// <summary>Largest k served by <see cref="KthDistanceNeighbourhood"/> (four sorted levels per vector lane).</summary>
    private const int FastK = 4;

    /// <summary>
    /// The k-th smallest distance from point q to the other points, from the cells near q when that is certain
    /// (otherwise NaN). First the cells of every slab within 1.25 x <paramref name="guess"/> of q in value space (the
    /// previous point's k-th distance; its 3 x 3 cells when there is none): the k-th there is the k-th over all points
    /// when it is at most the value gap from q to those cells' outer slab edges. Otherwise that k-th bounds the true one
    /// from above: the cells are widened once to every slab it can reach (a value-space square spans many narrow slabs
    /// one way and few wide ones the other) and the k-th of that rectangle is exact. Fewer than k points near: NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double KthDistanceNeighbourhood(Scratch sc, ScaledColumn x, ScaledColumn y, int g, int q, int cx, int cy, ref double guess)
    {
        double x0 = sc.Px[q], y0 = sc.Py[q];
        int a1, a2, b1, b2;
        if (guess > 0)
        {
            double reach = GuessMargin * guess;
            a1 = cx; while (a1 > 0 && x0 - x.SlabHigh[a1 - 1] < reach) a1--;
            a2 = cx; while (a2 + 1 < g && x.SlabLow[a2 + 1] - x0 < reach) a2++;
            b1 = cy; while (b1 > 0 && y0 - y.SlabHigh[b1 - 1] < reach) b1--;
            b2 = cy; while (b2 + 1 < g && y.SlabLow[b2 + 1] - y0 < reach) b2++;
        }
        else
        {
            a1 = Math.Max(cx - 1, 0); a2 = Math.Min(cx + 1, g - 1); b1 = Math.Max(cy - 1, 0); b2 = Math.Min(cy + 1, g - 1);
        }
        double kth = ScanCells(sc, g, q, a1, a2, b1, b2);
        double gap = Math.Min(
            Math.Min(a2 + 1 < g ? x.SlabLow[a2 + 1] - x0 : double.PositiveInfinity, a1 > 0 ? x0 - x.SlabHigh[a1 - 1] : double.PositiveInfinity),
            Math.Min(b2 + 1 < g ? y.SlabLow[b2 + 1] - y0 : double.PositiveInfinity, b1 > 0 ? y0 - y.SlabHigh[b1 - 1] : double.PositiveInfinity));
        // every point outside is >= gap away, so it cannot be nearer than a k-th that is <= gap (ties keep the value)
        if (kth <= gap) return guess = kth;
        guess = 0;
        if (double.IsPositiveInfinity(kth)) return double.NaN;
        // widen to every slab that can hold a point nearer than kth
        while (a1 > 0 && x0 - x.SlabHigh[a1 - 1] < kth) a1--;
        while (a2 + 1 < g && x.SlabLow[a2 + 1] - x0 < kth) a2++;
        while (b1 > 0 && y0 - y.SlabHigh[b1 - 1] < kth) b1--;
        while (b2 + 1 < g && y.SlabLow[b2 + 1] - y0 < kth) b2++;
        return guess = ScanCells(sc, g, q, a1, a2, b1, b2);
    }

    /// <summary>Largest k served by <see cref="GroupKth"/>: the point itself takes one of its four sorted levels.</summary>
    private const int GroupK = 3;

    /// <summary>Points whose k-th distances <see cref="GroupKth"/> finds together: two vectors of 4 lanes.</summary>
    private const int Group = 8;

    /// <summary>Slabs of margin each side of a group's own cells in <see cref="GroupKth"/>.</summary>
    private const int GroupMargin = 1;

    /// <summary>
    /// The k-th distances (k &lt;= 3) of the <paramref name="count"/> points from grid position q0 on (consecutive, all in
    /// x slab <paramref name="a"/>, so their y cells are a range) into eps, one point per vector lane: every point of the
    /// cells within <see cref="GroupMargin"/> slabs of theirs (a run of grid positions per x slab) is broadcast and its
    /// distance to the 8 points goes into per-lane sorted 4-lists by a min/max network. The point itself is among them
    /// at distance 0, so the (k+1)-th smallest is its k-th nearest other point (a duplicate at 0 gives the same value).
    /// A lane is exact when that value is at most the value gap to the scanned cells' outer slab edges (every point
    /// outside is at least that far); otherwise it bounds the true one from above, and the rectangle is widened to every
    /// slab that bound reaches (<see cref="ScanRing"/>: only the added cells, seeded with the lane's four smallest), or,
    /// with fewer than k+1 points scanned, the full grid walk runs.
    /// One pass over the candidates serves 8 points: no per-point edge searches, no lane merge, few loop exits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void GroupKth(Scratch sc, ScaledColumn x, ScaledColumn y, int g, int a, int q0, int count, Span<double> eps)
    {
        var cellY = sc.CellY;
        int a1 = Math.Max(a - GroupMargin, 0), a2 = Math.Min(a + GroupMargin, g - 1);
        int cy1 = cellY[q0], cy2 = cellY[q0 + count - 1];
        int b1 = Math.Max(cy1 - GroupMargin, 0), b2 = Math.Min(cy2 + GroupMargin, g - 1);
        ref double rpx = ref MemoryMarshal.GetArrayDataReference(sc.Px);
        ref double rpy = ref MemoryMarshal.GetArrayDataReference(sc.Py);
        var qx0 = Vector256.LoadUnsafe(ref rpx, (nuint)q0);
        var qx1 = Vector256.LoadUnsafe(ref rpx, (nuint)(q0 + 4));
        var qy0 = Vector256.LoadUnsafe(ref rpy, (nuint)q0);
        var qy1 = Vector256.LoadUnsafe(ref rpy, (nuint)(q0 + 4));
        var inf = Vector256.Create(double.PositiveInfinity);
        Vector256<double> l0 = inf, l1 = inf, l2 = inf, l3 = inf, h0 = inf, h1 = inf, h2 = inf, h3 = inf;
        var start = sc.CellStart;
        for (int r = a1; r <= a2; r++)
            for (int p = start[r * g + b1], to = start[r * g + b2 + 1]; p < to; p++)
            {
                var cx = Vector256.Create(Unsafe.Add(ref rpx, p));
                var cy = Vector256.Create(Unsafe.Add(ref rpy, p));
                var d = Vector256.MaxNative(Vector256.Abs(cx - qx0), Vector256.Abs(cy - qy0));
                var e = Vector256.MaxNative(Vector256.Abs(cx - qx1), Vector256.Abs(cy - qy1));
                var lo = Vector256.MinNative(l0, d); d = Vector256.MaxNative(l0, d); l0 = lo;
                lo = Vector256.MinNative(l1, d); d = Vector256.MaxNative(l1, d); l1 = lo;
                lo = Vector256.MinNative(l2, d); d = Vector256.MaxNative(l2, d); l2 = lo;
                l3 = Vector256.MinNative(l3, d);
                lo = Vector256.MinNative(h0, e); e = Vector256.MaxNative(h0, e); h0 = lo;
                lo = Vector256.MinNative(h1, e); e = Vector256.MaxNative(h1, e); h1 = lo;
                lo = Vector256.MinNative(h2, e); e = Vector256.MaxNative(h2, e); h2 = lo;
                h3 = Vector256.MinNative(h3, e);
            }
        var (k0, k1) = _k switch { 1 => (l1, h1), 2 => (l2, h2), _ => (l3, h3) };
        // value gaps to the slabs outside the rectangle (x0 - (-inf) and +inf - x0 are +inf: no side there)
        var xLow = Vector256.Create(a1 > 0 ? x.SlabHigh[a1 - 1] : double.NegativeInfinity);
        var xHigh = Vector256.Create(a2 + 1 < g ? x.SlabLow[a2 + 1] : double.PositiveInfinity);
        var yLow = Vector256.Create(b1 > 0 ? y.SlabHigh[b1 - 1] : double.NegativeInfinity);
        var yHigh = Vector256.Create(b2 + 1 < g ? y.SlabLow[b2 + 1] : double.PositiveInfinity);
        var gap0 = Vector256.Min(Vector256.Min(qx0 - xLow, xHigh - qx0), Vector256.Min(qy0 - yLow, yHigh - qy0));
        var gap1 = Vector256.Min(Vector256.Min(qx1 - xLow, xHigh - qx1), Vector256.Min(qy1 - yLow, yHigh - qy1));
        uint exact = Vector256.LessThanOrEqual(k0, gap0).ExtractMostSignificantBits() | (Vector256.LessThanOrEqual(k1, gap1).ExtractMostSignificantBits() << 4);
        k0.StoreUnsafe(ref MemoryMarshal.GetReference(eps));
        k1.StoreUnsafe(ref MemoryMarshal.GetReference(eps), 4);
        uint failed = ~exact & ((1u << count) - 1);
        if (failed == 0) return;
        // each lane's four smallest (itself included), to seed the scan of what the widening adds
        Span<double> tops = stackalloc double[4 * Group];
        ref double rt = ref MemoryMarshal.GetReference(tops);
        l0.StoreUnsafe(ref rt, 0); h0.StoreUnsafe(ref rt, 4);
        l1.StoreUnsafe(ref rt, 8); h1.StoreUnsafe(ref rt, 12);
        l2.StoreUnsafe(ref rt, 16); h2.StoreUnsafe(ref rt, 20);
        l3.StoreUnsafe(ref rt, 24); h3.StoreUnsafe(ref rt, 28);
        Widen(sc, x, y, g, a, q0, failed, a1, a2, b1, b2, tops, eps);
    }

    /// <summary>
    /// <see cref="GroupKth"/> with the 8 points in one 512-bit vector (AVX-512 machines: half the instructions per
    /// candidate of two 256-bit halves; the same distances, the same values).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void GroupKth512(Scratch sc, ScaledColumn x, ScaledColumn y, int g, int a, int q0, int count, Span<double> eps)
    {
        var cellY = sc.CellY;
        int a1 = Math.Max(a - GroupMargin, 0), a2 = Math.Min(a + GroupMargin, g - 1);
        int cy1 = cellY[q0], cy2 = cellY[q0 + count - 1];
        int b1 = Math.Max(cy1 - GroupMargin, 0), b2 = Math.Min(cy2 + GroupMargin, g - 1);
        ref double rpx = ref MemoryMarshal.GetArrayDataReference(sc.Px);
        ref double rpy = ref MemoryMarshal.GetArrayDataReference(sc.Py);
        var qx = Vector512.LoadUnsafe(ref rpx, (nuint)q0);
        var qy = Vector512.LoadUnsafe(ref rpy, (nuint)q0);
        var inf = Vector512.Create(double.PositiveInfinity);
        Vector512<double> l0 = inf, l1 = inf, l2 = inf, l3 = inf;
        var start = sc.CellStart;
        for (int r = a1; r <= a2; r++)
            for (int p = start[r * g + b1], to = start[r * g + b2 + 1]; p < to; p++)
            {
                var d = Vector512.MaxNative(Vector512.Abs(Vector512.Create(Unsafe.Add(ref rpx, p)) - qx), Vector512.Abs(Vector512.Create(Unsafe.Add(ref rpy, p)) - qy));
                var lo = Vector512.MinNative(l0, d); d = Vector512.MaxNative(l0, d); l0 = lo;
                lo = Vector512.MinNative(l1, d); d = Vector512.MaxNative(l1, d); l1 = lo;
                lo = Vector512.MinNative(l2, d); d = Vector512.MaxNative(l2, d); l2 = lo;
                l3 = Vector512.MinNative(l3, d);
            }
        var kth = _k switch { 1 => l1, 2 => l2, _ => l3 };
        var xLow = Vector512.Create(a1 > 0 ? x.SlabHigh[a1 - 1] : double.NegativeInfinity);
        var xHigh = Vector512.Create(a2 + 1 < g ? x.SlabLow[a2 + 1] : double.PositiveInfinity);
        var yLow = Vector512.Create(b1 > 0 ? y.SlabHigh[b1 - 1] : double.NegativeInfinity);
        var yHigh = Vector512.Create(b2 + 1 < g ? y.SlabLow[b2 + 1] : double.PositiveInfinity);
        var gap = Vector512.Min(Vector512.Min(qx - xLow, xHigh - qx), Vector512.Min(qy - yLow, yHigh - qy));
        uint exact = (uint)Vector512.LessThanOrEqual(kth, gap).ExtractMostSignificantBits();
        kth.StoreUnsafe(ref MemoryMarshal.GetReference(eps));
        uint failed = ~exact & ((1u << count) - 1);
        if (failed == 0) return;
        Span<double> tops = stackalloc double[4 * Group];
        ref double rt = ref MemoryMarshal.GetReference(tops);
        l0.StoreUnsafe(ref rt, 0);
        l1.StoreUnsafe(ref rt, 8);
        l2.StoreUnsafe(ref rt, 16);
        l3.StoreUnsafe(ref rt, 24);
        Widen(sc, x, y, g, a, q0, failed, a1, a2, b1, b2, tops, eps);
    }

    /// <summary>
    /// The lanes of a group that <see cref="GroupKth"/> could not certify: their bound widens the group's rectangle
    /// [a1, a2] x [b1, b2] to every slab it reaches, and only the added cells are scanned (<see cref="ScanRing"/>,
    /// seeded with the lane's four smallest in <paramref name="tops"/>, level-major); fewer than k+1 points scanned:
    /// the full grid walk.
    /// </summary>
    private void Widen(Scratch sc, ScaledColumn x, ScaledColumn y, int g, int a, int q0, uint failed, int a1, int a2, int b1, int b2,
        Span<double> tops, Span<double> eps)
    {
        var cellY = sc.CellY;
        for (uint bad = failed; bad != 0; bad &= bad - 1)
        {
            int lane = System.Numerics.BitOperations.TrailingZeroCount(bad), q = q0 + lane;
            double bound = eps[lane];
            if (double.IsPositiveInfinity(bound)) { eps[lane] = KthDistance(sc, x, y, g, q, a, cellY[q]); continue; }
            double x0 = sc.Px[q], y0 = sc.Py[q];
            int w1 = a1, w2 = a2, v1 = b1, v2 = b2;
            while (w1 > 0 && x0 - x.SlabHigh[w1 - 1] < bound) w1--;
            while (w2 + 1 < g && x.SlabLow[w2 + 1] - x0 < bound) w2++;
            while (v1 > 0 && y0 - y.SlabHigh[v1 - 1] < bound) v1--;
            while (v2 + 1 < g && y.SlabLow[v2 + 1] - y0 < bound) v2++;
            eps[lane] = ScanRing(sc, g, q, a1, a2, b1, b2, w1, w2, v1, v2, tops[lane], tops[Group + lane], tops[2 * Group + lane], tops[3 * Group + lane]);
        }
    }

    /// <summary>
    /// The (k+1)-th smallest distance from point q (k &lt;= 3; q itself counted, at 0) over the cells of
    /// [w1, w2] x [v1, v2]: the four smallest over the inner rectangle [a1, a2] x [b1, b2] (which holds q) are given
    /// (t0 &lt;= t1 &lt;= t2 &lt;= t3), so only the ring around it is scanned, 4 distances per vector as in <see cref="ScanCells"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double ScanRing(Scratch sc, int g, int q, int a1, int a2, int b1, int b2, int w1, int w2, int v1, int v2,
        double t0, double t1, double t2, double t3)
    {
        var start = sc.CellStart;
        var vx = Vector256.Create(sc.Px[q]);
        var vy = Vector256.Create(sc.Py[q]);
        var lane = Vector256.Create(0L, 1L, 2L, 3L);
        var inf = Vector256.Create(double.PositiveInfinity);
        Vector256<double> m0 = Vector256.Create(t0, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity);
        Vector256<double> m1 = Vector256.Create(t1, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity);
        Vector256<double> m2 = Vector256.Create(t2, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity);
        Vector256<double> m3 = Vector256.Create(t3, double.PositiveInfinity, double.PositiveInfinity, double.PositiveInfinity);
        ref double rpx = ref MemoryMarshal.GetArrayDataReference(sc.Px);
        ref double rpy = ref MemoryMarshal.GetArrayDataReference(sc.Py);
        for (int a = w1; a <= w2; a++)
        {
            bool inner = a >= a1 && a <= a2;
            // outside the inner rows: the whole [v1, v2]; inside: [v1, b1 - 1] and [b2 + 1, v2]
            for (int part = inner ? 0 : 2, partEnd = inner ? 2 : 3; part < partEnd; part++)
            {
                int lo = part == 1 ? b2 + 1 : v1, hi = part == 0 ? b1 - 1 : v2;
                if (lo > hi) continue;
                int from = start[a * g + lo], to = start[a * g + hi + 1];
                var end = Vector256.Create((long)to);
                for (int p = from; p < to; p += 4)
                {
                    var d = Vector256.MaxNative(Vector256.Abs(Vector256.LoadUnsafe(ref rpx, (nuint)p) - vx),
                                                Vector256.Abs(Vector256.LoadUnsafe(ref rpy, (nuint)p) - vy));
                    d = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(lane + Vector256.Create((long)p), end).AsDouble(), inf, d);
                    var lo2 = Vector256.MinNative(m0, d); d = Vector256.MaxNative(m0, d); m0 = lo2;
                    lo2 = Vector256.MinNative(m1, d); d = Vector256.MaxNative(m1, d); m1 = lo2;
                    lo2 = Vector256.MinNative(m2, d); d = Vector256.MaxNative(m2, d); m2 = lo2;
                    m3 = Vector256.MinNative(m3, d);
                }
            }
        }
        return SmallestOfLanes(m0, m1, m2, m3, _k); // (k+1)-th smallest: the seeds hold the point itself at distance 0
    }

    /// <summary>
    /// First reach of <see cref="KthDistanceNeighbourhood"/> as a multiple of the previous point's k-th distance
    /// (measured on distinct pairs, S = 1024: 1.0, 1.25, 1.6 left 24%, 15%, 8% of points to the widening; 1.25 was fastest).
    /// </summary>
    private const double GuessMargin = 1.25;

    /// <summary>
    /// The k-th smallest distance (k &lt;= 4) from point q to the other points of cells [a1, a2] x [b1, b2] (+inf when
    /// fewer than k): one run of consecutive grid positions per x slab, 4 distances per vector into per-lane sorted
    /// top-4 lists by a min/max insertion network, then the lanes merged.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double ScanCells(Scratch sc, int g, int q, int a1, int a2, int b1, int b2)
    {
        var start = sc.CellStart;
        var vx = Vector256.Create(sc.Px[q]);
        var vy = Vector256.Create(sc.Py[q]);
        var self = Vector256.Create((long)q);
        var lane = Vector256.Create(0L, 1L, 2L, 3L);
        var inf = Vector256.Create(double.PositiveInfinity);
        Vector256<double> m0 = inf, m1 = inf, m2 = inf, m3 = inf;
        ref double rpx = ref MemoryMarshal.GetArrayDataReference(sc.Px);
        ref double rpy = ref MemoryMarshal.GetArrayDataReference(sc.Py);
        for (int a = a1; a <= a2; a++)
        {
            int from = start[a * g + b1], to = start[a * g + b2 + 1];
            var end = Vector256.Create((long)to);
            for (int p = from; p < to; p += 4)
            {
                var d = Vector256.MaxNative(Vector256.Abs(Vector256.LoadUnsafe(ref rpx, (nuint)p) - vx),
                                            Vector256.Abs(Vector256.LoadUnsafe(ref rpy, (nuint)p) - vy));
                var index = lane + Vector256.Create((long)p);
                d = Vector256.ConditionalSelect((Vector256.Equals(index, self) | Vector256.GreaterThanOrEqual(index, end)).AsDouble(), inf, d);
                var lo = Vector256.MinNative(m0, d); d = Vector256.MaxNative(m0, d); m0 = lo;
                lo = Vector256.MinNative(m1, d); d = Vector256.MaxNative(m1, d); m1 = lo;
                lo = Vector256.MinNative(m2, d); d = Vector256.MaxNative(m2, d); m2 = lo;
                m3 = Vector256.MinNative(m3, d);
            }
        }
        return SmallestOfLanes(m0, m1, m2, m3, _k - 1);
    }

    /// <summary>
    /// The (rank+1)-th smallest (rank 0..3) of four per-lane sorted top-4 lists (m0 &lt;= m1 &lt;= m2 &lt;= m3 in each
    /// lane): lanes 2-3 merged into lanes 0-1, then lane 1 into lane 0, each a sorted 4-list into a sorted 4-list.
    /// </summary>
    private static double SmallestOfLanes(Vector256<double> m0, Vector256<double> m1, Vector256<double> m2, Vector256<double> m3, int rank)
    {
        var (n0, n1, n2, n3) = Merge(m0.GetLower(), m1.GetLower(), m2.GetLower(), m3.GetLower(),
                                     m0.GetUpper(), m1.GetUpper(), m2.GetUpper(), m3.GetUpper());
        var swap = Vector128.Create(1L, 0L);
        var (f0, f1, f2, f3) = Merge(n0, n1, n2, n3, Vector128.Shuffle(n0, swap), Vector128.Shuffle(n1, swap),
                                     Vector128.Shuffle(n2, swap), Vector128.Shuffle(n3, swap));
        return (rank switch { 0 => f0, 1 => f1, 2 => f2, _ => f3 }).ToScalar();
    }

    /// <summary>Per lane: the 4 smallest, ascending, of the ascending lists (a0..a3) and (b0..b3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<double>, Vector128<double>, Vector128<double>, Vector128<double>) Merge(
        Vector128<double> a0, Vector128<double> a1, Vector128<double> a2, Vector128<double> a3,
        Vector128<double> b0, Vector128<double> b1, Vector128<double> b2, Vector128<double> b3)
    {
        Insert(ref a0, ref a1, ref a2, ref a3, b0);
        Insert(ref a0, ref a1, ref a2, ref a3, b1);
        Insert(ref a0, ref a1, ref a2, ref a3, b2);
        Insert(ref a0, ref a1, ref a2, ref a3, b3);
        return (a0, a1, a2, a3);
    }

    /// <summary>
    /// The k-th smallest max-norm distance from point q to the other points. Grows a rectangle of grid cells around
    /// q's cell one strip at a time, always on the side whose next slab edge is nearest to q in VALUE space (cells are
    /// rank slabs, so a value-space square can span many cells one way and one cell the other). Every unvisited point
    /// lies beyond one of the four sides, hence at least the smallest of the four edge gaps away: once k distances are
    /// held and that gap is &gt;= the k-th, no unvisited point can change it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double KthDistance(Scratch sc, ScaledColumn x, ScaledColumn y, int g, int q, int cx, int cy)
    {
        var heap = sc.Heap;
        var start = sc.CellStart;
        var px = sc.Px;
        var py = sc.Py;
        int k = _k, count = 0;
        double x0 = px[q], y0 = py[q], thr = double.PositiveInfinity;
        int a1 = cx, a2 = cx, b1 = cy, b2 = cy;
        // the starting cell
        ScanRange(px, py, start[cx * g + cy], start[cx * g + cy + 1], q, x0, y0, heap, ref count, k, ref thr);
        while (true)
        {
            double gapRight = a2 + 1 < g ? x.SlabLow[a2 + 1] - x0 : double.PositiveInfinity;
            double gapLeft = a1 > 0 ? x0 - x.SlabHigh[a1 - 1] : double.PositiveInfinity;
            double gapUp = b2 + 1 < g ? y.SlabLow[b2 + 1] - y0 : double.PositiveInfinity;
            double gapDown = b1 > 0 ? y0 - y.SlabHigh[b1 - 1] : double.PositiveInfinity;
            double gap = Math.Min(Math.Min(gapRight, gapLeft), Math.Min(gapUp, gapDown));
            if (double.IsPositiveInfinity(gap) || (count == k && gap >= thr)) break;
            if (gap == gapRight)
            {
                a2++;
                ScanRange(px, py, start[a2 * g + b1], start[a2 * g + b2 + 1], q, x0, y0, heap, ref count, k, ref thr);
            }
            else if (gap == gapLeft)
            {
                a1--;
                ScanRange(px, py, start[a1 * g + b1], start[a1 * g + b2 + 1], q, x0, y0, heap, ref count, k, ref thr);
            }
            else
            {
                int b = gap == gapUp ? ++b2 : --b1;
                for (int a = a1; a <= a2; a++)
                    ScanRange(px, py, start[a * g + b], start[a * g + b + 1], q, x0, y0, heap, ref count, k, ref thr);
            }
        }
        return heap[k - 1];
    }

    private static void ScanRange(double[] px, double[] py, int from, int to, int self, double x0, double y0,
        double[] heap, ref int count, int k, ref double thr)
    {
        for (int p = from; p < to; p++)
        {
            double d = Math.Max(Math.Abs(px[p] - x0), Math.Abs(py[p] - y0));
            if (d < thr && p != self) Insert(heap, ref count, k, d, ref thr);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Insert(ref Vector128<double> a0, ref Vector128<double> a1, ref Vector128<double> a2, ref Vector128<double> a3, Vector128<double> d)
    {
        var lo = Vector128.MinNative(a0, d); d = Vector128.MaxNative(a0, d); a0 = lo;
        lo = Vector128.MinNative(a1, d); d = Vector128.MaxNative(a1, d); a1 = lo;
        lo = Vector128.MinNative(a2, d); d = Vector128.MaxNative(a2, d); a2 = lo;
        a3 = Vector128.MinNative(a3, d);
    }

    /// <summary>Keeps the k smallest distances seen, ascending; thr = the k-th once k are held, else +inf.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Insert(double[] heap, ref int count, int k, double d, ref double thr)
    {
        if (count == k && d >= heap[k - 1]) return;
        int p = count < k ? count++ : k - 1;
        while (p > 0 && heap[p - 1] > d) { heap[p] = heap[p - 1]; p--; }
        heap[p] = d;
        if (count == k) thr = heap[k - 1];
    }
}
