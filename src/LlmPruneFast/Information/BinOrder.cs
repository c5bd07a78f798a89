using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// One column's samples in bin order, for joint counts without a histogram: as x, its bin k's samples fill segment k
/// (padded to 64 lanes); as y, its codes are look-up chunks of 128. A pair's joint counts are then, per segment of x,
/// y's codes gathered into x's bin order 64 at a time (one two-table byte permute per 256-sample chunk of y's codes packed two per byte, AVX-512
/// VBMI) and counted per y bin by byte compare and popcount: c_ab = the number of lanes of segment a that hold b. The
/// counts are the same integers as the histogram's, so every MI is the same double. Used where the gather is cheap
/// (S &lt;= <see cref="MaxSamples"/>: its cost grows as S^2/8192 permutes) and B &lt;= 16.
/// </summary>
public sealed class BinOrder
{
    /// <summary>Largest S the gather is used for (measured, pairs part: 0.68 against 0.99 us per pair at S = 2048; at 4096 the histogram is as fast or faster).</summary>
    public const int MaxSamples = 2048;

    /// <summary>
    /// One allocation: the codes padded with zeros to whole 256-byte chunks, then per lane t of the
    /// bin order its sample i as Low[t] = i mod 256 and High[t] = i / 256 (0xFF: padding), then the codes packed two
    /// per byte (<see cref="PackCodes"/>).
    /// </summary>
    public readonly byte[] Data;
    /// <summary>S, and the lanes of the bin order (segments follow from S and B as in <see cref="EqualFrequencyBins.Count"/>).</summary>
    public readonly int Samples, Lanes, TableLength;
    /// <summary>Where the codes packed two per byte start (sample i: byte i / 2, high nibble when i is odd): <see cref="PackCodes"/>.</summary>
    public readonly int PackedOffset;

    public BinOrder(int s, int bins)
    {
        Samples = s;
        Lanes = EqualFrequencyBins.BinOrderLength(s, bins);
        TableLength = (s + 255) & ~255;
        PackedOffset = TableLength + 2 * Lanes;
        Data = GC.AllocateUninitializedArray<byte>(PackedOffset + TableLength / 2);
        Data.AsSpan(s, TableLength - s).Clear();
        Data.AsSpan(TableLength + Lanes, Lanes).Fill(0xFF);
    }

    public Span<byte> Codes => Data.AsSpan(0, Samples);
    public Span<byte> Low => Data.AsSpan(TableLength, Lanes);
    public Span<byte> High => Data.AsSpan(TableLength + Lanes, Lanes);

    /// <summary>
    /// Packs the codes (written to <see cref="Codes"/>) two per byte, so that one 128-byte permute covers 256 samples
    /// (half the permutes and table loads per gather).
    /// </summary>
    public void PackCodes()
    {
        ref byte codes = ref Data[0];
        ref byte packed = ref Data[PackedOffset];
        var low = Vector512.Create((ushort)0x000F);
        var high = Vector512.Create((ushort)0x00F0);
        for (int i = 0; i < TableLength; i += 128)
        {
            // word = even | odd << 8 (codes < 16) -> even | odd << 4
            var w0 = Vector512.LoadUnsafe(ref codes, (nuint)i).AsUInt16();
            var w1 = Vector512.LoadUnsafe(ref codes, (nuint)i + 64).AsUInt16();
            var p0 = (w0 & low) | (Vector512.ShiftRightLogical(w0, 4) & high);
            var p1 = (w1 & low) | (Vector512.ShiftRightLogical(w1, 4) & high);
            Vector512.Create(Avx512BW.ConvertToVector256Byte(p0), Avx512BW.ConvertToVector256Byte(p1)).StoreUnsafe(ref packed, (nuint)(i / 2));
        }
    }

    public static bool Applies(int s, int bins) => Avx512Vbmi.IsSupported && bins <= 16 && s <= MaxSamples;

