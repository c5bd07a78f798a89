using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlmPruneFast.Information;

/// <summary>
/// One column's samples in bin order, for joint counts without a histogram: as x, its bin k's samples fill segment k
/// (padded to 64 lanes); as y, its codes are look-up chunks of 128. A pair's joint counts are then, per segment of x,
/// y's codes gathered into x's bin order 64 at a time (one two-table byte permute per 256-sample chunk of y's codes
/// packed two per byte, AVX-512 VBMI) and counted per y bin: c_ab = the number of lanes of segment a that hold b. The
/// counts are the same integers as the histogram's, so every MI is the same double. Used where the gather is cheap
/// (S &lt;= <see cref="MaxSamples"/>: its cost grows as S^2/8192 permutes) and B &lt;= 16.
/// </summary>
public sealed class BinOrder
{
    /// <summary>Largest S the gather is used for (measured, pairs part: 0.68 against 0.99 us per pair at S = 2048; at 4096 the histogram is as fast or faster).</summary>
    public const int MaxSamples = 2048;

    /// <summary>
    /// One allocation: the codes padded with zeros to whole 256-byte chunks; per lane t of the bin order its sample i
    /// as Low[t] = i mod 256 and High[t] = i / 256 (0xFF: padding); the codes packed two per byte
    /// (<see cref="PackCodes"/>).
    /// </summary>
    public readonly byte[] Data;
    /// <summary>S, and the lanes of the bin order (segments follow from S and B as in <see cref="EqualFrequencyBins.Count"/>).</summary>
    public readonly int Samples, Lanes, TableLength;
    /// <summary>Where the codes packed two per byte start (sample i: byte i / 2, high nibble when i is odd): <see cref="PackCodes"/>.</summary>
    public readonly int PackedOffset;
    /// <summary>Bytes of the packed codes: S / 2 rounded up to whole 128-byte chunks, and four chunks where <see cref="SumTable16"/> applies.</summary>
    public readonly int PackedLength;

