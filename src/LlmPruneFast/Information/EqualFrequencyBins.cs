using System.Runtime.CompilerServices;

namespace LlmPruneFast.Information;

/// <summary>
/// Equal-frequency bin codes by STABLE rank: code(s) = floor(rank(s) * B / S), where rank orders samples by value
/// (with AVX-512 and continuous data the edges are selected instead, <see cref="EqualFrequencyEdges"/>; this is the
/// radix path for the rest)
/// with ties broken by index (-0 = +0), exactly as <see cref="ColumnMath.StableRanks"/> would give, without the full
/// sort. A code depends only on which bin's rank range a sample lands in, so the samples are sorted stably by the
/// upper 16 bits of their order-preserving key (two radix passes instead of four); a run of equal prefixes that
/// straddles a bin edge (rare: the prefix resolves values to 1/128 of an octave) is then sorted by the full key and
/// index, which makes every edge exact. Bin k holds ranks ceil(kS/B) .. ceil((k+1)S/B) - 1.
/// </summary>
internal static class EqualFrequencyBins
{
    /// <summary>
    /// Writes each sample's bin (0..B-1) to <paramref name="codes"/>, and bin * B to <paramref name="rowCodes"/> unless
    /// it is empty (B * B &lt;= 256: the joint cell's row offset). Returns true when every value is equal (-0 = +0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Compute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes = default) =>
        Compute(v, bins, codes, rowCodes, default, default);

    /// <summary>
    /// Also, unless <paramref name="gatherLow"/> is empty, the samples in bin order for <see cref="BinOrder"/>: bin k's
    /// samples fill segment k (segments padded to 64 lanes, one after another); lane t holds sample i as
    /// gatherLow[t] = i mod 256 and gatherHigh[t] = i / 256. Padding lanes are left as they are (callers set gatherHigh
    /// to 0xFF there, a chunk no sample has).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool Compute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes, Span<byte> gatherLow, Span<byte> gatherHigh)
    {
        int n = v.Length;
        if (bins < 1 || bins > 256) throw new ArgumentOutOfRangeException(nameof(bins));
        if (codes.Length < n || (!rowCodes.IsEmpty && (rowCodes.Length < n || bins * bins > 256))) throw new ArgumentException("codes shorter than the column");
        if (n == 0) return true;
        if (UseEdgeSelection && EqualFrequencyEdges.TryCompute(v, bins, codes, rowCodes, gatherLow, gatherHigh, out bool written))
        {
            if (!gatherLow.IsEmpty && !written) WriteBinOrder(n, bins, codes, gatherLow, gatherHigh);
            return false;
        }
        var pool = System.Buffers.ArrayPool<ulong>.Shared;
        ulong[] src = pool.Rent(n), dst = pool.Rent(n);
        try
        {
            Span<int> hist = stackalloc int[2 * 256];
            hist.Clear();
            uint low = uint.MaxValue, high = 0;
            for (int s = 0; s < n; s++)
            {
                uint key = ColumnMath.SortableBits(v[s]);
                low = Math.Min(low, key);
                high = Math.Max(high, key);
                src[s] = ((ulong)key << 32) | (uint)s;
                hist[(int)((key >> 16) & 255)]++;
                hist[256 + (int)(key >> 24)]++;
            }
            for (int pass = 0; pass < 2; pass++)
            {
                var h = hist.Slice(pass * 256, 256);
                int shift = 48 + 8 * pass;
                if (h[(int)(src[0] >> shift) & 255] == n) continue; // one digit for all: order unchanged
                for (int d = 0, sum = 0; d < 256; d++) { int c = h[d]; h[d] = sum; sum += c; }
                for (int i = 0; i < n; i++)
                {
                    ulong e = src[i];
                    dst[h[(int)(e >> shift) & 255]++] = e;
                }
                (src, dst) = (dst, src);
            }
            // runs of one prefix that straddle a bin edge: order them by (full key, index)
            int sortedTo = 0;
            for (int k = 1; k < bins; k++)
            {
                int p = (int)(((long)k * n + bins - 1) / bins);
                if (p <= 0 || p >= n || p < sortedTo) continue;
                ulong prefix = src[p] >> 48;
                if (src[p - 1] >> 48 != prefix) continue;
                int g0 = p - 1, g1 = p + 1;
                while (g0 > 0 && src[g0 - 1] >> 48 == prefix) g0--;
                while (g1 < n && src[g1] >> 48 == prefix) g1++;
                src.AsSpan(g0, g1 - g0).Sort();
                sortedTo = g1;
            }
            if (!gatherLow.IsEmpty)
            {
                var segments = Segments.Get(n, bins).SegmentLanes;
                if (gatherLow.Length < BinOrderLength(n, bins) || gatherHigh.Length < gatherLow.Length || n > 256 * 255) throw new ArgumentException("gather layout too short");
                ref byte lowLane = ref gatherLow[0], highLane = ref gatherHigh[0], code0 = ref codes[0];
                for (int k = 0, p = 0, t = 0; k < bins; k++)
                {
                    int end = (int)(((long)(k + 1) * n + bins - 1) / bins), lane = t;
                    byte code = (byte)k;
                    for (; p < end; p++, lane++)
                    {
                        int i = (int)(uint)src[p];
                        Unsafe.Add(ref code0, i) = code;
                        Unsafe.Add(ref lowLane, lane) = (byte)i;
                        Unsafe.Add(ref highLane, lane) = (byte)(i >> 8);
                    }
                    t += segments[k];
                }
                return low == high;
            }
            for (int k = 0, p = 0; k < bins; k++)
            {
                int end = (int)(((long)(k + 1) * n + bins - 1) / bins);
                byte code = (byte)k, row = (byte)(k * bins);
                if (rowCodes.IsEmpty)
                    for (; p < end; p++) codes[(int)(uint)src[p]] = code;
                else
                    for (; p < end; p++) { int i = (int)(uint)src[p]; codes[i] = code; rowCodes[i] = row; }
            }
            return low == high;
        }
        finally
        {
            pool.Return(src);
            pool.Return(dst);
        }
    }

