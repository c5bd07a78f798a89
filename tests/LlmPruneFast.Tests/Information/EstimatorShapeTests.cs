using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>
/// Fast paths against plain O(S^2)/direct references written here, table-driven over awkward shapes (S not a multiple
/// of any vector width, N = 1, 2, 3), plus pair-list vs all-pairs consistency and bad input.
/// </summary>
public sealed class EstimatorShapeTests
{
    private static ActivationMatrix Random(int s, int n, int seed, bool ties = false)
    {
        var rng = new Random(seed);
        var z = new ActivationMatrix(s, n);
        for (int j = 0; j < n; j++)
        {
            var col = z.ColumnMutable(j);
            for (int i = 0; i < s; i++)
            {
                double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                // columns 1.. depend on column 0 (silu-like), so pairs carry signal
                double v = j == 0 ? g : 0.6 * z[i, 0] / (1 + Math.Exp(-z[i, 0])) + 0.5 * g;
                col[i] = ties ? (float)Math.Round(v * 2) / 2 : (float)v;
            }
        }
        return z;
    }

    public static TheoryData<int, int> Shapes() => new() { { 33, 1 }, { 37, 2 }, { 101, 3 }, { 257, 3 }, { 1000, 2 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Ksg_equals_brute_force(int s, int n)
    {
        foreach (bool ties in new[] { false, true })
        {
            var z = Random(s, n, s + n, ties);
            foreach (int k in new[] { 1, 3, 5 })
            {
                var est = new KsgEstimator(k, clipNegative: false);
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                    {
                        if (i == j) continue;
                        double fast = est.Estimate(z.Column(i), z.Column(j));
                        double slow = BruteKsg(z.Column(i), z.Column(j), k);
                        Assert.True(Math.Abs(fast - slow) <= 1e-12, $"S={s} k={k} ties={ties} ({i},{j}): fast {fast:R} brute {slow:R}");
                    }
            }
        }
    }

    [Theory]
    [InlineData(400, 3)]
    [InlineData(777, 1)]
    public void Ksg_equals_brute_force_on_heavy_tails_and_exact_zeros(int s, int k)
    {
        // ReLU-like zeros (a third of the samples, many exact ties) times a lognormal spread: the anisotropic case
        // for the rank-grid search (dense in one variable where the other is sparse).
        var rng = new Random(s);
        var x = new float[s];
        var y = new float[s];
        for (int i = 0; i < s; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            x[i] = (float)Math.Exp(2 * g);
            y[i] = rng.NextDouble() < 0.33 ? 0f : (float)(g * Math.Exp(rng.NextDouble() * 3));
        }
        var est = new KsgEstimator(k, clipNegative: false);
        Assert.Equal(BruteKsg(x, y, k), est.Estimate(x, y), 1e-12);
        Assert.Equal(BruteKsg(y, x, k), est.Estimate(y, x), 1e-12);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Plugin_equals_direct_contingency(int s, int n)
    {
        var z = Random(s, n, 7 * s + n, ties: true);
        foreach (int b in new[] { 2, 5, 16 })
        {
            if (s < b) continue;
            var est = new PluginEstimator(b, millerMadow: false);
            var mm = new PluginEstimator(b, millerMadow: true);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                {
                    var (mi, occ, ox, oy) = DirectPlugin(z.Column(i), z.Column(j), b);
                    Assert.Equal(Math.Max(0, mi), est.Estimate(z.Column(i), z.Column(j)), 1e-12);
                    Assert.Equal(mi + ((ox - 1) + (oy - 1) - (occ - 1)) / (2.0 * s), mm.Estimate(z.Column(i), z.Column(j)), 1e-12);
                }
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Renyi_alpha2_fast_path_equals_eigenvalue_path_near_alpha2(int s, int n)
    {
        if (s > 300) return; // the eigenvalue path is O(S^3)
        var z = Random(s, n, s, ties: false);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                double fast = new RenyiEstimator(2.0, Bandwidth.Silverman).Estimate(z.Column(i), z.Column(j));
                // alpha = 2 through eigenvalues: sum lambda^2 is the same number by a different route
                double viaEig = new RenyiEstimator(2.0 + 1e-9, Bandwidth.Silverman).Estimate(z.Column(i), z.Column(j));
                Assert.Equal(fast, viaEig, 1e-6);
            }
    }

    /// <summary>
    /// Copula all pairs across several Gram blocks (N = 1100 > the 1024-column BLAS block, so off-diagonal sgemm
    /// blocks and partial blocks run when OpenBLAS loads): every tile is in the upper block triangle, every pair
    /// arrives once, and the values equal the float64 pair path within float32 accumulation error.
    /// </summary>
    [Fact]
    public void Copula_all_pairs_over_several_blocks_equal_pairs()
    {
        int s = 40, n = 1100;
        var z = Random(s, n, 12);
        var sink = new DenseMiSink(n);
        var seen = new int[n * n];
        var est = new CopulaEstimator();
        est.EstimateAllPairs(z, new CheckingSink(sink, seen));
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) Assert.Equal(1, seen[i * n + j]);
        var pairs = new (int, int)[] { (0, 1), (5, 1023), (1023, 1024), (17, 1099), (1030, 1099), (1099, 1098) };
        var values = new double[pairs.Length];
        est.EstimatePairs(z, pairs, values);
        for (int p = 0; p < pairs.Length; p++)
            Assert.Equal(values[p], sink.Matrix[pairs[p].Item1 * n + pairs[p].Item2], 2e-4);
    }

    private sealed class CheckingSink(DenseMiSink inner, int[] seen) : IMiTileSink
    {
        public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
        {
            Assert.True(colStart >= rowStart, $"tile at ({rowStart}, {colStart}) below the diagonal");
            Assert.Equal(rowCount * colCount, tile.Length);
            lock (seen)
                for (int r = 0; r < rowCount; r++)
                    for (int c = 0; c < colCount; c++)
                    {
                        int i = rowStart + r, j = colStart + c;
                        if (i == j) Assert.Equal(0f, tile[r * colCount + c]);
                        if (j > i) seen[i * inner.N + j]++;
                    }
            inner.Accept(rowStart, colStart, rowCount, colCount, tile);
        }
    }

    /// <summary>The radix-sorted stable ranks equal a stable comparison sort (LINQ OrderBy) on awkward values.</summary>
    [Theory]
    [InlineData(1, 0)]
    [InlineData(7, 1)]
    [InlineData(1000, 2)]
    [InlineData(4099, 3)]
    public void Stable_ranks_equal_a_stable_comparison_sort(int s, int seed)
    {
        var rng = new Random(seed);
        float[] pool = [0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 2.5f, -2.5f];
        var v = new float[s];
        for (int i = 0; i < s; i++)
            v[i] = rng.Next(3) == 0 ? pool[rng.Next(pool.Length)] : (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 30)));
        var rank = new int[s];
        var order = new int[s];
        ColumnMath.StableRanks(v, rank, order);
        // -0 == +0 compare equal, so they keep index order; OrderBy is stable
        var expected = Enumerable.Range(0, s).OrderBy(i => v[i] == 0 ? 0f : v[i]).ToArray();
        Assert.Equal(expected, order);
        for (int p = 0; p < s; p++) Assert.Equal(p, rank[order[p]]);
    }

    /// <summary>
    /// Equal-frequency bin codes (sorted by a 16-bit key prefix, runs straddling an edge refined) equal
    /// floor(rank * B / S) of a stable comparison sort: awkward values, ties across edges, values that share the
    /// prefix (all within 1/128 of an octave), a constant column, and S below, at and far above B.
    /// </summary>
    [Theory]
    [InlineData(1, 16, 0, 0)]
    [InlineData(15, 16, 1, 0)]
    [InlineData(16, 16, 2, 1)]
    [InlineData(1000, 16, 3, 0)]
    [InlineData(1024, 16, 4, 1)]
    [InlineData(1024, 16, 5, 2)]
    [InlineData(1024, 16, 6, 3)]
    [InlineData(4099, 3, 7, 1)]
    [InlineData(4096, 17, 8, 2)]
    [InlineData(2048, 256, 9, 0)]
    [InlineData(2048, 2, 10, 1)]
    public void Equal_frequency_bins_equal_stable_rank_bins(int s, int bins, int seed, int kind)
    {
        var rng = new Random(seed);
        float[] pool = [0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, 2.5f, -2.5f];
        var v = new float[s];
        for (int i = 0; i < s; i++)
            v[i] = kind switch
            {
                // awkward values and ties
                0 => rng.Next(3) == 0 ? pool[rng.Next(pool.Length)] : (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-30, 30))),
                // one shared 16-bit prefix, with ties: every edge is refined
                1 => 1f + rng.Next(40) * 1e-6f,
                // a few distinct values: long runs of ties across edges
                2 => rng.Next(5) - 2f,
                // constant
                _ => 0.75f,
            };
        var codes = new byte[s];
        var rowCodes = new byte[s];
        bool constant = bins * bins <= 256 ? EqualFrequencyBins.Compute(v, bins, codes, rowCodes) : EqualFrequencyBins.Compute(v, bins, codes);
        Assert.Equal(v.All(x => x == v[0]), constant);
        var expected = StableRankCodes(v, bins);
        Assert.Equal(expected, codes);
        if (bins * bins <= 256) Assert.Equal(expected.Select(c => (byte)(c * bins)), rowCodes);
        for (int k = 0; k < bins; k++) Assert.Equal(expected.Count(c => c == k), EqualFrequencyBins.Count(k, s, bins));
    }

    [Theory]
    [InlineData(16, 16)]
    [InlineData(33, 5)]
    [InlineData(63, 16)]
    [InlineData(64, 16)]
    [InlineData(100, 16)]
    [InlineData(1000, 16)]
    [InlineData(1024, 16)]
    [InlineData(1024, 8)]
    [InlineData(1500, 3)]
    [InlineData(2048, 16)]
    [InlineData(2048, 2)]
    public void Plugin_bin_order_counts_equal_the_histogram_bit_for_bit(int s, int bins)
    {
        // columns with ties, a constant one and a few-valued one; every ordered pair, both MI forms
        var z = Random(s, 6, 31 * s + bins, ties: true);
        z.ColumnMutable(4).Fill(0.5f);
        var few = z.ColumnMutable(5);
        for (int i = 0; i < s; i++) few[i] = i % 3 - 1f;
        var pairs = new List<(int, int)>();
        for (int i = 0; i < 6; i++) for (int j = 0; j < 6; j++) pairs.Add((i, j));
        foreach (bool mm in new[] { false, true })
        {
            var fast = new double[pairs.Count];
            var slow = new double[pairs.Count];
            new PluginEstimator(bins, mm).EstimatePairs(z, pairs.ToArray(), fast);
            new PluginEstimator(bins, mm) { UseBinOrder = false }.EstimatePairs(z, pairs.ToArray(), slow);
            Assert.Equal(slow.Select(BitConverter.DoubleToInt64Bits), fast.Select(BitConverter.DoubleToInt64Bits));
            var sink = new DenseMiSink(6);
            new PluginEstimator(bins, mm) { MaxDegreeOfParallelism = 1 }.EstimateAllPairs(z, sink);
            for (int p = 0; p < pairs.Count; p++)
                if (pairs[p].Item1 != pairs[p].Item2) Assert.Equal((float)slow[p], sink.Matrix[pairs[p].Item1 * 6 + pairs[p].Item2]);
        }
    }

    [Theory]
    [InlineData(64)]
    [InlineData(700)]
    [InlineData(1024)]
    [InlineData(3000)]
    public void Plugin_fixed_point_sums_equal_the_double_formula(int s)
    {
        // MI from stable-rank codes and joint counts, summed term by term in double: the fixed-point c ln c sums
        // (every path, every order) must land within rounding of it
        var z = Random(s, 5, 7 * s, ties: true);
        z.ColumnMutable(4).Fill(0.25f);
        var codes = Enumerable.Range(0, 5).Select(j => StableRankCodes(z.Column(j).ToArray(), 16)).ToArray();
        var pairs = new List<(int, int)>();
        for (int i = 0; i < 5; i++) for (int j = 0; j < 5; j++) pairs.Add((i, j));
        foreach (bool binOrder in new[] { true, false })
        {
            var got = new double[pairs.Count];
            new PluginEstimator(16, false) { UseBinOrder = binOrder }.EstimatePairs(z, pairs.ToArray(), got);
            for (int p = 0; p < pairs.Count; p++)
            {
                var (i, j) = pairs[p];
                double expected = 0;
                if (i != 4 && j != 4)
                {
                    var joint = new int[16, 16];
                    var ci = new int[16];
                    var cj = new int[16];
                    for (int r = 0; r < s; r++) { joint[codes[i][r], codes[j][r]]++; ci[codes[i][r]]++; cj[codes[j][r]]++; }
                    for (int a = 0; a < 16; a++)
                        for (int b = 0; b < 16; b++)
                            if (joint[a, b] > 0) expected += joint[a, b] / (double)s * Math.Log(joint[a, b] * (double)s / ((double)ci[a] * cj[b]));
                    expected = Math.Max(0, expected);
                }
                Assert.True(Math.Abs(got[p] - expected) <= 1e-12, $"S={s} pair ({i},{j}) bin order {binOrder}: {got[p]:R} against {expected:R}");
            }
        }
        // one unit of the fixed point is finer than a double's rounding of a sum near S ln S
        var t = FixedCLogC.For(s);
        Assert.True(t.Unit * (1L << 61) >= s * Math.Log(s) && t.Unit <= Math.BitIncrement(s * Math.Log(s)) - s * Math.Log(s));
        for (int c = 0; c <= s; c++) Assert.True(Math.Abs(t.Table[c] * t.Unit - (c < 2 ? 0 : c * Math.Log(c))) <= t.Unit);
    }

    /// <summary>Equal-frequency codes by stable rank (ties by index, -0 = +0): r * B / S for the sample of rank r.</summary>
    private static byte[] StableRankCodes(float[] v, int bins)
    {
        var order = Enumerable.Range(0, v.Length).OrderBy(i => v[i] == 0 ? 0f : v[i]).ToArray();
        var codes = new byte[v.Length];
        for (int r = 0; r < order.Length; r++) codes[order[r]] = (byte)((long)r * bins / v.Length);
        return codes;
    }

    /// <summary>GELU (tanh form) in float: BERT's FFN activation, peaked at its minimum near -0.17.</summary>
    private static float Gelu(float x) => 0.5f * x * (1f + MathF.Tanh(0.7978846f * (x + 0.044715f * x * x * x)));

    /// <summary>Standard normal draws (Box-Muller) from <paramref name="rng"/>.</summary>
    private static Func<float> NormalSource(Random rng) =>
        () => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));

    [Theory]
    [InlineData(16, 8)]
    [InlineData(32, 16)]
    [InlineData(33, 16)]
    [InlineData(100, 5)]
    [InlineData(1000, 16)]
    [InlineData(1024, 16)]
    [InlineData(1031, 2)]
    [InlineData(2048, 16)]
    [InlineData(4096, 16)]
    [InlineData(4096, 7)]
    public void Edge_selection_codes_equal_stable_rank_codes(int s, int bins)
    {
        var rng = new Random(s * 17 + bins);
        var Normal = NormalSource(rng);
        for (int kind = 0; kind < 9; kind++)
        {
            var v = new float[s];
            for (int i = 0; i < s; i++)
                v[i] = kind switch
                {
                    8 => Gelu(Normal()), // peaked (GELU's negative lobe, as in BERT FFNs): edge buckets of many samples
                    0 => Normal(), // sign-mixed, continuous: the path must apply
                    1 => 3f + Math.Abs(Normal()), // one sign, one octave
                    2 => (float)Math.Round(Normal() * 64) / 64, // ties at most edges
                    3 => rng.Next(4) - 1.5f, // few values: long tied runs
                    4 => rng.Next(2) == 0 ? 0f : -0f, // -0 = +0: one value
                    5 => 0.25f, // constant
                    6 => rng.Next(3) == 0 ? (rng.Next(2) == 0 ? 0f : -0f) : Normal() * 1e-30f, // signed zeros among tiny values
                    _ => (i % 2 == 0 ? 1 : -1) * (float)Math.Pow(2, rng.Next(-120, 120)) * (1 + (float)rng.NextDouble()), // wide range
                };
            var expected = StableRankCodes(v, bins);
            var codes = Enumerable.Repeat((byte)0xEE, s).ToArray();
            var rowCodes = Enumerable.Repeat((byte)0xEE, s).ToArray();
            bool done = EqualFrequencyEdges.TryCompute(v, bins, codes, rowCodes);
            if (kind is 0 or 8 && EqualFrequencyEdges.Applies(s, bins)) Assert.True(done, $"kind {kind}");
            if (kind is 4 or 5) Assert.False(done); // one value: left to the radix path
            if (done)
            {
                Assert.Equal(expected, codes);
                Assert.Equal(expected.Select(c => (byte)(c * bins)), rowCodes);
            }
            else Assert.All(codes, c => Assert.Equal(0xEE, c)); // declined: nothing written
            // and the public entry, whichever path it takes
            var viaCompute = new byte[s];
            EqualFrequencyBins.Compute(v, bins, viaCompute);
            Assert.Equal(expected, viaCompute);
        }
    }

    [Theory]
    [InlineData(16, 16)]
    [InlineData(100, 16)]
    [InlineData(1000, 7)]
    [InlineData(2048, 16)]
    public void Bin_order_layout_lists_each_bins_samples_once(int s, int bins)
    {
        var v = Random(s, 1, s + bins, ties: true).Column(0).ToArray();
        var order = new BinOrder(s, bins);
        EqualFrequencyBins.Compute(v, bins, order.Codes, default, order.Low, order.High);
        var expected = new byte[s];
        EqualFrequencyBins.Compute(v, bins, expected);
        Assert.Equal(expected, order.Codes.ToArray());
        var seen = new bool[s];
        int lane = 0;
        for (int k = 0; k < bins; k++)
        {
            int count = EqualFrequencyBins.Count(k, s, bins), padded = (count + 63) & ~63;
            for (int t = lane; t < lane + padded; t++)
            {
                if (t >= lane + count) { Assert.Equal(0xFF, order.High[t]); continue; }
                int i = order.High[t] * 256 + order.Low[t];
                Assert.False(seen[i]);
                seen[i] = true;
                Assert.Equal(k, expected[i]);
            }
            lane += padded;
        }
        Assert.Equal(order.Lanes, lane);
        Assert.All(seen, Assert.True);
    }

    [Theory]
    [InlineData(16, 8)]
    [InlineData(100, 16)]
    [InlineData(1000, 7)]
    [InlineData(1024, 16)]
    [InlineData(1031, 2)]
    [InlineData(2048, 16)]
    [InlineData(4096, 16)]
    public void Edge_selection_vector_look_up_and_layout_equal_the_table_path(int s, int bins)
    {
        // the vector look-up (edge search, layout by compress) against the byte-table look-up and the layout written
        // from the codes: the same codes, each bin's segment the same samples (order inside a segment is free)
        var rng = new Random(s * 31 + bins);
        var Normal = NormalSource(rng);
        for (int kind = 0; kind < 3; kind++)
        {
            var v = new float[s];
            for (int i = 0; i < s; i++)
                v[i] = kind switch { 0 => Normal(), 1 => 3f + Math.Abs(Normal()), _ => (float)Math.Round(Normal() * 64) / 64 };
            var expected = StableRankCodes(v, bins);
            var results = new List<(byte[] Codes, byte[] Rows, byte[] Low, byte[] High, bool Done, bool Written)>();
            foreach (bool table in new[] { false, true })
            {
                EqualFrequencyEdges.ForceTableLookUp = table;
                try
                {
                    var codes = new byte[s];
                    var rows = bins * bins <= 256 ? new byte[s] : default;
                    int lanes = EqualFrequencyBins.BinOrderLength(s, bins);
                    var low = new byte[lanes];
                    var high = Enumerable.Repeat((byte)0x5A, lanes).ToArray(); // padding must come back as 0xFF
                    bool done = EqualFrequencyEdges.TryCompute(v, bins, codes, rows, low, high, out bool written);
                    results.Add((codes, rows ?? [], low, high, done, written));
                }
                finally { EqualFrequencyEdges.ForceTableLookUp = false; }
            }
            var (vc, vr, vl, vh, vDone, vWritten) = results[0];
            Assert.Equal(results[1].Done, vDone);
            Assert.False(results[1].Written); // the table path leaves the layout to the caller
            if (kind == 0 && EqualFrequencyEdges.Applies(s, bins)) Assert.True(vDone);
            if (!vDone) continue;
            Assert.Equal(expected, vc);
            Assert.Equal(expected, results[1].Codes);
            if (bins * bins <= 256) Assert.Equal(expected.Select(c => (byte)(c * bins)), vr);
            if (!System.Runtime.Intrinsics.X86.Avx512Vbmi2.IsSupported) Assert.False(vWritten);
            else if (s <= BinOrder.MaxSamples) Assert.True(vWritten); // the scratch holds the layout up to there
            if (!vWritten) continue;
            int lane = 0;
            for (int k = 0; k < bins; k++)
            {
                int count = EqualFrequencyBins.Count(k, s, bins), padded = (count + 63) & ~63;
                var members = Enumerable.Range(lane, count).Select(t => vh[t] * 256 + vl[t]).Order().ToArray();
                Assert.Equal(Enumerable.Range(0, s).Where(i => expected[i] == k).ToArray(), members);
                for (int t = lane + count; t < lane + padded; t++) Assert.Equal(0xFF, vh[t]);
                lane += padded;
            }
        }
    }

    [Theory]
    [InlineData(100, 16)]
    [InlineData(1000, 7)]
    [InlineData(1024, 16)]
    [InlineData(1031, 2)]
    [InlineData(2048, 16)]
    [InlineData(2048, 5)]
    public void Edge_selection_layout_is_index_order_then_edge_bucket_members_by_rank(int s, int bins)
    {
        // the exact lanes, not only each segment's set: a bin's samples outside the edge buckets in index order, then
        // its edge-bucket members in stable-rank order (the order plugin-parts hashes; a change must keep it)
        if (!System.Runtime.Intrinsics.X86.Avx512Vbmi2.IsSupported || !EqualFrequencyEdges.Applies(s, bins)) return;
        var rng = new Random(s * 7 + bins);
        var Normal = NormalSource(rng);
        for (int kind = 0; kind < 5; kind++)
        {
            var v = new float[s];
            // kind 4: a fifth of the samples tied at one value inside the edges (an edge bucket of S / 5 members, past
            // MaxRankCount at S = 2048: the library's sort; rank counting below)
            for (int i = 0; i < s; i++)
                v[i] = kind switch { 0 => Normal(), 1 => 3f + Math.Abs(Normal()), 2 => (float)Math.Round(Normal() * 16) / 16, 3 => Gelu(Normal()), _ => i % 5 == 2 ? 0.5f : Normal() };
            var codes = new byte[s];
            int lanes = EqualFrequencyBins.BinOrderLength(s, bins);
            var low = new byte[lanes];
            var high = new byte[lanes];
            bool done = EqualFrequencyEdges.TryCompute(v, bins, codes, default, low, high, out bool written);
            if (kind is 0 or 3 or 4) Assert.True(done);
            if (!done) continue;
            Assert.True(written);
            Assert.Equal(StableRankCodes(v, bins), codes);
            uint Bucket(int i) => ColumnMath.SortableBits(v[i]) >> EqualFrequencyEdges.Shift;
            var byRank = Enumerable.Range(0, s).OrderBy(i => ColumnMath.SortableBits(v[i])).ToArray(); // stable: ties by index
            var edgeBuckets = Enumerable.Range(1, bins - 1).Select(k => Bucket(byRank[(int)(((long)k * s + bins - 1) / bins)])).ToHashSet();
            int lane = 0;
            for (int k = 0; k < bins; k++)
            {
                var expected = Enumerable.Range(0, s).Where(i => codes[i] == k && !edgeBuckets.Contains(Bucket(i)))
                    .Concat(byRank.Where(i => codes[i] == k && edgeBuckets.Contains(Bucket(i)))).ToArray();
                Assert.Equal(EqualFrequencyBins.Count(k, s, bins), expected.Length);
                Assert.Equal(expected, Enumerable.Range(lane, expected.Length).Select(t => high[t] * 256 + low[t]).ToArray());
                lane += (expected.Length + 63) & ~63;
            }
        }
    }

    [Fact]
    public unsafe void Edge_bucket_orders_equal_a_stable_sort()
    {
        // entries as an edge bucket's member list holds them (the key's low 17 bits, then the index): rank counting at
        // lengths 0 .. MaxRankCount (groups of 16, 32 and 64 entries, a partial last group), insertion at the lengths
        // it takes; few distinct keys (ties broken by the index), in any input order
        var rng = new Random(11);
        var lengths = Enumerable.Range(0, 140).Concat([191, 192, 193, EqualFrequencyEdges.MaxRankCount]);
        foreach (int length in lengths)
            for (int round = 0; round < 8; round++)
            {
                int keys = 1 + rng.Next(4);
                var a = Enumerable.Range(0, 32768).OrderBy(_ => rng.Next()).Take(length)
                    .Select(i => (((uint)rng.Next(keys) * 977u) << 15) | (uint)i).ToArray();
                var expected = a.OrderBy(e => e >> 15).ThenBy(e => e & 0x7FFF).ToArray();
                var b = a.Concat(Enumerable.Repeat(0u, 64)).ToArray(); // whole vectors are read past the end
                var rank = new uint[length + 64]; // whole vectors are written past the end
                fixed (uint* p = b, r = rank) EqualFrequencyEdges.RankStore(p, length, r);
                var to = new uint[length];
                for (int i = 0; i < length; i++) to[rank[i]] = a[i];
                Assert.Equal(expected, to);
                if (length > 2 * EqualFrequencyEdges.MaxInsertion) continue;
                fixed (uint* p = b) EqualFrequencyEdges.InsertionSort(p, length);
                Assert.Equal(expected, b[..length]);
            }
    }

    public static TheoryData<string> Names() => new() { "plugin", "ksg", "renyi", "copula" };

    [Theory]
    [MemberData(nameof(Names))]
    public void Pairs_all_pairs_and_single_estimate_agree(string name)
    {
        foreach (var (s, n) in new[] { (67, 1), (67, 2), (131, 3), (200, 70) })
        {
            var z = Random(s, n, n, ties: false);
            var est = MiEstimators.Create(name, new MiEstimatorOptions { Bins = 8 });
            var sink = new DenseMiSink(n);
            est.EstimateAllPairs(z, sink);
            var pairs = new List<(int, int)>();
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) pairs.Add((i, j));
            var values = new double[pairs.Count];
            est.EstimatePairs(z, pairs.ToArray(), values);
            for (int p = 0; p < pairs.Count; p++)
            {
                var (i, j) = pairs[p];
                double single = est.Estimate(z.Column(i), z.Column(j));
                Assert.Equal(single, values[p], 1e-12);
                // all pairs are float32; copula all-pairs also accumulates in float32
                Assert.Equal(single, sink.Matrix[i * n + j], name == "copula" ? 2e-4 : 1e-5 * Math.Max(1, Math.Abs(single)));
            }
            for (int i = 0; i < n; i++) Assert.Equal(0f, sink.Matrix[i * n + i]);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Constant_column_gives_zero(string name)
    {
        var z = Random(50, 3, 1);
        z.ColumnMutable(1).Fill(2.5f);
        var est = MiEstimators.Create(name, new MiEstimatorOptions { Bins = 4 });
        var r = new double[2];
        est.EstimatePairs(z, [(0, 1), (1, 2)], r);
        Assert.Equal([0.0, 0.0], r);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Nan_and_inf_are_reported_with_column_and_row(string name)
    {
        var est = MiEstimators.Create(name, new MiEstimatorOptions { Bins = 4 });
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var z = Random(40, 3, 2);
            z.ColumnMutable(2)[17] = bad;
            var ex = Assert.Throws<BadDataException>(() => est.EstimatePairs(z, [(0, 1)], new double[1]));
            Assert.Contains("column 2, row 17", ex.Message);
            var y = z.Column(2).ToArray();
            ex = Assert.Throws<BadDataException>(() => est.Estimate(z.Column(0), y));
            Assert.Contains("y has", ex.Message);
            Assert.Contains("row 17", ex.Message);
        }
    }

    [Fact]
    public void Too_few_samples_are_rejected()
    {
        var z = Random(7, 2, 3);
        var e1 = Assert.Throws<BadDataException>(() => new PluginEstimator(8, false).EstimatePairs(z, [(0, 1)], new double[1]));
        Assert.Contains("S = 7", e1.Message);
        var e2 = Assert.Throws<BadDataException>(() => new KsgEstimator(7).Estimate(z.Column(0), z.Column(1)));
        Assert.Contains("at least 8", e2.Message);
        Assert.True(new KsgEstimator(6).Estimate(z.Column(0), z.Column(1)) >= 0);
    }

    [Fact]
    public void Bad_parameters_and_names_are_rejected()
    {
        Assert.Throws<BadArgumentException>(() => MiEstimators.Create("mine"));
        Assert.Throws<BadArgumentException>(() => MiEstimators.Create("plugin", new() { Bins = 1 }));
        Assert.Throws<BadArgumentException>(() => MiEstimators.Create("plugin", new() { Bins = 257 }));
        Assert.Throws<BadArgumentException>(() => MiEstimators.Create("ksg", new() { K = 0 }));
        Assert.Throws<BadArgumentException>(() => MiEstimators.Create("renyi", new() { Alpha = 1 }));
        Assert.Throws<BadArgumentException>(() => Bandwidth.Parse("-1"));
        Assert.Throws<DeviceUnavailableException>(() => MiBackends.Resolve(MiDevice.Cuda, "plugin", new()));
        Assert.Same(CpuMiBackend.Instance, MiBackends.Resolve(MiDevice.Auto, "plugin", new()));
        Assert.Throws<BadDataException>(() => new ActivationMatrix(0, 3));
    }

    [Fact]
    public void Permutation_null_is_seeded_and_near_zero_for_copula()
    {
        var z = Random(500, 6, 9);
        var est = new CopulaEstimator();
        var a = PermutationNull.Compute(est, z, 40, seed: 3);
        var b = PermutationNull.Compute(est, z, 40, seed: 3);
        Assert.Equal(a.Values, b.Values);
        // r of independent normal scores ~ N(0, 1/S): mean of -1/2 ln(1 - r^2) ~ 1/(2S) = 0.001
        Assert.InRange(a.Mean, 0, 0.004);
        Assert.True(a.Quantile(0.99) >= a.Quantile(0.5));
        var real = new double[1];
        est.EstimatePairs(z, [(0, 1)], real);
        Assert.True(real[0] > a.Quantile(1.0), "a dependent pair must exceed every null value");
    }

    [Theory]
    [InlineData(0.975, 1.959963984540054)]
    [InlineData(0.5, 0.0)]
    [InlineData(0.001, -3.090232306167813)]
    [InlineData(1e-6, -4.753424308822899)]
    [InlineData(0.9999, 3.719016485455709)]
    public void Inverse_normal_cdf_matches_known_quantiles(double p, double x)
    {
        Assert.Equal(x, NormalDistribution.InverseCdf(p), 1e-13);
        Assert.Equal(p, NormalDistribution.Cdf(NormalDistribution.InverseCdf(p)), 1e-15 + 1e-13 * p);
    }

    /// <summary>Plain KSG: all O(S^2) max-norm distances, sorted; counts by direct comparison with nextafter(eps, 0).</summary>
    private static double BruteKsg(ReadOnlySpan<float> xf, ReadOnlySpan<float> yf, int k)
    {
        int s = xf.Length;
        double sx = ColumnMath.NumpyStd(xf), sy = ColumnMath.NumpyStd(yf); // scikit-learn scales by numpy's std
        var x = new double[s];
        var y = new double[s];
        for (int i = 0; i < s; i++) { x[i] = xf[i] / sx; y[i] = yf[i] / sy; }
        double sum = 0;
        var d = new double[s - 1];
        for (int i = 0; i < s; i++)
        {
            int p = 0;
            for (int j = 0; j < s; j++) if (j != i) d[p++] = Math.Max(Math.Abs(x[i] - x[j]), Math.Abs(y[i] - y[j]));
            Array.Sort(d);
            double eps = d[k - 1], rad = eps > 0 ? Math.BitDecrement(eps) : 0;
            int nx = 0, ny = 0;
            for (int j = 0; j < s; j++)
            {
                if (j == i) continue;
                if (Math.Abs(x[i] - x[j]) <= rad) nx++;
                if (Math.Abs(y[i] - y[j]) <= rad) ny++;
            }
            sum += Digamma(nx + 1) + Digamma(ny + 1);
        }
        return Digamma(s) + Digamma(k) - sum / s;
    }

    /// <summary>psi(n) for integer n by the harmonic sum.</summary>
    private static double Digamma(int n)
    {
        double v = -0.57721566490153286061;
        for (int m = 1; m < n; m++) v += 1.0 / m;
        return v;
    }

    /// <summary>Plug-in MI from a contingency table over bins floor(rank*B/S) of stable ranks (LINQ ordering is stable).</summary>
    private static (double Mi, int Occupied, int Ox, int Oy) DirectPlugin(ReadOnlySpan<float> xs, ReadOnlySpan<float> ys, int b)
    {
        int s = xs.Length;
        bool constant = xs.ToArray().Distinct().Count() == 1 || ys.ToArray().Distinct().Count() == 1;
        int[] Bins(float[] v)
        {
            var order = Enumerable.Range(0, v.Length).OrderBy(i => v[i] == 0 ? 0f : v[i]).ToArray();
            var bin = new int[v.Length];
            for (int r = 0; r < order.Length; r++) bin[order[r]] = (int)((long)r * b / v.Length);
            return bin;
        }
        var bx = Bins(xs.ToArray());
        var by = Bins(ys.ToArray());
        var joint = new int[b, b];
        var px = new int[b];
        var py = new int[b];
        for (int i = 0; i < s; i++) { joint[bx[i], by[i]]++; px[bx[i]]++; py[by[i]]++; }
        double mi = 0;
        int occ = 0;
        for (int u = 0; u < b; u++)
            for (int v = 0; v < b; v++)
                if (joint[u, v] > 0)
                {
                    occ++;
                    mi += joint[u, v] / (double)s * Math.Log(joint[u, v] * (double)s / ((double)px[u] * py[v]));
                }
        if (constant) return (0, 1, 1, 1);
        return (mi, occ, px.Count(c => c > 0), py.Count(c => c > 0));
    }
}
