using System.Runtime.Intrinsics;

namespace LlmPruneFast.Information;

/// <summary>
/// Kraskov-Stoegbauer-Grassberger estimator 1, in nats, as scikit-learn's <c>mutual_info_regression</c> computes it.
/// Each variable is divided by its standard deviation (ddof 0, no centring; float64). With the max-norm
/// d(i,j) = max(|x_i-x_j|, |y_i-y_j|), eps_i = distance from point i to its k-th nearest other point, and
/// r_i = the largest double below eps_i (0 when eps_i = 0):
/// n_x(i) = #{j != i : |x_i-x_j| &lt;= r_i}, n_y(i) likewise, i.e. strictly inside eps_i, and
/// <code>I = psi(S) + psi(k) - mean_i psi(n_x(i)+1) - mean_i psi(n_y(i)+1)</code>
/// clipped at 0 unless <see cref="MiEstimatorOptions.ClipNegative"/> is off. A constant column gives 0.
/// Per column: scaled values and their sorted order, once. Per pair: the y values permuted into x's order, then for
/// each point a scan outward in x order (4 lanes at a time) that stops once |dx| exceeds the current k-th distance
/// (exact, about sqrt(k S) points per point instead of S), and n_x, n_y by binary search on the sorted columns.
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

    /// <summary>Scaled values in sample order, the same sorted ascending, and the sorting order.</summary>
    public sealed class ScaledColumn(double[] values, double[] sorted, int[] order, bool constant)
    {
        public readonly double[] Values = values;
        public readonly double[] Sorted = sorted;
        public readonly int[] Order = order;
        public readonly bool Constant = constant;
    }

    public sealed class Scratch(int s, int k)
    {
        public readonly double[] YByX = new double[s];
        public readonly double[] Heap = new double[k];
        public readonly double[] Psi = ColumnMath.DigammaTable(s + 1);
    }

    protected override ScaledColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role)
    {
        int s = v.Length;
        bool constant = ColumnMath.IsConstant(v);
        double std = ColumnMath.StdDdof0(v);
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
        var order = new int[s];
        for (int i = 0; i < s; i++) order[i] = i;
        var sorted = (double[])values.Clone();
        Array.Sort(sorted, order);
        return new ScaledColumn(values, sorted, order, constant);
    }

    protected override Scratch CreateScratch(int s) => new(s, _k);

    protected override double EstimatePrepared(ScaledColumn x, ScaledColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        int s = x.Values.Length;
        var xs = x.Sorted;
        var ys = scratch.YByX;
        for (int r = 0; r < s; r++) ys[r] = y.Values[x.Order[r]];
        var psi = scratch.Psi;
        double sumPsi = 0;
        for (int r = 0; r < s; r++)
        {
            double eps = KthDistance(xs, ys, r, scratch.Heap);
            double rad = eps > 0 ? Math.BitDecrement(eps) : 0.0;
            int nx = CountWithin(xs, xs[r], rad) - 1;
            int ny = CountWithin(y.Sorted, ys[r], rad) - 1;
            sumPsi += psi[nx + 1] + psi[ny + 1];
        }
        double mi = psi[s] + psi[_k] - sumPsi / s;
        return _clip ? Math.Max(0.0, mi) : mi;
    }

    /// <summary>Number of entries of ascending <paramref name="sorted"/> within max-norm distance <paramref name="rad"/> of <paramref name="c"/> (by the same subtraction the distance uses).</summary>
    private static int CountWithin(double[] sorted, double c, double rad)
    {
        // first index with c - v <= rad (predicate false then true along the array)
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (c - sorted[mid] <= rad) hi = mid; else lo = mid + 1;
        }
        int left = lo;
        // first index with v - c > rad
        hi = sorted.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (sorted[mid] - c > rad) hi = mid; else lo = mid + 1;
        }
        return lo - left;
    }

    /// <summary>
    /// The k-th smallest max-norm distance from point r to the other points, points sorted by x. Scans right and left
    /// alternately in blocks of 4; a direction stops when |dx| at its next point exceeds the current k-th distance,
    /// since every later point there is at least that far.
    /// </summary>
    private double KthDistance(double[] xs, double[] ys, int r, double[] heap)
    {
        int s = xs.Length, k = _k, count = 0;
        double x0 = xs[r], y0 = ys[r], thr = double.PositiveInfinity;
        int right = r + 1, left = r - 1;
        bool goRight = right < s, goLeft = left >= 0;
        var vx0 = Vector256.Create(x0);
        var vy0 = Vector256.Create(y0);
        while (goRight || goLeft)
        {
            if (goRight)
            {
                if (right + 4 <= s)
                {
                    var dx = Vector256.Create(xs.AsSpan(right, 4)) - vx0;
                    var dy = Vector256.Abs(Vector256.Create(ys.AsSpan(right, 4)) - vy0);
                    var d = Vector256.Max(dx, dy);
                    uint mask = Vector256.LessThan(d, Vector256.Create(thr)).ExtractMostSignificantBits();
                    while (mask != 0)
                    {
                        int lane = System.Numerics.BitOperations.TrailingZeroCount(mask);
                        mask &= mask - 1;
                        Insert(heap, ref count, k, d.GetElement(lane), ref thr);
                    }
                    right += 4;
                }
                else
                {
                    double d = Math.Max(xs[right] - x0, Math.Abs(ys[right] - y0));
                    if (d < thr) Insert(heap, ref count, k, d, ref thr);
                    right++;
                }
                goRight = right < s && xs[right] - x0 <= thr;
            }
            if (goLeft)
            {
                if (left - 3 >= 0)
                {
                    var dx = vx0 - Vector256.Create(xs.AsSpan(left - 3, 4));
                    var dy = Vector256.Abs(Vector256.Create(ys.AsSpan(left - 3, 4)) - vy0);
                    var d = Vector256.Max(dx, dy);
                    uint mask = Vector256.LessThan(d, Vector256.Create(thr)).ExtractMostSignificantBits();
                    while (mask != 0)
                    {
                        int lane = System.Numerics.BitOperations.TrailingZeroCount(mask);
                        mask &= mask - 1;
                        Insert(heap, ref count, k, d.GetElement(lane), ref thr);
                    }
                    left -= 4;
                }
                else
                {
                    double d = Math.Max(x0 - xs[left], Math.Abs(ys[left] - y0));
                    if (d < thr) Insert(heap, ref count, k, d, ref thr);
                    left--;
                }
                goLeft = left >= 0 && x0 - xs[left] <= thr;
            }
        }
        return heap[k - 1];
    }

    /// <summary>Keeps the k smallest distances seen, ascending; thr = the k-th once k are held, else +inf.</summary>
    private static void Insert(double[] heap, ref int count, int k, double d, ref double thr)
    {
        if (count == k && d >= heap[k - 1]) return;
        int p = count < k ? count++ : k - 1;
        while (p > 0 && heap[p - 1] > d) { heap[p] = heap[p - 1]; p--; }
        heap[p] = d;
        if (count == k) thr = heap[k - 1];
    }
}