    /// <summary>Off: always the radix path (tests compare the two).</summary>
    internal static bool UseEdgeSelection = true;

    /// <summary>The bin-order layout from finished codes: each bin's samples in index order (the order inside a segment does not change the counts).</summary>
    private static void WriteBinOrder(int n, int bins, ReadOnlySpan<byte> codes, Span<byte> gatherLow, Span<byte> gatherHigh)
    {
        var segments = Segments.Get(n, bins).SegmentLanes;
        if (gatherLow.Length < BinOrderLength(n, bins) || gatherHigh.Length < gatherLow.Length || n > 256 * 255) throw new ArgumentException("gather layout too short");
        Span<int> next = stackalloc int[bins];
        for (int k = 0, t = 0; k < bins; k++) { next[k] = t; t += segments[k]; }
        ref byte lowLane = ref gatherLow[0], highLane = ref gatherHigh[0];
        for (int i = 0; i < n; i++)
        {
            int lane = next[codes[i]]++;
            Unsafe.Add(ref lowLane, lane) = (byte)i;
            Unsafe.Add(ref highLane, lane) = (byte)(i >> 8);
        }
    }

    /// <summary>Lanes of the bin-order layout: every bin's samples padded to a multiple of 64.</summary>
    public static int BinOrderLength(int s, int bins) => Segments.Get(s, bins).Lanes;

    /// <summary>
    /// The bin-order layout of S samples in B bins: lanes per bin (its count rounded up to 64) and their total, and
    /// where each bin's ranks start; the last one asked for is kept, so per-column and per-pair loops do no divisions.
    /// </summary>
    public sealed class Segments
    {
        public readonly int Samples, Bins, Lanes;
        public readonly int[] SegmentLanes;
        /// <summary>The first stable rank of each bin, ceil(kS/B) for k = 0..B (so bin k holds Starts[k + 1] - Starts[k]).</summary>
        public readonly int[] Starts;

        private Segments(int s, int bins)
        {
            Samples = s;
            Bins = bins;
            SegmentLanes = new int[bins];
            Starts = new int[bins + 1];
            for (int k = 0; k <= bins; k++) Starts[k] = (int)(((long)k * s + bins - 1) / bins);
            for (int k = 0; k < bins; k++) Lanes += SegmentLanes[k] = (Starts[k + 1] - Starts[k] + 63) & ~63;
        }

        private static Segments? _last;

        public static Segments Get(int s, int bins)
        {
            var l = _last;
            if (l == null || l.Samples != s || l.Bins != bins) _last = l = new Segments(s, bins);
            return l;
        }
    }

    /// <summary>Samples in bin k: ceil((k+1)S/B) - ceil(kS/B).</summary>
    public static int Count(int k, int s, int bins) =>
        (int)(((long)(k + 1) * s + bins - 1) / bins - ((long)k * s + bins - 1) / bins);
}
