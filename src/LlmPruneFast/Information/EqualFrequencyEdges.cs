using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// Equal-frequency codes by selecting the B-1 edges instead of sorting: edge k is the sample at stable rank
/// ceil(kS/B) (order by value, ties by index, -0 = +0), and code(s) = the number of edges at or below s in that order,
/// the same code <see cref="EqualFrequencyBins"/> gives. One counting pass over a 15-bit prefix of the order-preserving
/// key (1/64 of an octave; no scatter), turned into prefix sums, gives each edge's bucket (a vector search) and its
/// rank inside it; every other bucket's samples share one code (one look-up pass: a vector search of the edge buckets,
/// or without VBMI2 a byte table per bucket); only the edge buckets' members (a few samples each on continuous data)
/// are ordered by (key, index) (mostly by counting each one's rank with vector compares) and coded by exact rank.
/// Applies with AVX-512, 2B &lt;= S &lt; 32768 and B &lt;= 16; declines (returns false, nothing written) for a constant
/// column and when the edge buckets together hold more than <see cref="MemberCapacity"/> samples (long ties), which the
/// radix path then codes. Peaked data (GELU's
/// negative lobe: 99 of 172 MiniLM FFN columns at S = 1024 held 49-266 samples in a 1/32-octave edge bucket) stays here.
/// </summary>
internal static class EqualFrequencyEdges
{
    /// <summary>
    /// Bucket = key >> Shift: 15 bits, 1/64 of an octave, the most the look-up's signed 16-bit search holds. Measured
    /// against 14 bits: peaked columns hold half the edge-bucket members (MiniLM whole layer 0.27-0.29 against
    /// 0.30-0.33 us per pair), continuous ones no slower.
    /// </summary>
    internal const int Shift = 17;
    private const int Buckets = 1 << (32 - Shift);
    /// <summary>
    /// Most edge-bucket members resolved here, all edge buckets together: S / 2 (sorting more costs about what the
    /// radix path does), at least 768, and at most 4096 (the member scratch is on the stack).
    /// </summary>
    internal static int MemberCapacity(int s) => Math.Min(Math.Max(768, s / 2), 4096);
    private const byte Member = 0x80;

    public static bool Applies(int s, int bins) =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && bins >= 2 && bins <= 16 && s >= 2 * bins && s < 32768;