    /// <summary>Joint counts h[a*B + b] (h cleared by the caller) of x's bins a and y's bins b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void JointCounts(BinOrder x, BinOrder y, int bins, Span<int> h)
    {
        int s = x.Samples, chunks = y.TableLength / 256;
        if (y.Samples != s || x.Lanes != y.Lanes || h.Length < bins * bins) throw new ArgumentException("columns differ in length");
        var segments = EqualFrequencyBins.Segments.Get(s, bins).SegmentLanes;
        ref byte low = ref x.Data[x.TableLength];
        ref byte high = ref x.Data[x.TableLength + x.Lanes];
        ref byte table = ref y.Data[y.PackedOffset];
        int lane = 0;
        for (int a = 0; a < bins; a++)
        {
            int segment = segments[a];
            ref int row = ref h[a * bins];
            for (int end = lane + segment; lane < end; lane += 64)
            {
                var g = Gather(ref table, chunks, Vector512.LoadUnsafe(ref low, (nuint)lane), Vector512.LoadUnsafe(ref high, (nuint)lane));
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
    /// sum_ab table[c_ab] for B = 16 and 64 &lt;= S &lt;= 1024 (every bin one 64-lane segment, <see cref="SumTableApplies"/>),
    /// without storing the joint counts: per segment of x, y's 16 counts go straight from compare and popcount to the
    /// table. The look-ups are added into four running sums by b mod 4, cell by cell in the order
    /// <see cref="PluginEstimator"/> sums a stored histogram (cell a*16 + b into sum b mod 4), so the result is the
    /// same double. Measured (plugin-parts, S = 1024): 0.18-0.19 against 0.27-0.29 us per pair for the counts and the sum.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumTable16(BinOrder x, BinOrder y, double[] table)
    {
        int s = x.Samples, chunks = y.TableLength / 256;
        if (y.Samples != s || x.Lanes != y.Lanes || x.Lanes != 16 * 64) throw new ArgumentException("columns differ in length");
        if (table.Length <= Math.Max(s, 64)) throw new ArgumentException("c ln c table shorter than the counts");
        ref double t = ref table[0]; // every count is a popcount of 64 lanes, 0..64: inside the table, unchecked
        ref byte low = ref x.Data[x.TableLength];
        ref byte high = ref x.Data[x.TableLength + x.Lanes];
        ref byte packed = ref y.Data[y.PackedOffset];
        double j0 = 0, j1 = 0, j2 = 0, j3 = 0;
        for (int lane = 0; lane < 16 * 64; lane += 64)
        {
            var g = Gather(ref packed, chunks, Vector512.LoadUnsafe(ref low, (nuint)lane), Vector512.LoadUnsafe(ref high, (nuint)lane));
            j0 += Unsafe.Add(ref t, Count(g, 0)); j1 += Unsafe.Add(ref t, Count(g, 1)); j2 += Unsafe.Add(ref t, Count(g, 2)); j3 += Unsafe.Add(ref t, Count(g, 3));
            j0 += Unsafe.Add(ref t, Count(g, 4)); j1 += Unsafe.Add(ref t, Count(g, 5)); j2 += Unsafe.Add(ref t, Count(g, 6)); j3 += Unsafe.Add(ref t, Count(g, 7));
            j0 += Unsafe.Add(ref t, Count(g, 8)); j1 += Unsafe.Add(ref t, Count(g, 9)); j2 += Unsafe.Add(ref t, Count(g, 10)); j3 += Unsafe.Add(ref t, Count(g, 11));
            j0 += Unsafe.Add(ref t, Count(g, 12)); j1 += Unsafe.Add(ref t, Count(g, 13)); j2 += Unsafe.Add(ref t, Count(g, 14)); j3 += Unsafe.Add(ref t, Count(g, 15));
        }
        return (j0 + j1) + (j2 + j3);
    }

    /// <summary>
    /// Where <see cref="SumTable16"/> applies: B = 16, every bin's samples in one 64-lane segment (S &lt;= 1024), and a
    /// c ln c table that holds every popcount (S &gt;= 64).
    /// </summary>
    public static bool SumTableApplies(int s, int bins) => bins == 16 && s >= 64 && s <= 64 * bins;

    /// <summary>Lanes of g equal to b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Count(Vector512<byte> g, byte b) => BitOperations.PopCount(Vector512.Equals(g, Vector512.Create(b)).ExtractMostSignificantBits());

    /// <summary>
    /// y's codes at 64 lanes of x's bin order from its packed codes: each 128-byte chunk (256 samples) is permuted by
    /// Low / 2, High (= i / 256) picks the chunk and Low's bit 0 the nibble; padding lanes (High 0xFF) come back 0xFF.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Gather(ref byte packed, int chunks, Vector512<byte> low, Vector512<byte> hi)
    {
        // byte (i mod 256) / 2 of chunk i / 256 (the permute reads index bits 0-6; a word shift leaves those right)
        var idx = Vector512.ShiftRightLogical(low.AsUInt16(), 1).AsByte();
        var g = Vector512<byte>.Zero;
        var chunk = Vector512<byte>.Zero;
        for (int c = 0; c < chunks; c++, chunk += Vector512<byte>.One)
        {
            ref byte t = ref Unsafe.Add(ref packed, c * 128);
            g = Vector512.ConditionalSelect(Vector512.Equals(hi, chunk), Avx512Vbmi.PermuteVar64x8x2(Vector512.LoadUnsafe(ref t), idx, Vector512.LoadUnsafe(ref t, 64)), g);
        }
        var nibble = Vector512.Create((byte)15);
        var odd = Vector512.Equals(low & Vector512<byte>.One, Vector512<byte>.One);
        g = Vector512.ConditionalSelect(odd, Vector512.ShiftRightLogical(g.AsUInt16(), 4).AsByte(), g) & nibble;
        return g | Vector512.Equals(hi, Vector512<byte>.AllBitsSet); // padding: 0xFF, counted in no bin
    }

    /// <summary>row[b] += lanes of g equal to b, b = 0..15 (unrolled: constant compares).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Count16(Vector512<byte> g, ref int row)
    {
        row += Count(g, 0);
        Unsafe.Add(ref row, 1) += Count(g, 1);
        Unsafe.Add(ref row, 2) += Count(g, 2);
        Unsafe.Add(ref row, 3) += Count(g, 3);
        Unsafe.Add(ref row, 4) += Count(g, 4);
        Unsafe.Add(ref row, 5) += Count(g, 5);
        Unsafe.Add(ref row, 6) += Count(g, 6);
        Unsafe.Add(ref row, 7) += Count(g, 7);
        Unsafe.Add(ref row, 8) += Count(g, 8);
        Unsafe.Add(ref row, 9) += Count(g, 9);
        Unsafe.Add(ref row, 10) += Count(g, 10);
        Unsafe.Add(ref row, 11) += Count(g, 11);
        Unsafe.Add(ref row, 12) += Count(g, 12);
        Unsafe.Add(ref row, 13) += Count(g, 13);
        Unsafe.Add(ref row, 14) += Count(g, 14);
        Unsafe.Add(ref row, 15) += Count(g, 15);
    }
}
