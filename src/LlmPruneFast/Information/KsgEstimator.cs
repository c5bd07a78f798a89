using System.Runtime.CompilerServices;

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
/// Per column (once): scaled values sorted (padded with infinities), each sample's position in that order, and the
/// edges of ~sqrt(2S/k) equal-count slabs. Per pair: the points bucketed into the slab grid (a counting sort, O(S));
/// the k nearest of each point by a rectangle of cells grown toward the nearest slab edge in value space, with an
/// exact stopping bound (O(k) points on average instead of S); n_x and n_y by counting outward from the point's own
/// position in the sorted columns, 4 values per vector compare, galloping beyond 64 each side. O(S log S)-free per pair.
/// (A one-dimensional strip scan in x order, 4 points per vector, was re-measured on distinct pairs (perf mi-pairs,
/// load ~50): 0.5-1.2x the grid's time at S = 1024, 1.5x at S = 4096, where it visits ~n_x points per point and the
/// grid O(k).)
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
    public sealed class ScaledColumn(double[] sortedPadded, int[] rank, double[] slabLow, double[] slabHigh, bool constant)
    {
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
        public readonly double[] Px = new double[s], Py = new double[s];
        /// <summary>Positions in x's and y's ascending order of the points, in grid order.</summary>
        public readonly int[] RankX = new int[s], RankY = new int[s];
        /// <summary>Counting radius r_i of each point, indexed by its position in y's ascending order.</summary>
        public readonly double[] RadiusByY = new double[s];
        /// <summary>How many points have n_x = n (resp. n_y = n), n = 0..S-1.</summary>
        public readonly int[] CountX = new int[s], CountY = new int[s];
        public readonly double[] Heap = new double[k];
        public readonly double[] Psi = ColumnMath.DigammaTable(s + 1);
    }

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
        for (int i = 0; i < s; i++) order[i] = i;
        var sortedValues = (double[])values.Clone();
        Array.Sort(sortedValues, order);
        var padded = new double[s + 2 * Pad];
        padded.AsSpan(0, Pad).Fill(double.NegativeInfinity);
        padded.AsSpan(Pad + s).Fill(double.PositiveInfinity);
        sortedValues.CopyTo(padded, Pad);
        var rank = new int[s];
        for (int p = 0; p < s; p++) rank[order[p]] = p;
        int g = GridSide(s, _k);
        var lo = new double[g];
        var hi = new double[g];
        for (int c = 0; c < g; c++)
        {
            int first = (int)(((long)c * s + g - 1) / g), next = (int)(((long)(c + 1) * s + g - 1) / g);
            lo[c] = first < s ? sortedValues[first] : double.PositiveInfinity;
            hi[c] = next - 1 >= first ? sortedValues[next - 1] : double.NegativeInfinity;
        }
        return new ScaledColumn(padded, rank, lo, hi, constant);
    }

    protected override Scratch CreateScratch(int s) => new(s, _k);

    protected override double EstimatePrepared(ScaledColumn x, ScaledColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        int s = x.Rank.Length;
        var (meanX, meanY) = GridMeans(x, y, scratch);
        double mi = scratch.Psi[s] + scratch.Psi[_k] - meanX - meanY;
        return _clip ? Math.Max(0.0, mi) : mi;
    }

    /// <summary>
    /// (mean_i psi(n_x(i)+1), mean_i psi(n_y(i)+1)): the points counting-sorted into the rank grid, each point's k-th distance
    /// by <see cref="KthDistance"/>, n_x and n_y by <see cref="SortedStrip.CountWithin"/> around its rank.
    /// </summary>
    private (double MeanX, double MeanY) GridMeans(ScaledColumn x, ScaledColumn y, Scratch scratch)
    {
        int s = x.Rank.Length, g = GridSide(s, _k), cells = g * g;
        var start = scratch.CellStart;
        Array.Clear(start, 0, cells + 1);
        // counting sort of the points into a g x g grid of rank cells (equal-count slabs in x and in y)
        for (int i = 0; i < s; i++) start[CellOf(x.Rank[i], y.Rank[i], g, s) + 1]++;
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
            int q = fill[CellOf(ri, si, g, s)]++;
            px[q] = x.SortedPadded[Pad + ri];
            py[q] = y.SortedPadded[Pad + si];
            rx[q] = ri;
            ry[q] = si;
        }
        var psi = scratch.Psi;
        var radByY = scratch.RadiusByY;
        var countX = scratch.CountX;
        var countY = scratch.CountY;
        Array.Clear(countX);
        Array.Clear(countY);
        for (int q = 0; q < s; q++)
        {
            // points in grid order, their ranks alongside: sequential reads here, locality in the sorted columns
            int cx = (int)((long)rx[q] * g / s), cy = (int)((long)ry[q] * g / s);
            double eps = KthDistance(scratch, x, y, g, q, cx, cy);
            double rad = eps > 0 ? Math.BitDecrement(eps) : 0.0;
            countX[SortedStrip.CountWithin(x.SortedPadded, Pad + rx[q], rad)]++;
            radByY[ry[q]] = rad;
        }
        // n_y in y's order, so consecutive counts scan overlapping stretches of the sorted column (cache-resident)
        for (int p = 0; p < s; p++) countY[SortedStrip.CountWithin(y.SortedPadded, Pad + p, radByY[p])]++;
        // mean_i psi(n(i)+1) as sum_n #(n) psi(n+1) / S: independent of the visiting order, and with one rounding
        // per distinct n it stays within ~1e-15 of scikit-learn's pairwise-summed np.mean
        double meanX = 0, meanY = 0;
        for (int n = 0; n < s; n++)
        {
            if (countX[n] != 0) meanX += countX[n] * psi[n + 1];
            if (countY[n] != 0) meanY += countY[n] * psi[n + 1];
        }
        return (meanX / s, meanY / s);
    }

    /// <summary>Grid side: about 2S/k cells in all, so a cell holds ~k/2 points and the k nearest lie within ~1 ring.</summary>
    private static int GridSide(int s, int k) => Math.Clamp((int)Math.Sqrt(2.0 * s / k), 1, 2048);

    private static int CellOf(int rankX, int rankY, int g, int s) => (int)((long)rankX * g / s) * g + (int)((long)rankY * g / s);

    /// <summary>
    /// The k-th smallest max-norm distance from point q to the other points. Grows a rectangle of grid cells around
    /// q's cell one strip at a time, always on the side whose next slab edge is nearest to q in VALUE space (cells are
    /// rank slabs, so a value-space square can span many cells one way and one cell the other). Every unvisited point
    /// lies beyond one of the four sides, hence at least the smallest of the four edge gaps away: once k distances are
    /// held and that gap is &gt;= the k-th, no unvisited point can change it.
    /// </summary>
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