    /// <summary>
    /// Writes the codes (and bin * B to rowCodes unless empty) and returns true, or returns false (nothing written) when
    /// the column is constant or its edge buckets hold too many samples together.
    /// </summary>
    public static bool TryCompute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes) =>
        TryCompute(v, bins, codes, rowCodes, default, default, out _);

    /// <summary>
    /// Also, unless <paramref name="gatherLow"/> is empty and where the vector look-up runs, the bin-order layout of
    /// <see cref="EqualFrequencyBins.Compute(ReadOnlySpan{float}, int, Span{byte}, Span{byte}, Span{byte}, Span{byte})"/>
    /// (padding lanes: gatherHigh 0xFF), written in the same pass: <paramref name="layoutWritten"/> says whether it was.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    public static unsafe bool TryCompute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes,
        Span<byte> gatherLow, Span<byte> gatherHigh, out bool layoutWritten)
    {
        int n = v.Length;
        layoutWritten = false;
        if (!Applies(n, bins)) return false;
        if (n <= StackKeys)
        {
            uint* keys = stackalloc uint[StackKeys];
            return Core(v, bins, keys, codes, rowCodes, gatherLow, gatherHigh, out layoutWritten);
        }
        var pool = System.Buffers.ArrayPool<uint>.Shared;
        uint[] keyArray = pool.Rent(n);
        try
        {
            fixed (uint* keys = keyArray) return Core(v, bins, keys, codes, rowCodes, gatherLow, gatherHigh, out layoutWritten);
        }
        finally
        {
            pool.Return(keyArray);
        }
    }

    /// <summary>Columns up to this many samples keep their keys on the stack (8 KB) instead of a pooled array.</summary>
    private const int StackKeys = 2048;

    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit] // every stack table is cleared or written before use
    private static unsafe bool Core(ReadOnlySpan<float> v, int bins, uint* keys, Span<byte> codes, Span<byte> rowCodes,
        Span<byte> gatherLow, Span<byte> gatherHigh, out bool layoutWritten)
    {
        int n = v.Length;
        layoutWritten = false;
        ref float x = ref MemoryMarshal.GetReference(v);
        // order-preserving keys (x + 0 turns -0 into +0), and their range
        var lowV = Vector512<uint>.AllBitsSet;
        var highV = Vector512<uint>.Zero;
        // the largest negative and smallest positive key, for the gap below: with the sign bit flipped, positives
        // come before negatives, so with both signs present they are the largest and the smallest flipped key
        var flippedHighV = Vector512<uint>.Zero;
        var flippedLowV = Vector512<uint>.AllBitsSet;
        var top = Vector512.Create(0x8000_0000u);
        int full = n & ~15;
        for (int i = 0; i < full; i += 16)
        {
            var b = (Vector512.LoadUnsafe(ref x, (nuint)i) + Vector512<float>.Zero).AsUInt32();
            var key = b ^ (Vector512.ShiftRightArithmetic(b.AsInt32(), 31).AsUInt32() | top);
            key.Store(keys + i);
            lowV = Vector512.Min(lowV, key);
            highV = Vector512.Max(highV, key);
            var flipped = key ^ top;
            flippedHighV = Vector512.Max(flippedHighV, flipped);
            flippedLowV = Vector512.Min(flippedLowV, flipped);
        }
        uint low = MinLane(lowV), high = MaxLane(highV);
        for (int i = full; i < n; i++)
        {
            uint key = ColumnMath.SortableBits(Unsafe.Add(ref x, i));
            keys[i] = key;
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
            uint flippedHigh = MaxLane(flippedHighV), flippedLow = MinLane(flippedLowV);
            for (int i = full; i < n; i++)
            {
                flippedHigh = Math.Max(flippedHigh, keys[i] ^ 0x8000_0000u);
                flippedLow = Math.Min(flippedLow, keys[i] ^ 0x8000_0000u);
            }
            uint negHigh = flippedHigh ^ 0x8000_0000u, posLow = flippedLow ^ 0x8000_0000u;
            int g0 = ((int)(negHigh >> Shift) | 31) + 1, g1 = (int)(posLow >> Shift) & ~31;
            if (g1 > g0) { gap0 = g0; gap1 = g1; }
        }
        int end0 = gap0 < 0 ? b1 : gap0; // the parts: [b0, end0) and, with a gap, [gap1, b1)
        ushort* hist = stackalloc ushort[Buckets];
        new Span<ushort>(hist + b0, end0 - b0).Clear();
        if (gap0 >= 0) new Span<ushort>(hist + gap1, b1 - gap1).Clear();
        Count(keys, n, hist);
        if (StopAfterPhase == 2) return true;
        // the counts become inclusive prefix sums in place (the second part continues the first), so that each edge's
        // bucket is the first whose sum exceeds the edge's rank; per block of 32 buckets the sum at its end, so that
        // the edge's block is the number of blocks ending at or below that rank (vector compares, no walk)
        int* blockEnd = stackalloc int[Buckets / 32 + 16];
        int blocks = 0, firstBlocks = (end0 - b0) >> 5;
        var carry = Vector512<short>.Zero;
        for (int b = b0; b < end0; b += 32) blockEnd[blocks++] = (carry = PrefixSums(hist + b, carry)).ToScalar();
        if (gap0 >= 0) for (int b = gap1; b < b1; b += 32) blockEnd[blocks++] = (carry = PrefixSums(hist + b, carry)).ToScalar();
        new Span<int>(blockEnd + blocks, 16).Fill(int.MaxValue);
        int edges = bins - 1;
        int* edgeBucket = stackalloc int[16];
        int* edgeRank = stackalloc int[16];
        int* edgeCount = stackalloc int[16];
        var starts = EqualFrequencyBins.Segments.Get(n, bins).Starts; // the edges' ranks without a division each
        for (int k = 1; k <= edges; k++)
        {
            int p = starts[k]; // ceil(kS/B) < S: the last block's end exceeds it
            var pv = Vector512.Create(p);
            int m = 0;
            for (int w = 0; w < blocks; w += 16)
                m += BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.Load(blockEnd + w), pv).ExtractMostSignificantBits());
            if (m >= blocks) throw Overfilled("bucket counts"); // cannot happen: the counts sum to S > p
            int first = m < firstBlocks ? b0 + 32 * m : gap1 + 32 * (m - firstBlocks);
            int j = BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.Load((short*)hist + first), Vector512.Create((short)p)).ExtractMostSignificantBits());
            int at = first + j; // j < 32: the block's end exceeds p
            int below = j > 0 ? hist[at - 1] : m > 0 ? blockEnd[m - 1] : 0;
            int inBucket = hist[at] - below;
            edgeBucket[k - 1] = at;
            edgeRank[k - 1] = p - below;
            edgeCount[k - 1] = inBucket;
        }
        // per edge bucket a slot for its members; the vector look-up finds each sample's code by a search of the 15
        // edge buckets; without it, a byte table per bucket: its code (the edges in buckets below it), or Member
        bool vector = !ForceTableLookUp && Avx512Vbmi2.IsSupported && Avx512Vbmi.IsSupported && Avx512BW.IsSupported;
        byte* table = null;
        if (!vector)
        {
            byte* t = stackalloc byte[Buckets];
            table = t;
        }
        int* slotOfEdge = stackalloc int[16];
        int* slotStart = stackalloc int[17];
        int* slotBelow = stackalloc int[17];
        int slots = 0, members = 0, from = b0;
        for (int k = 0; k < edges; k++)
        {
            int f = edgeBucket[k];
            if (k > 0 && f == edgeBucket[k - 1]) { slotOfEdge[k] = slots - 1; continue; }
            if (!vector)
            {
                new Span<byte>(table + from, f - from).Fill((byte)k);
                table[f] = (byte)(Member | k);
                from = f + 1;
            }
            slotOfEdge[k] = slots;
            slotBelow[slots] = k;
            slotStart[slots++] = members;
            members += edgeCount[k];
        }
        int capacity = MemberCapacity(n);
        if (members > capacity) return false; // long ties: the radix path
        if (!vector) new Span<byte>(table + from, b1 - from).Fill((byte)edges);
        slotStart[slots] = members;
        slotBelow[slots] = edges;
        if (StopAfterPhase == 3) return true;
        // codes by bucket (an edge bucket's members: Member | its first edge); those members listed in index order
        int* listed = stackalloc int[capacity + 1];
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
        {
            count = LookUp(keys, n, bins, edgeBucket, edges, ref code0, rowCodes, listed, capacity + 1);
            if (layout) LayOut(ref code0, n, bins, lowS, highS, next, stride);
        }
        else if (rows)
            for (int s = 0; s < n; s++)
            {
                int t = table[keys[s] >> Shift];
                Unsafe.Add(ref code0, s) = (byte)t;
                rowCodes[s] = (byte)(t * bins);
                listed[count] = s;
                count += t >> 7;
            }
        else
            for (int s = 0; s < n; s++)
            {
                int t = table[keys[s] >> Shift];
                Unsafe.Add(ref code0, s) = (byte)t;
                listed[count] = s;
                count += t >> 7;
            }
        if (StopAfterPhase == 4) return true;
        // members by bucket as (key, index), each bucket sorted: position q in bucket j is stable rank
        // (ranks below the bucket) + q, so its code is slotBelow[j] + the bucket's edges at ranks <= q. A bucket's
        // members share the key's top 32 - Shift bits, so an entry is the key's low Shift bits, then the index (< 2^15)
        uint* member = stackalloc uint[capacity + RankGroup]; // whole vectors past the last slot's end are read below
        int* fill = stackalloc int[16];
        for (int j = 0; j < slots; j++) fill[j] = slotStart[j];
        for (int c = 0; c < count; c++)
        {
            int s = listed[c];
            uint key = keys[s];
            int k = Unsafe.Add(ref code0, s) & ~Member; // the bucket's first edge
            if (k >= edges || edgeBucket[k] != (int)(key >> Shift)) throw Overfilled("edge-bucket member");
            int slot = slotOfEdge[k];
            if (fill[slot] >= slotStart[slot + 1]) throw Overfilled("edge-bucket slot");
            member[fill[slot]++] = (key << (32 - Shift)) | (uint)s;
        }
        for (int j = 0; j < slots; j++)   // every slot's stretch is read below: each must be full
            if (fill[j] != slotStart[j + 1]) throw Overfilled($"edge-bucket slot {j}");
        if (StopAfterPhase == 5) return true;
        // mostly ordered by counting ranks, not sorted (MiniLM FFN layer 2, S = 1024, with the layout: 2.8-3.0 against
        // 4.6-5.0 us per column by insertion and Span.Sort on (key, index) longs; stories260K within 2%, in one process)
        uint* sorted = stackalloc uint[capacity + 16]; // + 16: the last slot's whole-vector copy
        uint* ranks = stackalloc uint[capacity + RankGroup]; // + RankGroup: the last slot's whole-vector stores
        OrderSlots(member, sorted, ranks, slotStart, slots);
        if (StopAfterPhase == 6) return true;
        int* runBase = stackalloc int[17];
        for (int j = 0; j < slots; j++)
        {
            int start = slotStart[j], length = slotStart[j + 1] - start, first = slotBelow[j], end = slotBelow[j + 1];
            if (Ranked(length))
            {
                // members in slot order with their ranks q: each code's run of ranks claimed in its bin at once, a
                // member's lane there = the run's claim + q - the run's first rank (no sorted copy)
                if (layout)
                    for (int code = first, lo = 0; code <= end; code++)
                    {
                        int hi = code < end ? edgeRank[code] : length;
                        runBase[code - first] = Claim(next, code, bins, hi - lo, stride, hi - lo) - lo;
                        lo = hi;
                    }
                for (int i = 0; i < length; i++)
                {
                    int q = (int)ranks[start + i], code = CodeAtRank(q, first, end, edgeRank); // q < length: it counts the others below
                    int s = (int)(member[start + i] & IndexMask);
                    Unsafe.Add(ref code0, s) = (byte)code;
                    if (rows) rowCodes[s] = (byte)(code * bins);
                    if (layout) { int t = runBase[code - first] + q; lowS[t] = (byte)s; highS[t] = (byte)(s >> 8); }
                }
                continue;
            }
            for (int q = 0; q < length; q++)
            {
                int code = CodeAtRank(q, first, end, edgeRank);
                int s = (int)(sorted[start + q] & IndexMask);
                Unsafe.Add(ref code0, s) = (byte)code;
                if (rows) rowCodes[s] = (byte)(code * bins);
                if (layout) { int t = Claim(next, code, bins, 1, stride); lowS[t] = (byte)s; highS[t] = (byte)(s >> 8); }
            }
        }
        if (StopAfterPhase == 7) return true;
        if (layout)
        {
            CopyLayout(n, bins, lowS, highS, stride, gatherLow, gatherHigh);
            layoutWritten = true;
        }
        return true;
    }

    /// <summary>
    /// Perf harness only (`plugin-parts --binning-pieces`): above 0, return after that phase (1 keys, 2 histogram,
    /// 3 edge search, 4 look-up and layout pass, 5 members into slots, 6 member sort, 7 member codes), output incomplete.
    /// </summary>
    internal static int StopAfterPhase;

    /// <summary>
    /// The bucket counts: a loop of its own (in the caller, short of registers, it reloaded the table's address for
    /// every sample), four samples a step.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Count(uint* keys, int n, ushort* hist)
    {
        uint* p = keys, end = keys + n;
        for (; p + 4 <= end; p += 4) // a moving pointer: no index arithmetic per sample
        {
            hist[p[0] >> Shift]++;
            hist[p[1] >> Shift]++;
            hist[p[2] >> Shift]++;
            hist[p[3] >> Shift]++;
        }
        for (; p < end; p++) hist[*p >> Shift]++;
    }

    /// <summary>
    /// The code of an edge bucket's member at rank q inside it: the edges below the bucket (<paramref name="first"/>),
    /// plus the bucket's own edges (first .. end - 1) at ranks &lt;= q.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int CodeAtRank(int q, int first, int end, int* edgeRank)
    {
        int code = first;
        for (int k = first; k < end; k++) code += edgeRank[k] <= q ? 1 : 0;
        return code;
    }

    /// <summary>An edge-bucket entry's index bits (the rest: the key's low Shift bits); S &lt; 32768 = 2^(32 - Shift).</summary>
    private const uint IndexMask = (1u << (32 - Shift)) - 1;

    /// <summary>
    /// Edge buckets up to this many members are ordered by counting ranks (n * n / 16 vector compares, branch-free),
    /// longer ones by the library's sort. Measured (random entries, per bucket, ranks and placing by them against
    /// Span.Sort): 20 members 41 against 86 ns, 64: 159 against 398, 128: 485 against 900, 256: 1672 against 2010,
    /// 384: 3596 against 3185.
    /// </summary>
    internal const int MaxRankCount = 320;
    /// <summary>Edge buckets up to this many members are sorted by insertion (4: 7 ns against 15 by ranks; 8: about even).</summary>
    internal const int MaxInsertion = 4;
    /// <summary>Entries ranked per pass over a bucket's members (at most four vectors).</summary>
    private const int RankGroup = 64;

    /// <summary>Whether a slot of this many members is ordered by <see cref="RankStore"/> (its members then stay in place).</summary>
    private static bool Ranked(int length) => length > MaxInsertion && length <= MaxRankCount;

    /// <summary>
    /// The rank of each of n distinct entries among them (the number of entries below it), to rank[0 .. n - 1], counted
    /// for up to 64 at a time (one, two or four vectors, every entry broadcast once per group). Whole vectors: up to 63
    /// lanes past rank[n - 1] are overwritten, and whole vectors past a[n - 1] are read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void RankStore(uint* a, int n, uint* rank)
    {
        for (int v = 0; v < n; v += RankGroup)
        {
            int lanes = n - v;
            if (lanes > 32) Rank4(a, n, a + v, rank + v);
            else if (lanes > 16) Rank2(a, n, a + v, rank + v);
            else Rank1(a, n, a + v, rank + v);
        }
    }

    /// <summary>The ranks among a[0 .. n - 1] of the 16 entries at <paramref name="g"/>, to <paramref name="rank"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Rank1(uint* a, int n, uint* g, uint* rank)
    {
        var g0 = Vector512.Load(g);
        var one = Vector512<uint>.One;
        Vector512<uint> r0 = default;
        for (int j = 0; j < n; j++) r0 = Vector512.ConditionalSelect(Vector512.LessThan(Vector512.Create(a[j]), g0), r0 + one, r0); // a masked add
        r0.Store(rank);
    }

    /// <summary><see cref="Rank1"/> for 32 entries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Rank2(uint* a, int n, uint* g, uint* rank)
    {
        var g0 = Vector512.Load(g);
        var g1 = Vector512.Load(g + 16);
        var one = Vector512<uint>.One;
        Vector512<uint> r0 = default, r1 = default;
        for (int j = 0; j < n; j++)
        {
            var e = Vector512.Create(a[j]);
            r0 = Vector512.ConditionalSelect(Vector512.LessThan(e, g0), r0 + one, r0);
            r1 = Vector512.ConditionalSelect(Vector512.LessThan(e, g1), r1 + one, r1);
        }
        r0.Store(rank);
        r1.Store(rank + 16);
    }

    /// <summary><see cref="Rank1"/> for 64 entries.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Rank4(uint* a, int n, uint* g, uint* rank)
    {
        var g0 = Vector512.Load(g);
        var g1 = Vector512.Load(g + 16);
        var g2 = Vector512.Load(g + 32);
        var g3 = Vector512.Load(g + 48);
        var one = Vector512<uint>.One;
        Vector512<uint> r0 = default, r1 = default, r2 = default, r3 = default;
        for (int j = 0; j < n; j++)
        {
            var e = Vector512.Create(a[j]);
            r0 = Vector512.ConditionalSelect(Vector512.LessThan(e, g0), r0 + one, r0);
            r1 = Vector512.ConditionalSelect(Vector512.LessThan(e, g1), r1 + one, r1);
            r2 = Vector512.ConditionalSelect(Vector512.LessThan(e, g2), r2 + one, r2);
            r3 = Vector512.ConditionalSelect(Vector512.LessThan(e, g3), r3 + one, r3);
        }
        r0.Store(rank);
        r1.Store(rank + 16);
        r2.Store(rank + 32);
        r3.Store(rank + 48);
    }

    /// <summary>
    /// Each slot's entries (member[slotStart[j] ..]) in ascending order to the same stretch of <paramref name="sorted"/>,
    /// or where <see cref="Ranked"/>, left in place with their ranks in that stretch of <paramref name="ranks"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining), SkipLocalsInit]
    private static unsafe void OrderSlots(uint* member, uint* sorted, uint* ranks, int* slotStart, int slots)
    {
        for (int j = 0; j < slots; j++)
        {
            int start = slotStart[j], length = slotStart[j + 1] - start;
            if (length <= MaxInsertion)
            {
                // one whole-vector copy (no loop to mispredict): its overhang lies in later slots' stretches, written after
                Vector512.Load(member + start).Store(sorted + start);
                InsertionSort(sorted + start, length);
            }
            else if (length <= MaxRankCount) RankStore(member + start, length, ranks + start);
            else
            {
                new Span<uint>(member + start, length).CopyTo(new Span<uint>(sorted + start, length));
                new Span<uint>(sorted + start, length).Sort(); // (key, index): no two equal
            }
        }
    }

    /// <summary>Sorts a few entries in place (edge buckets of at most <see cref="MaxInsertion"/> members).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void InsertionSort(uint* a, int length)
    {
        for (int i = 1; i < length; i++)
        {
            uint e = a[i];
            int j = i - 1;
            while (j >= 0 && a[j] > e) { a[j + 1] = a[j]; j--; }
            a[j + 1] = e;
        }
    }

    /// <summary>Inclusive prefix sums of 32 counts in place, plus <paramref name="carry"/> (all lanes); returns the last sum in all lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<short> PrefixSums(ushort* counts, Vector512<short> carry)
    {
        var x = Vector512.Load((short*)counts);
        var zero = Vector512<short>.Zero;
        var lane = Vector512<short>.Indices;
        // lane j gains lane j - d; below d the index wraps to 64 + j - d >= 48, the zero table
        x += Avx512BW.PermuteVar32x16x2(x, lane - Vector512.Create((short)1), zero);
        x += Avx512BW.PermuteVar32x16x2(x, lane - Vector512.Create((short)2), zero);
        x += Avx512BW.PermuteVar32x16x2(x, lane - Vector512.Create((short)4), zero);
        x += Avx512BW.PermuteVar32x16x2(x, lane - Vector512.Create((short)8), zero);
        x += Avx512BW.PermuteVar32x16x2(x, lane - Vector512.Create((short)16), zero);
        x += carry;
        x.Store((short*)counts);
        return Avx512BW.PermuteVar32x16(x, Vector512.Create((short)31));
    }

    private static uint MinLane(Vector512<uint> v)
    {
        var h = Vector256.Min(v.GetLower(), v.GetUpper());
        var q = Vector128.Min(h.GetLower(), h.GetUpper());
        q = Vector128.Min(q, Vector128.Shuffle(q, Vector128.Create(2u, 3, 0, 1)));
        return Math.Min(q.ToScalar(), q.GetElement(1));
    }

    private static uint MaxLane(Vector512<uint> v)
    {
        var h = Vector256.Max(v.GetLower(), v.GetUpper());
        var q = Vector128.Max(h.GetLower(), h.GetUpper());
        q = Vector128.Max(q, Vector128.Shuffle(q, Vector128.Create(2u, 3, 0, 1)));
        return Math.Max(q.ToScalar(), q.GetElement(1));
    }

    /// <summary>True: the byte table per bucket even with AVX-512 VBMI2, on this thread (tests compare the two).</summary>
    [ThreadStatic] internal static bool ForceTableLookUp;

    /// <summary>Bytes of each layout scratch (bins * stride: 3 KB at S = 2048, B = 16).</summary>
    private const int LayoutScratch = 4096;

    /// <summary>
    /// The look-up pass, 64 samples at a time: bucket = key >> Shift on 16-bit lanes, its code = the number of edge
    /// buckets below it by a 4-step branch-free search of the sorted edge buckets (vpermw), Member | that count (the
    /// bucket's first edge) where it equals one; the members listed in index order. Returns the members listed.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static unsafe int LookUp(uint* keys, int n, int bins, int* edgeBucket, int edges, ref byte code0, Span<byte> rowCodes, int* listed, int listedCapacity)
    {
        short* e = stackalloc short[32];
        for (int k = 0; k < 32; k++) e[k] = k < edges ? (short)edgeBucket[k] : short.MaxValue; // above every bucket
        var ev = new EdgeTables(Vector512.Load(e));
        var highWords = Vector512<short>.Indices * 2 + Vector512<short>.One;
        var rowScale = Vector512.Create((short)bins);
        var evenBytes = Vector512<byte>.Indices * 2; // the low bytes of two word vectors, in order (vpermt2b)
        bool rows = !rowCodes.IsEmpty;
        int count = 0, full = n & ~63;
        bool overfilled = false;
        for (int i = 0; i < full; i += 64)
        {
            var k0 = Vector512.Load(keys + i).AsInt16();
            var k1 = Vector512.Load(keys + i + 16).AsInt16();
            var k2 = Vector512.Load(keys + i + 32).AsInt16();
            var k3 = Vector512.Load(keys + i + 48).AsInt16();
            var c0 = Code(Vector512.ShiftRightLogical(Avx512BW.PermuteVar32x16x2(k0, highWords, k1).AsUInt16(), Shift - 16).AsInt16(), ev);
            var c1 = Code(Vector512.ShiftRightLogical(Avx512BW.PermuteVar32x16x2(k2, highWords, k3).AsUInt16(), Shift - 16).AsInt16(), ev);
            var c = Avx512Vbmi.PermuteVar64x8x2(c0.AsByte(), evenBytes, c1.AsByte());
            c.StoreUnsafe(ref code0, (nuint)i);
            if (rows) // members' entries are rewritten once their code is known
                Avx512Vbmi.PermuteVar64x8x2((c0 * rowScale).AsByte(), evenBytes, (c1 * rowScale).AsByte()).StoreUnsafe(ref rowCodes[0], (nuint)i);
            // no call in this loop (it would cost vector spills): an overfilled list is flagged, its writes kept inside
            // it, and the flag thrown after the loop
            ulong members = c.ExtractMostSignificantBits();
            bool over = count + BitOperations.PopCount(members) > listedCapacity;
            overfilled |= over;
            for (ulong m = over ? 0 : members; m != 0; m &= m - 1) listed[count++] = i + BitOperations.TrailingZeroCount(m);
        }
        if (overfilled) throw Overfilled("edge-bucket member list");
        for (int i = full; i < n; i++)
        {
            int b = (int)(keys[i] >> Shift), code = 0;
            while (code < edges && edgeBucket[code] < b) code++;
            bool member = code < edges && edgeBucket[code] == b;
            Unsafe.Add(ref code0, i) = member ? (byte)(Member | code) : (byte)code;
            if (rows) rowCodes[i] = (byte)(code * bins);
            if (member) { if (count == listedCapacity) throw Overfilled("edge-bucket member list"); listed[count++] = i; }
        }
        return count;
    }

    /// <summary>
    /// The bin-order layout of every sample but the members (codes 0..B-1 as the look-up wrote them), in index order:
    /// per bin, one compress of the lane indices per 64 codes, appended to the bin's stretch of the scratch (its
    /// position in a register), the high bytes filled per 256-sample block afterwards, then the last samples one by
    /// one. Leaves each bin's next free position in <paramref name="next"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit]
    private static unsafe void LayOut(ref byte code0, int n, int bins, byte* lowS, byte* highS, int* next, int stride)
    {
        int full = n & ~63, blocks = (full + 255) >> 8;
        int* blockStart = stackalloc int[LayoutScratch / 256 + 1]; // where the bin stood at sample 256 h (S < LayoutScratch)
        var step = Vector512.Create((byte)64);
        // no call in these loops: a stretch that would overflow (only a wrong code can do it) is flagged, every write
        // kept inside it, and the flag thrown at the end
        bool overfilled = false;
        int* blockStartB = stackalloc int[LayoutScratch / 256 + 1];
        for (int k = 0; k < bins; k += 2)
        {
            // two bins per pass over the codes (an odd last bin: the same bin twice, the same bytes written twice)
            int kb = Math.Min(k + 1, bins - 1);
            var binA = Vector512.Create((byte)k);
            var binB = Vector512.Create((byte)kb);
            var lane = Vector512<byte>.Indices; // sample i mod 256
            int posA = k * stride, lastA = posA + stride - 64; // the last position where a whole-vector store stays inside
            int posB = kb * stride, lastB = posB + stride - 64;
            int takenA = posA, takenB = posB; // pos without the clamp: past last only by a wrong code
            for (int h = 0; h < blocks; h++)
            {
                blockStart[h] = posA;
                blockStartB[h] = posB;
                for (int i = h << 8, end = Math.Min(full, i + 256); i < end; i += 64, lane += step)
                {
                    var codes = Vector512.LoadUnsafe(ref code0, (nuint)i);
                    var maskA = Vector512.Equals(codes, binA);
                    var maskB = Vector512.Equals(codes, binB);
                    posA = Math.Min(posA, lastA);
                    posB = Math.Min(posB, lastB);
                    Avx512Vbmi2.Compress(Vector512<byte>.Zero, maskA, lane).Store(lowS + posA);
                    Avx512Vbmi2.Compress(Vector512<byte>.Zero, maskB, lane).Store(lowS + posB);
                    int foundA = BitOperations.PopCount(maskA.ExtractMostSignificantBits());
                    int foundB = BitOperations.PopCount(maskB.ExtractMostSignificantBits());
                    posA += foundA;
                    takenA += foundA;
                    posB += foundB;
                    takenB += foundB;
                }
            }
            overfilled |= takenA > lastA || takenB > lastB;
            next[k] = Math.Min(posA, lastA);
            next[kb] = Math.Min(posB, lastB);
            for (int kk = k; kk <= kb; kk++)
            {
                int pos = next[kk], last = (kk + 1) * stride - 64;
                int* starts = kk == k ? blockStart : blockStartB;
                // block h's high byte from the bin's start in block h to its start in block h + 1 (whole vectors in
                // ascending order, each overwriting the last one's overhang)
                for (int h = 0; h < blocks; h++)
                {
                    var high = Vector512.Create((byte)h);
                    int to = h + 1 < blocks ? starts[h + 1] : pos;
                    for (int t = starts[h]; t < to; t += 64) high.Store(highS + t);
                }
                for (int i = full; i < n; i++)
                    if (Unsafe.Add(ref code0, i) == kk)
                    {
                        overfilled |= pos > last;
                        pos = Math.Min(pos, last);
                        lowS[pos] = (byte)i;
                        highS[pos++] = (byte)(i >> 8);
                    }
                next[kk] = pos;
            }
        }
        if (overfilled) throw Overfilled("layout of a bin");
    }

    /// <summary>
    /// A stack scratch would overflow: only a wrong code can cause it, and it must fail loudly rather than write past
    /// the scratch.
    /// </summary>
    private static InvalidOperationException Overfilled(string what) =>
        new($"equal-frequency binning: {what} does not hold the samples counted (a code out of range); this is a bug");

    /// <summary>Out of line, so that the message's formatting costs nothing in the loops that check.</summary>
    [MethodImpl(MethodImplOptions.NoInlining), System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowLayout(int bin) => throw Overfilled($"layout of bin {bin}");

    /// <summary>
    /// Position in bin <paramref name="bin"/>'s stretch of the layout scratch for <paramref name="taken"/> more samples,
    /// checked so that a store of <paramref name="store"/> bytes there stays in the stretch (see <see cref="Overfilled"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int Claim(int* next, int bin, int bins, int taken, int stride, int store = 1)
    {
        if ((uint)bin >= (uint)bins || next[bin] + store > (bin + 1) * stride) ThrowLayout(bin);
        int t = next[bin];
        next[bin] = t + taken;
        return t;
    }

    /// <summary>Lower bound of each 16-bit bucket among the 16 sorted edge buckets (4 steps), or Member | it where it is one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Code(Vector512<short> b, EdgeTables t)
    {
        var lo = Vector512.LessThan(t.E7, b) & Vector512.Create((short)8);
        lo = Vector512.ConditionalSelect(Vector512.LessThan(Avx512BW.PermuteVar32x16(t.E3, lo), b), lo + Vector512.Create((short)4), lo);
        lo = Vector512.ConditionalSelect(Vector512.LessThan(Avx512BW.PermuteVar32x16(t.E1, lo), b), lo + Vector512.Create((short)2), lo);
        lo = Vector512.ConditionalSelect(Vector512.LessThan(Avx512BW.PermuteVar32x16(t.E, lo), b), lo + Vector512<short>.One, lo);
        return lo | (Vector512.Equals(Avx512BW.PermuteVar32x16(t.E, lo), b) & Vector512.Create((short)Member));
    }

    /// <summary>The sorted edge buckets, and shifted by 1 and 3 and lane 7 broadcast (the search's steps without index adds).</summary>
    private readonly struct EdgeTables(Vector512<short> e)
    {
        public readonly Vector512<short> E = e;
        public readonly Vector512<short> E1 = Avx512BW.PermuteVar32x16(e, Vector512<short>.Indices + Vector512.Create((short)1));
        public readonly Vector512<short> E3 = Avx512BW.PermuteVar32x16(e, Vector512<short>.Indices + Vector512.Create((short)3));
        public readonly Vector512<short> E7 = Avx512BW.PermuteVar32x16(e, Vector512.Create((short)7));
    }

    /// <summary>The scratch's stretches into the bin-order layout: segment k = bin k's samples, then padding (High 0xFF).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void CopyLayout(int n, int bins, byte* lowS, byte* highS, int stride, Span<byte> gatherLow, Span<byte> gatherHigh)
    {
        var layout = EqualFrequencyBins.Segments.Get(n, bins);
        var segments = layout.SegmentLanes;
        if (gatherLow.Length < EqualFrequencyBins.BinOrderLength(n, bins) || gatherHigh.Length < gatherLow.Length) throw new ArgumentException("gather layout too short");
        ref byte low = ref gatherLow[0], high = ref gatherHigh[0];
        var pad = Vector512<byte>.AllBitsSet;
        for (int k = 0, t = 0; k < bins; t += segments[k++])
        {
            int filled = layout.Starts[k + 1] - layout.Starts[k];
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
