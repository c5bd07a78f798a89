namespace LlmPruneFast.Information;

/// <summary>
/// Plug-in MI on equal-frequency bins, in nats. Each variable v of S samples is binned by its 0-based STABLE rank
/// (ties broken by index order): bin(s) = floor(rank(s) * B / S), so every bin holds floor(S/B) or ceil(S/B) samples.
/// With joint counts c_ab and marginal counts c_a, c_b:
/// <code>I = sum_ab (c_ab/S) ln(c_ab S / (c_a c_b)) = ln S + (1/S) [sum c_ab ln c_ab - sum c_a ln c_a - sum c_b ln c_b]</code>
/// which is scikit-learn's <c>mutual_info_score</c> on those labels (clipped at 0 like it; only rounding can make it
/// negative). Optional Miller-Madow correction adds ((m_a - 1) + (m_b - 1) - (m_ab - 1)) / (2S), m = occupied cells;
/// the corrected value is not clipped. A constant column gives 0 (stable ranks would otherwise bin it by row index).
/// Per column the bin codes and sum c_a ln c_a are computed once; per pair one pass of S joint-histogram increments
/// and B*B table look-ups of c ln c.
/// </summary>
public sealed class PluginEstimator : PairwiseEstimator<PluginEstimator.BinnedColumn, PluginEstimator.Scratch>
{
    private readonly int _bins;
    private readonly bool _millerMadow;

    public PluginEstimator(int bins, bool millerMadow)
    {
        if (bins < 2 || bins > 256) throw new BadArgumentException($"--bins {bins} out of range: expected 2..256");
        _bins = bins;
        _millerMadow = millerMadow;
        Parameters = new Dictionary<string, object> { ["bins"] = bins, ["miller_madow"] = millerMadow };
    }

    public override string Name => "plugin";
    public override MiUnits Units => MiUnits.Nats;
    public override IReadOnlyDictionary<string, object> Parameters { get; }
    public override int MinimumSamples => _bins;

    /// <summary>Bin codes of one column and its marginal terms.</summary>
    public sealed class BinnedColumn(byte[] codes, double sumCLogC, int occupied, bool constant)
    {
        public readonly byte[] Codes = codes;
        public readonly double SumCLogC = sumCLogC;
        public readonly int Occupied = occupied;
        public readonly bool Constant = constant;
    }

    public sealed class Scratch(int bins, int s)
    {
        public readonly int[] Hist = new int[4 * bins * bins];
        public readonly double[] CLogC = ColumnMath.CLogCTable(s);
    }

