using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// Equal-frequency codes by selecting the B-1 edges instead of sorting: edge k is the sample at stable rank
/// ceil(kS/B) (order by value, ties by index, -0 = +0), and code(s) = the number of edges at or below s in that order,
/// the same code <see cref="EqualFrequencyBins"/> gives. One counting pass over a 14-bit prefix of the order-preserving
/// key (1/32 of an octave; no scatter) finds each edge's bucket and its rank inside it; every other bucket's samples
/// share one code (a byte table per bucket, one look-up pass); only the edge buckets' members (a few samples each on
/// continuous data) are sorted by (key, index) and coded by exact rank. Applies with AVX-512, 2B &lt;= S &lt; 32768 and
/// B &lt;= 16; declines (returns false, nothing written) for a constant column and when an edge's bucket holds more than
/// <see cref="MaxBucket"/> samples (long ties, peaked data), which the radix path then codes.
/// </summary>
internal static class EqualFrequencyEdges
{
    private const int Shift = 18, Buckets = 1 << (32 - Shift);
    /// <summary>Largest edge bucket resolved here; beyond it the radix path is cheaper.</summary>
    public const int MaxBucket = 48;
    private const byte Member = 0x80;

    public static bool Applies(int s, int bins) =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && bins >= 2 && bins <= 16 && s >= 2 * bins && s < 32768;