    public BinOrder(int s, int bins)
    {
        Samples = s;
        Lanes = EqualFrequencyBins.BinOrderLength(s, bins);
        TableLength = (s + 255) & ~255;
        PackedOffset = TableLength + 2 * Lanes;
        // SumTable16 holds y's packed codes as four whole 128-byte chunks (zeros past S)
        PackedLength = SumTableApplies(s, bins) ? 512 : TableLength / 2;
        Data = GC.AllocateUninitializedArray<byte>(PackedOffset + PackedLength);
        Data.AsSpan(s, TableLength - s).Clear();
        Data.AsSpan(TableLength + Lanes, Lanes).Fill(0xFF);
        Data.AsSpan(PackedOffset + TableLength / 2, PackedLength - TableLength / 2).Clear();
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

    /// <summary>Bytes of <see cref="WriteLaneMasks"/>' output: per segment a permute index and four masks of 64 lanes.</summary>
    public const int LaneMaskBytes = 16 * 5 * 64;

    /// <summary>
    /// x's side of <see cref="SumTable16"/>, once per x (every pair of a row shares it): per lane t of segment a, from
    /// its sample i (Low, High), the permute index (i mod 256) / 2 and masks (0xFF where set) of i's bit 8 and bit 9
    /// (which of the four chunks), of i odd (the high nibble) and of padding (High 0xFF). Written to a small scratch
    /// that stays in L1 (kept with every column instead, its 5 KB of writes per column cost more than they saved).
    /// </summary>
    public static void WriteLaneMasks(BinOrder x, Span<byte> masks)
    {
        if (x.Lanes != 16 * 64 || masks.Length < LaneMaskBytes) throw new ArgumentException("SumTable16 does not apply to this column");
        ref byte lows = ref x.Data[x.TableLength];
        ref byte highs = ref x.Data[x.TableLength + x.Lanes];
        ref byte m = ref MemoryMarshal.GetReference(masks);
        var one = Vector512<byte>.One;
        var two = Vector512.Create((byte)2);
        for (int a = 0; a < 16; a++, m = ref Unsafe.Add(ref m, 5 * 64))
        {
            var l = Vector512.LoadUnsafe(ref lows, (nuint)(64 * a));
            var h = Vector512.LoadUnsafe(ref highs, (nuint)(64 * a));
            Vector512.ShiftRightLogical(l.AsUInt16(), 1).AsByte().StoreUnsafe(ref m); // the permutes read bits 0-6 only
            Vector512.Equals(h & one, one).StoreUnsafe(ref m, 64);
            Vector512.Equals(h & two, two).StoreUnsafe(ref m, 128);
            Vector512.Equals(l & one, one).StoreUnsafe(ref m, 192);
            Vector512.Equals(h, Vector512<byte>.AllBitsSet).StoreUnsafe(ref m, 256);
        }
    }

    /// <summary>
    /// sum_ab c_ab ln c_ab in units of <see cref="FixedCLogC.Unit"/>, for B = 16 and 64 &lt;= S &lt;= 1024 (every bin one
    /// 64-lane segment, <see cref="SumTableApplies"/>), without a histogram. y's packed codes stay in eight registers;
    /// per segment a of x:
    /// <list type="bullet">
    /// <item>the gather: four permutes, one per chunk, then x's lane masks (<see cref="WriteLaneMasks"/>) pick each
    /// lane's chunk and nibble;</item>
    /// <item>the counts: a byte shuffle turns each code into a one-hot bit (codes 0-7 in one vector, 8-15 in another),
    /// a GF(2) affine transform transposes every 8 lanes x 8 bits block (byte b of a qword: which of its 8 lanes hold
    /// b), a byte permute brings byte b of the 8 qwords into qword b, and a nibble-table popcount with a sum of
    /// absolute differences counts its 64 bits;</item>
    /// <item>the sum: c_ab and c_a,b+8 as one index into <see cref="FixedCLogC.Pairs"/>, looked up after all 16
    /// segments (integer sums: exact in any order, the same as the histogram path's).</item>
    /// </list>
    /// Measured (`plugin-parts`' kernel-only line, all pairs of 172 columns): 117-133 ns per pair, against 152-165 for
    /// a byte compare, mask move and popcount per (a, b) with a double look-up each. Tried without gain: a 128-entry
    /// permute popcount instead of the nibble table, the look-ups of one segment interleaved with the next one's
    /// vector work, a 64-byte aligned (pinned) allocation.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization), SkipLocalsInit] // every count slot is written before it is read
    public static long SumTable16(ReadOnlySpan<byte> xMasks, BinOrder y, FixedCLogC table)
    {
        if (xMasks.Length < LaneMaskBytes || y.PackedLength != 512 || table.Samples != y.Samples)
            throw new ArgumentException("SumTable16 needs x's lane masks, and y and the table for the same S");
        ref long pairs = ref table.Pairs[0]; // every index is c1 * 128 + c2 with c1 + c2 <= 64: inside, unchecked
        ref byte masks = ref MemoryMarshal.GetReference(xMasks);
        ref byte packed = ref y.Data[y.PackedOffset];
        var y0 = Vector512.LoadUnsafe(ref packed); var y1 = Vector512.LoadUnsafe(ref packed, 64);
        var y2 = Vector512.LoadUnsafe(ref packed, 128); var y3 = Vector512.LoadUnsafe(ref packed, 192);
        var y4 = Vector512.LoadUnsafe(ref packed, 256); var y5 = Vector512.LoadUnsafe(ref packed, 320);
        var y6 = Vector512.LoadUnsafe(ref packed, 384); var y7 = Vector512.LoadUnsafe(ref packed, 448);
        var oneHotLow = OneHotLow; var oneHotHigh = OneHotHigh; var nibbleBits = NibbleBits; var regroup = Regroup;
        var diagonal = Vector512.Create(0x8040201008040201UL).AsByte();
        var nibble = Vector512.Create((byte)15);
        Span<ulong> index = stackalloc ulong[16 * 8];
        ref ulong ix = ref MemoryMarshal.GetReference(index);
        for (int a = 0; a < 16; a += 2)
        {
            // two segments per step: their independent chains interleave (measured 127-129 against 137 ns per pair)
            ref byte m = ref Unsafe.Add(ref masks, a * 5 * 64);
            var g = YCodes(ref m, y0, y1, y2, y3, y4, y5, y6, y7, nibble);
            var h = YCodes(ref Unsafe.Add(ref m, 5 * 64), y0, y1, y2, y3, y4, y5, y6, y7, nibble);
            var gl = Count8(Avx512BW.Shuffle(oneHotLow, g), diagonal, regroup, nibbleBits, nibble);
            var hl = Count8(Avx512BW.Shuffle(oneHotLow, h), diagonal, regroup, nibbleBits, nibble);
            var gh = Count8(Avx512BW.Shuffle(oneHotHigh, g), diagonal, regroup, nibbleBits, nibble);
            var hh = Count8(Avx512BW.Shuffle(oneHotHigh, h), diagonal, regroup, nibbleBits, nibble);
            (Vector512.ShiftLeft(gl, 7) | gh).StoreUnsafe(ref ix, (nuint)(8 * a));
            (Vector512.ShiftLeft(hl, 7) | hh).StoreUnsafe(ref ix, (nuint)(8 * a + 8));
        }
        long j0 = 0, j1 = 0, j2 = 0, j3 = 0;
        for (int i = 0; i < 16 * 8; i += 8)
        {
            j0 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i)); j1 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 1));
            j2 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 2)); j3 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 3));
            j0 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 4)); j1 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 5));
            j2 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 6)); j3 += Unsafe.Add(ref pairs, (nint)Unsafe.Add(ref ix, i + 7));
        }
        return (j0 + j1) + (j2 + j3);
    }

    /// <summary>
    /// y's codes at the 64 lanes of one x segment, from its lane masks (<see cref="WriteLaneMasks"/>): the four chunks
    /// permuted by the index, the chunk and nibble picked per lane, padding lanes 0xFF (the one-hot shuffles turn
    /// that into no bit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> YCodes(ref byte m, Vector512<byte> y0, Vector512<byte> y1, Vector512<byte> y2, Vector512<byte> y3,
        Vector512<byte> y4, Vector512<byte> y5, Vector512<byte> y6, Vector512<byte> y7, Vector512<byte> nibble)
    {
        var idx = Vector512.LoadUnsafe(ref m);
        var bit8 = Vector512.LoadUnsafe(ref m, 64);
        var g = Vector512.ConditionalSelect(Vector512.LoadUnsafe(ref m, 128),
            Vector512.ConditionalSelect(bit8, Avx512Vbmi.PermuteVar64x8x2(y6, idx, y7), Avx512Vbmi.PermuteVar64x8x2(y4, idx, y5)),
            Vector512.ConditionalSelect(bit8, Avx512Vbmi.PermuteVar64x8x2(y2, idx, y3), Avx512Vbmi.PermuteVar64x8x2(y0, idx, y1)));
        g = Vector512.ConditionalSelect(Vector512.LoadUnsafe(ref m, 192), Vector512.ShiftRightLogical(g.AsUInt16(), 4).AsByte(), g) & nibble;
        return g | Vector512.LoadUnsafe(ref m, 256);
    }

    /// <summary>
    /// The lanes holding each of 8 codes, from one-hot bytes (bit b: the lane holds code b of the 8): qword b of the
    /// result is the count of code b (0..64).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ulong> Count8(Vector512<byte> oneHot, Vector512<byte> diagonal, Vector512<byte> regroup, Vector512<byte> nibbleBits, Vector512<byte> nibble)
    {
        // qword q, byte b, bit i := bit b of lane 8q + 7 - i (the affine transform with the lanes as its matrix)
        var t = Avx512Vbmi.PermuteVar64x8(Gfni.V512.GaloisFieldAffineTransform(diagonal, oneHot, 0), regroup); // byte 8q + b -> 8b + q
        var bits = Avx512BW.Shuffle(nibbleBits, t & nibble) + Avx512BW.Shuffle(nibbleBits, Vector512.ShiftRightLogical(t.AsUInt16(), 4).AsByte() & nibble);
        return Avx512BW.SumAbsoluteDifferences(bits, Vector512<byte>.Zero).AsUInt64();
    }

    /// <summary>Code c -> its bit in the codes 0-7 byte, and in the codes 8-15 byte (byte-shuffle tables, per 128-bit lane).</summary>
    private static readonly Vector512<byte> OneHotLow = Vector512.Create(Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0));
    private static readonly Vector512<byte> OneHotHigh = Vector512.Create(Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128));
    /// <summary>Bits set in a nibble.</summary>
    private static readonly Vector512<byte> NibbleBits = Vector512.Create(Vector128.Create((byte)0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4));
    /// <summary>Byte 8b + q takes byte 8q + b (an 8 x 8 byte transpose).</summary>
    private static readonly Vector512<byte> Regroup = Vector512.Create(Enumerable.Range(0, 64).Select(p => (byte)(8 * (p % 8) + p / 8)).ToArray());

    /// <summary>
    /// Where <see cref="SumTable16"/> applies: AVX-512 VBMI and GFNI, B = 16, every bin's samples in one 64-lane
    /// segment (S &lt;= 1024), and a table that holds every count of a segment (S &gt;= 64).
    /// </summary>
    public static bool SumTableApplies(int s, int bins) => Avx512Vbmi.IsSupported && Gfni.V512.IsSupported && bins == 16 && s >= 64 && s <= 64 * bins;

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