    protected override BinnedColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role)
    {
        int s = v.Length;
        var codes = new byte[s];
        bool constant = ColumnMath.IsConstant(v);
        var rank = new int[s];
        ColumnMath.StableRanks(v, rank, new int[s]);
        for (int i = 0; i < s; i++) codes[i] = (byte)((long)rank[i] * _bins / s);
        Span<int> counts = stackalloc int[_bins];
        foreach (byte c in codes) counts[c]++;
        double sum = 0;
        int occupied = 0;
        var table = ColumnMath.CLogCTable(s);
        foreach (int c in counts) { sum += table[c]; if (c > 0) occupied++; }
        return new BinnedColumn(codes, sum, occupied, constant);
    }

    protected override Scratch CreateScratch(int s) => new(_bins, s);

    protected override double EstimatePrepared(BinnedColumn x, BinnedColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        int s = x.Codes.Length, bb = _bins * _bins;
        var h = scratch.Hist;
        Array.Clear(h);
        JointCounts(x.Codes, y.Codes, _bins, h);
        var table = scratch.CLogC;
        double joint = 0;
        int occupied = 0;
        for (int c = 0; c < bb; c++)
        {
            int n = h[c] + h[c + bb] + h[c + 2 * bb] + h[c + 3 * bb];
            joint += table[n];
            occupied += n > 0 ? 1 : 0;
        }
        double mi = Math.Log(s) + (joint - x.SumCLogC - y.SumCLogC) / s;
        if (_millerMadow) return mi + ((x.Occupied - 1) + (y.Occupied - 1) - (occupied - 1)) / (2.0 * s);
        return Math.Max(0.0, mi);
    }

    /// <summary>
    /// All-pairs rows: four pairs (x, y1..y4) at a time, each with its own histogram, so one pass over x's codes
    /// feeds four independent increment streams and no per-pair copies need merging.
    /// </summary>
    protected override void EstimateRow(BinnedColumn x, BinnedColumn[] ys, int from, int count, Span<float> result, Scratch scratch)
    {
        int c = 0;
        if (!x.Constant)
            for (; c + 4 <= count; c += 4)
            {
                BinnedColumn y0 = ys[from + c], y1 = ys[from + c + 1], y2 = ys[from + c + 2], y3 = ys[from + c + 3];
                if (y0.Constant || y1.Constant || y2.Constant || y3.Constant) break;
                int bb = _bins * _bins;
                var h = scratch.Hist;
                Array.Clear(h);
                FourJointCounts(x.Codes, y0.Codes, y1.Codes, y2.Codes, y3.Codes, _bins, h);
                for (int t = 0; t < 4; t++) result[c + t] = (float)FromCounts(h.AsSpan(t * bb, bb), x, ys[from + c + t], scratch.CLogC);
            }
        for (; c < count; c++) result[c] = (float)EstimatePrepared(x, ys[from + c], scratch);
    }

    private double FromCounts(ReadOnlySpan<int> h, BinnedColumn x, BinnedColumn y, double[] table)
    {
        int s = x.Codes.Length;
        double joint = 0;
        int occupied = 0;
        foreach (int n in h)
        {
            joint += table[n];
            occupied += n > 0 ? 1 : 0;
        }
        double mi = Math.Log(s) + (joint - x.SumCLogC - y.SumCLogC) / s;
        if (_millerMadow) return mi + ((x.Occupied - 1) + (y.Occupied - 1) - (occupied - 1)) / (2.0 * s);
        return Math.Max(0.0, mi);
    }

    private static void FourJointCounts(byte[] a, byte[] b0, byte[] b1, byte[] b2, byte[] b3, int bins, int[] h)
    {
        int s = a.Length, bb = bins * bins;
        ref int h0 = ref h[0];
        ref int h1 = ref h[bb];
        ref int h2 = ref h[2 * bb];
        ref int h3 = ref h[3 * bb];
        // all columns hold s codes (checked here once, so the loop can index without bounds checks)
        if (b0.Length != s || b1.Length != s || b2.Length != s || b3.Length != s) throw new ArgumentException("code columns differ in length");
        ref byte ra = ref a[0];
        ref byte r0 = ref b0[0];
        ref byte r1 = ref b1[0];
        ref byte r2 = ref b2[0];
        ref byte r3 = ref b3[0];
        for (int i = 0; i < s; i++)
        {
            int row = System.Runtime.CompilerServices.Unsafe.Add(ref ra, i) * bins;
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, row + System.Runtime.CompilerServices.Unsafe.Add(ref r0, i))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h1, row + System.Runtime.CompilerServices.Unsafe.Add(ref r1, i))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h2, row + System.Runtime.CompilerServices.Unsafe.Add(ref r2, i))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h3, row + System.Runtime.CompilerServices.Unsafe.Add(ref r3, i))++;
        }
    }

    /// <summary>
    /// Joint histogram of (a_s, b_s) into four interleaved copies h[k*B*B + a*B + b] (k = s mod 4), so consecutive
    /// increments never wait on each other's store.
    /// </summary>
    private static void JointCounts(byte[] a, byte[] b, int bins, int[] h)
    {
        int s = a.Length, bb = bins * bins, i = 0;
        ref int h0 = ref h[0];
        ref int h1 = ref h[bb];
        ref int h2 = ref h[2 * bb];
        ref int h3 = ref h[3 * bb];
        for (; i + 4 <= s; i += 4)
        {
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, a[i] * bins + b[i])++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h1, a[i + 1] * bins + b[i + 1])++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h2, a[i + 2] * bins + b[i + 2])++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h3, a[i + 3] * bins + b[i + 3])++;
        }
        for (; i < s; i++) h[a[i] * bins + b[i]]++;
    }
}