    /// <summary>
    /// Writes the codes (and bin * B to rowCodes unless empty) and returns true, or returns false (nothing written) when
    /// the column is constant or its edge buckets are too full.
    /// </summary>
    public static bool TryCompute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes) =>
        TryCompute(v, bins, codes, rowCodes, default, default, out _);

    /// <summary>
    /// Also, unless <paramref name="gatherLow"/> is empty and where the vector look-up runs, the bin-order layout of
    /// <see cref="EqualFrequencyBins.Compute(ReadOnlySpan{float}, int, Span{byte}, Span{byte}, Span{byte}, Span{byte})"/>
    /// (padding lanes: gatherHigh 0xFF), written in the same pass: <paramref name="layoutWritten"/> says whether it was.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit] // the 48 KB of tables are cleared or written before use
    public static unsafe bool TryCompute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes,
        Span<byte> gatherLow, Span<byte> gatherHigh, out bool layoutWritten)
    {
        int n = v.Length;
        layoutWritten = false;
        if (!Applies(n, bins)) return false;
        var pool = System.Buffers.ArrayPool<uint>.Shared;
        uint[] keyArray = pool.Rent(n + 16);
        try
        {
            ref uint keys = ref keyArray[0];
            ref float x = ref Unsafe.AsRef(in v[0]);
            // order-preserving keys (x + 0 turns -0 into +0), and their range
            var lowV = Vector512<uint>.AllBitsSet;
            var highV = Vector512<uint>.Zero;
            var negHighV = Vector512<uint>.Zero; // the largest negative and smallest positive key, for the gap below
            var posLowV = Vector512<uint>.AllBitsSet;
            var top = Vector512.Create(0x8000_0000u);
            int full = n & ~15;
            for (int i = 0; i < full; i += 16)
            {
                var b = (Vector512.LoadUnsafe(ref x, (nuint)i) + Vector512<float>.Zero).AsUInt32();
                var key = b ^ (Vector512.ShiftRightArithmetic(b.AsInt32(), 31).AsUInt32() | top);
                key.StoreUnsafe(ref keys, (nuint)i);
                lowV = Vector512.Min(lowV, key);
                highV = Vector512.Max(highV, key);
                var negative = Vector512.LessThan(key, top);
                negHighV = Vector512.Max(negHighV, key & negative);
                posLowV = Vector512.Min(posLowV, key | negative);
            }
            uint low = uint.MaxValue, high = 0;
            for (int l = 0; l < 16; l++) { low = Math.Min(low, lowV[l]); high = Math.Max(high, highV[l]); }
            for (int i = full; i < n; i++)
            {
                uint key = ColumnMath.SortableBits(Unsafe.Add(ref x, i));
                Unsafe.Add(ref keys, i) = key;
                low = Math.Min(low, key);
                high = Math.Max(high, key);
            }
            if (low == high) return false;
            if (StopAfterPhase == 1) return true;
            // bucket counts over the occupied range only (32-aligned for the block sums), in two parts when the signs'
            // small magnitudes leave a gap between the largest negative and the smallest positive key
            int b0 = (int)(low >> Shift) & ~31, b1 = ((int)(high >> Shift) | 31) + 1;
            int gap0 = -1, gap1 = -1;
            if (low < 0x8000_0000u && high >= 0x8000_0000u)
            {
                uint negHigh = 0, posLow = uint.MaxValue;
                for (int l = 0; l < 16; l++) { negHigh = Math.Max(negHigh, negHighV[l]); posLow = Math.Min(posLow, posLowV[l]); }
                for (int i = full; i < n; i++)
                {
                    uint key = Unsafe.Add(ref keys, i);
                    negHigh = Math.Max(negHigh, key < 0x8000_0000u ? key : 0);
                    posLow = Math.Min(posLow, key < 0x8000_0000u ? uint.MaxValue : key);
                }
                int g0 = ((int)(negHigh >> Shift) | 31) + 1, g1 = (int)(posLow >> Shift) & ~31;
                if (g1 > g0) { gap0 = g0; gap1 = g1; }
            }
            ushort* hist = stackalloc ushort[Buckets];
            if (gap0 < 0) new Span<ushort>(hist + b0, b1 - b0).Clear();
            else
            {
                new Span<ushort>(hist + b0, gap0 - b0).Clear();
                new Span<ushort>(hist + gap1, b1 - gap1).Clear();
            }
            for (int i = 0; i < n; i++) hist[Unsafe.Add(ref keys, i) >> Shift]++;
            if (StopAfterPhase == 2) return true;
            // each edge's bucket and its rank inside it (edges ascend, so one walk: whole blocks of 32 where the edge
            // is beyond them, then bucket by bucket)
            int edges = bins - 1;
            int* edgeBucket = stackalloc int[16];
            int* edgeRank = stackalloc int[16];
            int bucket = b0, below = 0;
            var ones = Vector512.Create((short)1);
            for (int k = 1; k <= edges; k++)
            {
                int p = (int)(((long)k * n + bins - 1) / bins);
                while (true)
                {
                    if (bucket == gap0) bucket = gap1;
                    if ((bucket & 31) == 0)
                    {
                        int sum = Vector512.Sum(Avx512BW.MultiplyAddAdjacent(Vector512.Load(hist + bucket).AsInt16(), ones)); // counts < 32768
                        if (below + sum <= p) { below += sum; bucket += 32; continue; }
                    }
                    if (below + hist[bucket] > p) break;
                    below += hist[bucket++];
                }
                if (hist[bucket] > MaxBucket) return false;
                edgeBucket[k - 1] = bucket;
                edgeRank[k - 1] = p - below;
            }
            // per bucket: its code (the edges in buckets below it), or Member for an edge's bucket; the vector look-up
            // finds the code by a search of the 15 edge buckets instead (no table to fill)
            bool vector = !ForceTableLookUp && Avx512Vbmi2.IsSupported && Avx512BW.IsSupported;
            byte* table = stackalloc byte[Buckets];
            byte* slotOf = stackalloc byte[Buckets]; // read only at edge buckets
            int* slotStart = stackalloc int[17];
            int* slotBelow = stackalloc int[17];
            int slots = 0, members = 0, from = b0;
            for (int k = 0; k < edges; k++)
            {
                int f = edgeBucket[k];
                if (k > 0 && f == edgeBucket[k - 1]) continue;
                if (!vector) new Span<byte>(table + from, f - from).Fill((byte)k);
                table[f] = Member;
                from = f + 1;
                slotOf[f] = (byte)slots;
                slotBelow[slots] = k;
                slotStart[slots++] = members;
                members += hist[f];
            }
            if (!vector) new Span<byte>(table + from, b1 - from).Fill((byte)edges);
            slotStart[slots] = members;
            if (StopAfterPhase == 3) return true;
            // codes by bucket; the edge buckets' members listed (in index order) to be placed by exact rank
            int* listed = stackalloc int[ListedCapacity];
            ref byte code0 = ref codes[0];
            bool rows = !rowCodes.IsEmpty;
            int count = 0;
            // the bin-order layout (vector path): each bin's samples appended to its own stretch of the scratch
            // (stride: the bin's lanes + 64, so a whole-vector store never reaches the next bin), copied out at the end
            int stride = ((n + bins - 1) / bins + 127) & ~63;
            bool layout = vector && !gatherLow.IsEmpty && bins * stride <= LayoutScratch;
            byte* lowS = stackalloc byte[LayoutScratch];
            byte* highS = stackalloc byte[LayoutScratch];
            int* next = stackalloc int[16];
            for (int k = 0; k < bins; k++) next[k] = k * stride;
            if (vector)
                count = LookUp(ref keys, n, bins, edgeBucket, edges, ref code0, rowCodes, listed, layout, lowS, highS, next, stride);
            else if (rows)
                for (int s = 0; s < n; s++)
                {
                    int t = table[Unsafe.Add(ref keys, s) >> Shift];
                    Unsafe.Add(ref code0, s) = (byte)t;
                    rowCodes[s] = (byte)(t * bins);
                    listed[count] = s;
                    count += t >> 7;
                }
            else
                for (int s = 0; s < n; s++)
                {
                    int t = table[Unsafe.Add(ref keys, s) >> Shift];
                    Unsafe.Add(ref code0, s) = (byte)t;
                    listed[count] = s;
                    count += t >> 7;
                }
            if (StopAfterPhase == 4) return true;
            // members by bucket as (key, index), each bucket sorted: position q in bucket j is stable rank
            // (ranks below the bucket) + q, so its code is slotBelow[j] + the bucket's edges at ranks <= q
            ulong* member = stackalloc ulong[16 * MaxBucket];
            int* fill = stackalloc int[16];
            for (int j = 0; j < slots; j++) fill[j] = slotStart[j];
            for (int c = 0; c < count; c++)
            {
                int s = listed[c];
                uint key = Unsafe.Add(ref keys, s);
                int slot = slotOf[key >> Shift];   // read only at edge buckets: anything else is a wrong code
                if (slot >= slots || fill[slot] >= slotStart[slot + 1]) throw Overfilled("edge-bucket slot");
                member[fill[slot]++] = ((ulong)key << 32) | (uint)s;
            }
            for (int j = 0; j < slots; j++)   // every slot's stretch is read below: each must be full
                if (fill[j] != slotStart[j + 1]) throw Overfilled($"edge-bucket slot {j}");
            if (StopAfterPhase == 5) return true;
            for (int j = 0; j < slots; j++) new Span<ulong>(member + slotStart[j], slotStart[j + 1] - slotStart[j]).Sort();
            if (StopAfterPhase == 6) return true;
            for (int j = 0, k = 0; j < slots; j++)
            {
                var list = new Span<ulong>(member + slotStart[j], slotStart[j + 1] - slotStart[j]);
                int code = slotBelow[j];
                for (int q = 0; q < list.Length; q++)
                {
                    while (k < edges && edgeBucket[k] == edgeBucket[slotBelow[j]] && edgeRank[k] <= q) { k++; code++; }
                    int s = (int)(uint)list[q];
                    Unsafe.Add(ref code0, s) = (byte)code;
                    if (rows) rowCodes[s] = (byte)(code * bins);
                    if (layout) { int t = Claim(next, code, bins, 1, stride); lowS[t] = (byte)s; highS[t] = (byte)(s >> 8); }
                }
                while (k < edges && edgeBucket[k] == edgeBucket[slotBelow[j]]) k++;
            }
            if (StopAfterPhase == 7) return true;
            if (layout)
            {
                CopyLayout(n, bins, lowS, highS, stride, gatherLow, gatherHigh);
                layoutWritten = true;
            }
            return true;
        }
        finally
        {
            pool.Return(keyArray);
        }
    }

    /// <summary>
    /// Perf harness only (`plugin-parts --binning-pieces`): above 0, return after that phase (1 keys, 2 histogram,
    /// 3 edge walk, 4 look-up and layout pass, 5 members into slots, 6 member sort, 7 member codes), output incomplete.
    /// </summary>
    internal static int StopAfterPhase;

    /// <summary>True: the byte table per bucket even with AVX-512 VBMI2, on this thread (tests compare the two).</summary>
    [ThreadStatic] internal static bool ForceTableLookUp;

    /// <summary>Bytes of each layout scratch (bins * stride: 3 KB at S = 2048, B = 16).</summary>
    private const int LayoutScratch = 4096;

    /// <summary>
    /// The look-up pass, 64 samples at a time: bucket = key >> 18 on 16-bit lanes, its code = the number of edge
    /// buckets below it by a 4-step branch-free search of the sorted edge buckets (vpermw), Member where it equals
    /// one; the members listed in index order; with <paramref name="layout"/> every other sample's index appended to
    /// its bin's stretch of the scratch (one compress per bin). Returns the members listed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static unsafe int LookUp(ref uint keys, int n, int bins, int* edgeBucket, int edges, ref byte code0, Span<byte> rowCodes,
        int* listed, bool layout, byte* lowS, byte* highS, int* next, int stride)
    {
        short* e = stackalloc short[32];
        for (int k = 0; k < 32; k++) e[k] = k < edges ? (short)edgeBucket[k] : short.MaxValue; // above every bucket
        var ev = Vector512.Load(e);
        var highWords = Vector512<short>.Indices * 2 + Vector512<short>.One;
        var rowScale = Vector512.Create((short)bins);
        bool rows = !rowCodes.IsEmpty;
        int count = 0, full = n & ~63;
        for (int i = 0; i < full; i += 64)
        {
            var k0 = Vector512.LoadUnsafe(ref keys, (nuint)i).AsInt16();
            var k1 = Vector512.LoadUnsafe(ref keys, (nuint)i + 16).AsInt16();
            var k2 = Vector512.LoadUnsafe(ref keys, (nuint)i + 32).AsInt16();
            var k3 = Vector512.LoadUnsafe(ref keys, (nuint)i + 48).AsInt16();
            var c0 = Code(Vector512.ShiftRightLogical(Avx512BW.PermuteVar32x16x2(k0, highWords, k1).AsUInt16(), Shift - 16).AsInt16(), ev);
            var c1 = Code(Vector512.ShiftRightLogical(Avx512BW.PermuteVar32x16x2(k2, highWords, k3).AsUInt16(), Shift - 16).AsInt16(), ev);
            var c = Vector512.Create(Avx512BW.ConvertToVector256Byte(c0), Avx512BW.ConvertToVector256Byte(c1));
            c.StoreUnsafe(ref code0, (nuint)i);
            if (rows) // members' entries are rewritten once their code is known
                Vector512.Create(Avx512BW.ConvertToVector256Byte(c0 * rowScale), Avx512BW.ConvertToVector256Byte(c1 * rowScale))
                    .StoreUnsafe(ref rowCodes[0], (nuint)i);
            ulong members = c.ExtractMostSignificantBits();
            if (count + BitOperations.PopCount(members) > ListedCapacity) throw Overfilled("edge-bucket member list");
            for (ulong m = members; m != 0; m &= m - 1) listed[count++] = i + BitOperations.TrailingZeroCount(m);
            if (layout)
            {
                var lane = Vector512<byte>.Indices + Vector512.Create((byte)i);
                var high = Vector512.Create((byte)(i >> 8));
                var bin = Vector512<byte>.Zero;
                for (int k = 0; k < bins; k++, bin += Vector512<byte>.One)
                {
                    var mask = Vector512.Equals(c, bin);
                    int t = Claim(next, k, bins, BitOperations.PopCount(mask.ExtractMostSignificantBits()), stride, store: 64);
                    Avx512Vbmi2.Compress(Vector512<byte>.Zero, mask, lane).Store(lowS + t);
                    high.Store(highS + t);
                }
            }
        }
        for (int i = full; i < n; i++)
        {
            int b = (int)(Unsafe.Add(ref keys, i) >> Shift), code = 0;
            while (code < edges && edgeBucket[code] < b) code++;
            bool member = code < edges && edgeBucket[code] == b;
            Unsafe.Add(ref code0, i) = member ? Member : (byte)code;
            if (rows) rowCodes[i] = (byte)(code * bins);
            if (member) { if (count == ListedCapacity) throw Overfilled("edge-bucket member list"); listed[count++] = i; }
            else if (layout) { int t = Claim(next, code, bins, 1, stride); lowS[t] = (byte)i; highS[t] = (byte)(i >> 8); }
        }
        return count;
    }

    /// <summary>Entries of the edge-bucket member list: at most 15 edge buckets of at most <see cref="MaxBucket"/> samples each.</summary>
    private const int ListedCapacity = 16 * MaxBucket + 1;

    /// <summary>
    /// A stack scratch would overflow: only a wrong code can cause it, and it must fail loudly rather than write past
    /// the scratch.
    /// </summary>
    private static InvalidOperationException Overfilled(string what) =>
        new($"equal-frequency binning: {what} does not hold the samples counted (a code out of range); this is a bug");

    /// <summary>
    /// Position in bin <paramref name="bin"/>'s stretch of the layout scratch for <paramref name="taken"/> more samples,
    /// checked so that a store of <paramref name="store"/> bytes there stays in the stretch (see <see cref="Overfilled"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int Claim(int* next, int bin, int bins, int taken, int stride, int store = 1)
    {
        if ((uint)bin >= (uint)bins || next[bin] + store > (bin + 1) * stride) throw Overfilled($"layout of bin {bin}");
        int t = next[bin];
        next[bin] = t + taken;
        return t;
    }

    /// <summary>Lower bound of each 16-bit bucket among the 16 sorted edge buckets (4 steps), or Member where it is one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Code(Vector512<short> b, Vector512<short> e)
    {
        var lo = Vector512.LessThan(Avx512BW.PermuteVar32x16(e, Vector512.Create((short)7)), b) & Vector512.Create((short)8);
        lo += Vector512.LessThan(Avx512BW.PermuteVar32x16(e, lo + Vector512.Create((short)3)), b) & Vector512.Create((short)4);
        lo += Vector512.LessThan(Avx512BW.PermuteVar32x16(e, lo + Vector512.Create((short)1)), b) & Vector512.Create((short)2);
        lo += Vector512.LessThan(Avx512BW.PermuteVar32x16(e, lo), b) & Vector512<short>.One;
        return Vector512.ConditionalSelect(Vector512.Equals(Avx512BW.PermuteVar32x16(e, lo), b), Vector512.Create((short)Member), lo);
    }

    /// <summary>The scratch's stretches into the bin-order layout: segment k = bin k's samples, then padding (High 0xFF).</summary>
    private static unsafe void CopyLayout(int n, int bins, byte* lowS, byte* highS, int stride, Span<byte> gatherLow, Span<byte> gatherHigh)
    {
        var segments = EqualFrequencyBins.Segments.Get(n, bins).SegmentLanes;
        if (gatherLow.Length < EqualFrequencyBins.BinOrderLength(n, bins) || gatherHigh.Length < gatherLow.Length) throw new ArgumentException("gather layout too short");
        ref byte low = ref gatherLow[0], high = ref gatherHigh[0];
        var pad = Vector512<byte>.AllBitsSet;
        for (int k = 0, t = 0; k < bins; t += segments[k++])
        {
            int filled = EqualFrequencyBins.Count(k, n, bins);
            for (int off = 0; off < segments[k]; off += 64)
            {
                Vector512.Load(lowS + k * stride + off).StoreUnsafe(ref low, (nuint)(t + off));
                var h = Vector512.Load(highS + k * stride + off);
                int left = filled - off;
                if (left < 64) h = left <= 0 ? pad : Vector512.ConditionalSelect(Vector512.LessThan(Vector512<byte>.Indices, Vector512.Create((byte)left)), h, pad);
                h.StoreUnsafe(ref high, (nuint)(t + off));
            }
        }
    }
}
