using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// One column's samples in bin order, for joint counts without a histogram: as x, its bin k's samples fill segment k
/// (padded to 64 lanes); as y, its codes are look-up chunks of 128. A pair's joint counts are then, per segment of x,
/// y's codes gathered into x's bin order 64 at a time (one two-table byte permute per 128-sample chunk of y, AVX-512
/// VBMI) and counted per y bin by byte compare and popcount: c_ab = the number of lanes of segment a that hold b. The
/// counts are the same integers as the histogram's, so every MI is the same double. Used where the gather is cheap
/// (S &lt;= <see cref="MaxSamples"/>: its cost grows as S^2/8192 permutes) and B &lt;= 16.
/// </summary>
public sealed class BinOrder
{
    /// <summary>Largest S the gather is used for (measured, pairs part: 0.68 against 0.99 us per pair at S = 2048; at 4096 the histogram is as fast or faster).</summary>
    public const int MaxSamples = 2048;

    /// <summary>
    /// One allocation: the codes padded with zeros to whole 256-byte chunks (<see cref="Table"/>), then per lane t of the
    /// bin order its sample i as Low[t] = i mod 256 (the permute reads bits 0-6, bit 7 picks a chunk of a pair) and
    /// High[t] = i / 256 (0xFF: padding).
    /// </summary>
    public readonly byte[] Data;
    /// <summary>S, and the lanes of the bin order (segments follow from S and B as in <see cref="EqualFrequencyBins.Count"/>).</summary>
    public readonly int Samples, Lanes, TableLength;

    public BinOrder(int s, int bins)
    {
        Samples = s;
        Lanes = EqualFrequencyBins.BinOrderLength(s, bins);
        TableLength = (s + 255) & ~255;
        Data = GC.AllocateUninitializedArray<byte>(TableLength + 2 * Lanes);
        Data.AsSpan(s, TableLength - s).Clear();
        Data.AsSpan(TableLength + Lanes, Lanes).Fill(0xFF);
    }

    public Span<byte> Codes => Data.AsSpan(0, Samples);
    public Span<byte> Low => Data.AsSpan(TableLength, Lanes);
    public Span<byte> High => Data.AsSpan(TableLength + Lanes, Lanes);

    public static bool Applies(int s, int bins) => Avx512Vbmi.IsSupported && bins <= 16 && s <= MaxSamples;

    /// <summary>Joint counts h[a*B + b] (h cleared by the caller) of x's bins a and y's bins b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void JointCounts(BinOrder x, BinOrder y, int bins, Span<int> h)
    {
        int s = x.Samples, chunkPairs = y.TableLength / 256;
        if (y.Samples != s || x.Lanes != y.Lanes || h.Length < bins * bins) throw new ArgumentException("columns differ in length");
        var segments = EqualFrequencyBins.Segments.Get(s, bins).SegmentLanes;
        ref byte low = ref x.Data[x.TableLength];
        ref byte high = ref x.Data[x.TableLength + x.Lanes];
        ref byte table = ref y.Data[0];
        int lane = 0;
        for (int a = 0; a < bins; a++)
        {
            int segment = segments[a];
            ref int row = ref h[a * bins];
            for (int end = lane + segment; lane < end; lane += 64)
            {
                var g = Gather(ref table, chunkPairs, Vector512.LoadUnsafe(ref low, (nuint)lane), Vector512.LoadUnsafe(ref high, (nuint)lane));
                if (bins == 16) Count16(g, ref row);
                else
                {
                    var bv = Vector512<byte>.Zero;
                    for (int b = 0; b < bins; b++, bv += Vector512<byte>.One)
                        Unsafe.Add(ref row, b) += BitOperations.PopCount(Vector512.Equals(g, bv).ExtractMostSignificantBits());
                }
            }
        }
    }

    /// <summary>
    /// y's codes at 64 lanes of x's bin order: each pair of 128-byte chunks (2c, 2c+1) is permuted by the low 7 bits of
    /// Low, bit 7 picks the chunk of the pair and High (= i / 256) the pair; padding lanes (High 0xFF) stay 0xFF.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Gather(ref byte table, int chunkPairs, Vector512<byte> idx, Vector512<byte> hi)
    {
        var odd = Vector512.LessThan(idx.AsSByte(), Vector512<sbyte>.Zero).AsByte();
        var g = Vector512<byte>.AllBitsSet;
        var pair = Vector512<byte>.Zero;
        for (int c = 0; c < chunkPairs; c++, pair += Vector512<byte>.One)
        {
            ref byte t = ref Unsafe.Add(ref table, c * 256);
            var even = Avx512Vbmi.PermuteVar64x8x2(Vector512.LoadUnsafe(ref t), idx, Vector512.LoadUnsafe(ref t, 64));
            var odds = Avx512Vbmi.PermuteVar64x8x2(Vector512.LoadUnsafe(ref t, 128), idx, Vector512.LoadUnsafe(ref t, 192));
            g = Vector512.ConditionalSelect(Vector512.Equals(hi, pair), Vector512.ConditionalSelect(odd, odds, even), g);
        }
        return g;
    }

    /// <summary>row[b] += lanes of g equal to b, b = 0..15 (unrolled: constant compares).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count16(Vector512<byte> g, ref int row)
    {
        row += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)0)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 1) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)1)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 2) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)2)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 3) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)3)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 4) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)4)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 5) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)5)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 6) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)6)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 7) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)7)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 8) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)8)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 9) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)9)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 10) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)10)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 11) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)11)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 12) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)12)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 13) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)13)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 14) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)14)).ExtractMostSignificantBits());
        Unsafe.Add(ref row, 15) += BitOperations.PopCount(Vector512.Equals(g, Vector512.Create((byte)15)).ExtractMostSignificantBits());
    }
}
