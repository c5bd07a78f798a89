using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// Equal-frequency codes by selecting the B-1 edges instead of sorting: edge k is the sample at stable rank
/// ceil(kS/B) (order by value, ties by index, -0 = +0), and code(s) = the number of edges at or below s in that order,
/// the same code <see cref="EqualFrequencyBins"/> gives. One counting pass over a 14-bit prefix of the order-preserving
/// key (1/32 of an octave; no scatter) finds each edge's bucket and its rank inside it; only those buckets' members
/// (a few samples each on continuous data) are sorted by (key, index); then one vector pass counts, per sample, the
/// edge keys it reaches. A sample whose key equals an edge's key but comes before it by index is one lower: fixed up
/// from the sorted members. Applies with AVX-512, 2B &lt;= S &lt; 65536 and B &lt;= 16; declines (returns false, nothing
/// written) when an edge's bucket holds more than <see cref="MaxBucket"/> samples (long ties, peaked data).
/// </summary>
internal static class EqualFrequencyEdges
{
    private const int Shift = 18, Buckets = 1 << (32 - Shift);
    /// <summary>Largest edge bucket resolved here; beyond it the radix path is cheaper.</summary>
    public const int MaxBucket = 48;

    public static bool Applies(int s, int bins) =>
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported && bins >= 2 && bins <= 16 && s >= 2 * bins && s < 65536;

