using System.Runtime.Intrinsics;

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
/// and B*B table look-ups of c ln c. The c ln c terms are fixed-point integers (<see cref="FixedCLogC"/>): their sums
/// are exact, so every way of counting gives the same MI to the bit.
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

    /// <summary>False: the joint histogram even where <see cref="BinOrder"/> applies (A/B timings and tests).</summary>
    internal bool UseBinOrder { get; init; } = true;

    public override string Name => "plugin";
    public override MiUnits Units => MiUnits.Nats;
    public override IReadOnlyDictionary<string, object> Parameters { get; }
    public override int MinimumSamples => _bins;

    /// <summary>Bin codes of one column and its marginal terms.</summary>
    public sealed class BinnedColumn(int samples, byte[] codes, byte[]? rowCodes, long sumCLogC, int occupied, bool constant, BinOrder? order = null)
    {
        public readonly int Samples = samples;
        /// <summary>The S codes (empty with <see cref="Order"/>, which holds them).</summary>
        public readonly byte[] Codes = codes;
        /// <summary>The column's samples in bin order and its codes as look-up chunks (<see cref="BinOrder"/>), or null.</summary>
        public readonly BinOrder? Order = order;
        /// <summary>Codes * B as bytes when B*B &lt;= 256 (the row offset of the joint cell), else null.</summary>
        public readonly byte[]? RowCodes = rowCodes;
        /// <summary>sum c_a ln c_a in units of <see cref="FixedCLogC.Unit"/>.</summary>
        public readonly long SumCLogC = sumCLogC;
        public readonly int Occupied = occupied;
        public readonly bool Constant = constant;
    }

    public sealed class Scratch(int bins, int s)
    {
        public readonly int[] Hist = new int[4 * bins * bins];
        public readonly FixedCLogC CLogC = FixedCLogC.For(s);
        /// <summary><see cref="BinOrder.WriteLaneMasks"/> of <see cref="MasksOf"/> (the x of the pairs before).</summary>
        public readonly byte[] LaneMasks = BinOrder.SumTableApplies(s, bins) ? GC.AllocateUninitializedArray<byte>(BinOrder.LaneMaskBytes) : []; // written before read
        public BinOrder? MasksOf;
        public readonly double LogS = Math.Log(s);
    }

    protected override BinnedColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role)
    {
        int s = v.Length, b = _bins;
        var (sum, occupied) = Marginal(s);
        if (UseBinOrder && BinOrder.Applies(s, b))
        {
            var order = new BinOrder(s, b);
            bool flat = EqualFrequencyBins.Compute(v, b, order.Codes, default, order.Low, order.High);
            order.PackCodes();
            return new BinnedColumn(s, [], null, sum, occupied, flat, order);
        }
        var codes = new byte[s];
        byte[]? rowCodes = b * b <= 256 ? new byte[s] : null;
        bool constant = EqualFrequencyBins.Compute(v, b, codes, rowCodes);
        return new BinnedColumn(s, codes, rowCodes, sum, occupied, constant);
    }

    private sealed record MarginalTerms(int Samples, long SumCLogC, int Occupied);

    private MarginalTerms? _marginal;

    /// <summary>
    /// sum c ln c and the occupied bins of one column's marginal: the bin counts depend on S and B only (equal-frequency
    /// bins), so they are the same for every column of a call.
    /// </summary>
    private (long Sum, int Occupied) Marginal(int s)
    {
        var m = _marginal;
        if (m == null || m.Samples != s)
        {
            var table = FixedCLogC.For(s).Table;
            long sum = 0;
            int occupied = 0;
            for (int k = 0; k < _bins; k++)
            {
                int count = EqualFrequencyBins.Count(k, s, _bins);
                sum += table[count];
                if (count > 0) occupied++;
            }
            _marginal = m = new MarginalTerms(s, sum, occupied);
        }
        return (m.SumCLogC, m.Occupied);
    }

    protected override Scratch CreateScratch(int s) => new(_bins, s);

    // the per-pair path optimized from the first call: under tiered JIT with dynamic PGO, EstimateRow stayed
    // instrumented tier-0 code through a whole benchmark run (about 50 ns per pair; plugin-parts, EstimateAllPairs
    // 0.21 against 0.16 us per pair with tiering off)
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    protected override double EstimatePrepared(BinnedColumn x, BinnedColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        if (x.Order != null && y.Order != null && !_millerMadow && BinOrder.SumTableApplies(x.Samples, _bins))
        {
            if (scratch.MasksOf != x.Order)
            {
                BinOrder.WriteLaneMasks(x.Order, scratch.LaneMasks);
                scratch.MasksOf = x.Order;
            }
            return Math.Max(0.0, Mi(BinOrder.SumTable16(scratch.LaneMasks, y.Order, scratch.CLogC), x, y, scratch));
        }
        var h = scratch.Hist.AsSpan(0, _bins * _bins);
        h.Clear();
        if (x.Order != null && y.Order != null) BinOrder.JointCounts(x.Order, y.Order, _bins, h);
        else if (x.RowCodes != null) JointCountsSmall(x.RowCodes, y.Codes, h);
        else JointCounts(x.Codes, y.Codes, _bins, h);
        return FromCounts(h, x, y, scratch);
    }

    /// <summary>
    /// All-pairs rows: four pairs (x, y1..y4) at a time, each with its own histogram, so one pass over x's codes
    /// feeds four independent increment streams and no per-pair copies need merging.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    protected override void EstimateRow(BinnedColumn x, BinnedColumn[] ys, int from, int count, Span<float> result, Scratch scratch)
    {
        int c = 0;
        if (!x.Constant && x.Order == null)
            for (; c + 4 <= count; c += 4)
            {
                BinnedColumn y0 = ys[from + c], y1 = ys[from + c + 1], y2 = ys[from + c + 2], y3 = ys[from + c + 3];
                if (y0.Constant || y1.Constant || y2.Constant || y3.Constant) break;
                int bb = _bins * _bins;
                var h = scratch.Hist;
                Array.Clear(h);
                if (x.RowCodes != null) FourJointCountsSmall(x.RowCodes, y0.Codes, y1.Codes, y2.Codes, y3.Codes, bb, h);
                else FourJointCounts(x.Codes, y0.Codes, y1.Codes, y2.Codes, y3.Codes, _bins, h);
                for (int t = 0; t < 4; t++) result[c + t] = (float)FromCounts(h.AsSpan(t * bb, bb), x, ys[from + c + t], scratch);
            }
        for (; c < count; c++) result[c] = (float)EstimatePrepared(x, ys[from + c], scratch);
    }

    /// <summary>MI from the joint counts: sum c ln c by table look-up in four independent running sums.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private double FromCounts(ReadOnlySpan<int> h, BinnedColumn x, BinnedColumn y, Scratch scratch)
    {
        var table = scratch.CLogC.Table;
        int s = x.Samples, i = 0;
        long j0 = 0, j1 = 0, j2 = 0, j3 = 0;
        for (; i + 4 <= h.Length; i += 4)
        {
            j0 += table[h[i]];
            j1 += table[h[i + 1]];
            j2 += table[h[i + 2]];
            j3 += table[h[i + 3]];
        }
        for (; i < h.Length; i++) j0 += table[h[i]];
        double mi = Mi((j0 + j1) + (j2 + j3), x, y, scratch);
        if (_millerMadow)
        {
            int occupied = 0;
            foreach (int n in h) occupied += n > 0 ? 1 : 0;
            return mi + ((x.Occupied - 1) + (y.Occupied - 1) - (occupied - 1)) / (2.0 * s);
        }
        return Math.Max(0.0, mi);
    }

    /// <summary>MI from sum c ln c over the joint cells (unclipped); the integer difference is exact, rounded once.</summary>
    private static double Mi(long joint, BinnedColumn x, BinnedColumn y, Scratch scratch) =>
        scratch.LogS + (joint - x.SumCLogC - y.SumCLogC) * scratch.CLogC.Unit / x.Samples;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
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
    /// Joint histogram of (a_s, b_s) into h[a*B + b]. One table: with B*B cells, consecutive samples rarely hit the
    /// same cell, so the increments seldom wait on each other's store (measured faster than four interleaved copies,
    /// which cost clearing and merging 4 B*B counts per pair).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void JointCounts(byte[] a, byte[] b, int bins, Span<int> h)
    {
        int s = a.Length, i = 0;
        if (b.Length != s) throw new ArgumentException("code columns differ in length");
        ref int h0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(h);
        ref byte ra = ref a[0];
        ref byte rb = ref b[0];
        for (; i + 4 <= s; i += 4)
        {
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref ra, i) * bins + System.Runtime.CompilerServices.Unsafe.Add(ref rb, i))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref ra, i + 1) * bins + System.Runtime.CompilerServices.Unsafe.Add(ref rb, i + 1))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref ra, i + 2) * bins + System.Runtime.CompilerServices.Unsafe.Add(ref rb, i + 2))++;
            System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref ra, i + 3) * bins + System.Runtime.CompilerServices.Unsafe.Add(ref rb, i + 3))++;
        }
        for (; i < s; i++) h[a[i] * bins + b[i]]++;
    }

    /// <summary>
    /// The same for B*B &lt;= 256: cell indices a*B + b of 64 samples at a time by byte-vector adds of the row
    /// codes a*B and the codes b, then one increment per sample from that small buffer (half the loads per sample).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void JointCountsSmall(byte[] rowCodes, byte[] b, Span<int> h)
    {
        int s = rowCodes.Length, i = 0;
        if (b.Length != s) throw new ArgumentException("code columns differ in length");
        Span<byte> cell = stackalloc byte[64];
        ref int h0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(h);
        ref byte rc = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(cell);
        for (; i + 64 <= s; i += 64)
        {
            // two 32-byte adds: hardware vectors on every AVX2 machine (Vector512 is emulated without AVX-512)
            (Vector256.Create<byte>(rowCodes.AsSpan(i, 32)) + Vector256.Create<byte>(b.AsSpan(i, 32))).CopyTo(cell);
            (Vector256.Create<byte>(rowCodes.AsSpan(i + 32, 32)) + Vector256.Create<byte>(b.AsSpan(i + 32, 32))).CopyTo(cell[32..]);
            for (int j = 0; j < 64; j += 4)
            {
                System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref rc, j))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref rc, j + 1))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref rc, j + 2))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref rc, j + 3))++;
            }
        }
        for (; i < s; i++) h[rowCodes[i] + b[i]]++;
    }

    /// <summary>
    /// <see cref="FourJointCounts"/> for B*B &lt;= 256: the four pairs' cell indices for 64 samples by four byte-vector
    /// adds, then four independent increment streams from that buffer.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void FourJointCountsSmall(byte[] rowCodes, byte[] b0, byte[] b1, byte[] b2, byte[] b3, int bb, int[] h)
    {
        int s = rowCodes.Length, i = 0;
        if (b0.Length != s || b1.Length != s || b2.Length != s || b3.Length != s) throw new ArgumentException("code columns differ in length");
        Span<byte> cell = stackalloc byte[4 * 64];
        ref int h0 = ref h[0];
        ref int h1 = ref h[bb];
        ref int h2 = ref h[2 * bb];
        ref int h3 = ref h[3 * bb];
        ref byte rc = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(cell);
        for (; i + 64 <= s; i += 64)
        {
            for (int half = 0; half < 64; half += 32)
            {
                var a = Vector256.Create<byte>(rowCodes.AsSpan(i + half, 32));
                (a + Vector256.Create<byte>(b0.AsSpan(i + half, 32))).CopyTo(cell[half..]);
                (a + Vector256.Create<byte>(b1.AsSpan(i + half, 32))).CopyTo(cell[(64 + half)..]);
                (a + Vector256.Create<byte>(b2.AsSpan(i + half, 32))).CopyTo(cell[(128 + half)..]);
                (a + Vector256.Create<byte>(b3.AsSpan(i + half, 32))).CopyTo(cell[(192 + half)..]);
            }
            for (int j = 0; j < 64; j++)
            {
                System.Runtime.CompilerServices.Unsafe.Add(ref h0, System.Runtime.CompilerServices.Unsafe.Add(ref rc, j))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h1, System.Runtime.CompilerServices.Unsafe.Add(ref rc, 64 + j))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h2, System.Runtime.CompilerServices.Unsafe.Add(ref rc, 128 + j))++;
                System.Runtime.CompilerServices.Unsafe.Add(ref h3, System.Runtime.CompilerServices.Unsafe.Add(ref rc, 192 + j))++;
            }
        }
        for (; i < s; i++)
        {
            int r = rowCodes[i];
            h[r + b0[i]]++;
            h[bb + r + b1[i]]++;
            h[2 * bb + r + b2[i]]++;
            h[3 * bb + r + b3[i]]++;
        }
    }
}