    /// <summary>
    /// Writes the codes (and bin * B to rowCodes unless empty) and returns true, or returns false (nothing written) when
    /// the column's edge buckets are too full. <paramref name="constant"/>: every value equal (never, when true is returned).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit] // the 48 KB of tables are cleared or written before use
    public static unsafe bool TryCompute(ReadOnlySpan<float> v, int bins, Span<byte> codes, Span<byte> rowCodes)
    {
        int n = v.Length;
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
            var top = Vector512.Create(0x8000_0000u);
            int full = n & ~15;
            for (int i = 0; i < full; i += 16)
            {
                var b = (Vector512.LoadUnsafe(ref x, (nuint)i) + Vector512<float>.Zero).AsUInt32();
                var key = b ^ (Vector512.ShiftRightArithmetic(b.AsInt32(), 31).AsUInt32() | top);
                key.StoreUnsafe(ref keys, (nuint)i);
                lowV = Vector512.Min(lowV, key);
                highV = Vector512.Max(highV, key);
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
            // bucket counts over the occupied range only (16-aligned for the block sums)
            int b0 = (int)(low >> Shift) & ~15, b1 = ((int)(high >> Shift) | 15) + 1;
            ushort* hist = stackalloc ushort[Buckets];
            new Span<ushort>(hist + b0, b1 - b0).Clear();
            for (int i = 0; i < n; i++) hist[Unsafe.Add(ref keys, i) >> Shift]++;
            // each edge's bucket and its rank inside it (edges ascend, so one walk)
            int edges = bins - 1;
            int* edgeBucket = stackalloc int[16];
            int* edgeRank = stackalloc int[16];
            int bucket = b0, below = 0;
            for (int k = 1; k <= edges; k++)
            {
                int p = (int)(((long)k * n + bins - 1) / bins);
                // whole blocks of 16 buckets first
                while ((bucket & 15) == 0 && bucket + 16 <= b1)
                {
                    int sum = (int)Vector256.Sum(Vector256.WidenLower(Vector256.Load(hist + bucket))) + (int)Vector256.Sum(Vector256.WidenUpper(Vector256.Load(hist + bucket)));
                    if (below + sum > p) break;
                    below += sum;
                    bucket += 16;
                }
                while (below + hist[bucket] <= p) below += hist[bucket++];
                if (hist[bucket] > MaxBucket) return false;
                edgeBucket[k - 1] = bucket;
                edgeRank[k - 1] = p - below;
            }
            // the members of the edge buckets, grouped by bucket, as (key, index); slotOf is read only at edge buckets
            byte* slotOf = stackalloc byte[Buckets];
            int* slotStart = stackalloc int[17];
            int slots = 0, members = 0;
            for (int k = 0; k < edges; k++)
            {
                if (k > 0 && edgeBucket[k] == edgeBucket[k - 1]) continue;
                slotOf[edgeBucket[k]] = (byte)(slots + 1);
                slotStart[slots++] = members;
                members += hist[edgeBucket[k]];
            }
            slotStart[slots] = members;
            ulong* member = stackalloc ulong[16 * MaxBucket];
            int* fill = stackalloc int[16];
            for (int j = 0; j < slots; j++) fill[j] = slotStart[j];
            var wanted = stackalloc Vector512<uint>[16];
            for (int k = 0, j = 0; k < edges; k++)
                if (k == 0 || edgeBucket[k] != edgeBucket[k - 1]) wanted[j++] = Vector512.Create((uint)edgeBucket[k]);
            for (int i = 0; i < full; i += 16)
            {
                var bv = Vector512.ShiftRightLogical(Vector512.LoadUnsafe(ref keys, (nuint)i), Shift);
                var hit = Vector512.Equals(bv, wanted[0]);
                for (int j = 1; j < slots; j++) hit |= Vector512.Equals(bv, wanted[j]);
                ulong mask = hit.ExtractMostSignificantBits();
                while (mask != 0)
                {
                    int s = i + BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    uint key = Unsafe.Add(ref keys, s);
                    member[fill[slotOf[key >> Shift] - 1]++] = ((ulong)key << 32) | (uint)s;
                }
            }
            for (int s = full; s < n; s++)
            {
                uint key = Unsafe.Add(ref keys, s);
                int slot = slotOf[key >> Shift];
                if (slot != 0) member[fill[slot - 1]++] = ((ulong)key << 32) | (uint)s;
            }
            for (int j = 0; j < slots; j++) new Span<ulong>(member + slotStart[j], slotStart[j + 1] - slotStart[j]).Sort();
            // the edges as (key, index), from their bucket's sorted members
            uint* edgeKey = stackalloc uint[16];
            int* edgeIndex = stackalloc int[16];
            int* edgeSlot = stackalloc int[16];
            for (int k = 0, j = -1; k < edges; k++)
            {
                if (k == 0 || edgeBucket[k] != edgeBucket[k - 1]) j++;
                ulong e = member[slotStart[j] + edgeRank[k]];
                edgeKey[k] = (uint)(e >> 32);
                edgeIndex[k] = (int)(uint)e;
                edgeSlot[k] = j;
            }
            // code = the number of edge keys at or below the sample's key
            var edgeV = stackalloc Vector512<uint>[16];
            for (int k = 0; k < edges; k++) edgeV[k] = Vector512.Create(edgeKey[k]);
            ref byte code0 = ref codes[0];
            bool rows = !rowCodes.IsEmpty;
            var scale = Vector512.Create((uint)bins);
            for (int i = 0; i < full; i += 16)
            {
                var key = Vector512.LoadUnsafe(ref keys, (nuint)i);
                var c = Vector512<uint>.Zero;
                for (int k = 0; k < edges; k++) c -= Vector512.GreaterThanOrEqual(key, edgeV[k]);
                Avx512F.ConvertToVector128Byte(c).StoreUnsafe(ref code0, (nuint)i);
                if (rows) Avx512F.ConvertToVector128Byte(c * scale).StoreUnsafe(ref rowCodes[0], (nuint)i);
            }
            for (int s = full; s < n; s++)
            {
                uint key = Unsafe.Add(ref keys, s);
                int c = 0;
                for (int k = 0; k < edges; k++) c += key >= edgeKey[k] ? 1 : 0;
                Unsafe.Add(ref code0, s) = (byte)c;
                if (rows) rowCodes[s] = (byte)(c * bins);
            }
            // ties at an edge: equal keys before it by index are below it
            for (int k = 0; k < edges; k++)
            {
                int j = edgeSlot[k];
                for (int m = slotStart[j]; m < slotStart[j + 1]; m++)
                {
                    ulong e = member[m];
                    if ((uint)(e >> 32) != edgeKey[k] || (int)(uint)e >= edgeIndex[k]) continue;
                    int s = (int)(uint)e;
                    Unsafe.Add(ref code0, s)--;
                    if (rows) rowCodes[s] = (byte)(Unsafe.Add(ref code0, s) * bins);
                }
            }
            return true;
        }
        finally
        {
            pool.Return(keyArray);
        }
    }
}
