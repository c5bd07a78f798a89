namespace LlmPruneFast.Information;

/// <summary>
/// c ln c for c = 0..S as whole multiples of 2^-<see cref="Shift"/> (each rounded once). Integer sums of them are
/// exact in any order and grouping, so every plug-in path (histogram, bin order, the two-count table) gives the same
/// MI to the bit, and a kernel may add its cells in whatever order is fastest. Shift keeps the largest possible sum,
/// S ln S (every sample in one cell), under 2^61, so the roundings (half a unit per cell) and the marginal terms
/// subtracted from it stay inside a long; at S = 1024 one unit is 2^-48 (3.6e-15), finer than a double's rounding of
/// a sum near S ln S (9e-13).
/// </summary>
public sealed class FixedCLogC
{
    /// <summary>The largest count <see cref="Pairs"/> covers: one 64-lane segment (<see cref="BinOrder.SumTable16"/>).</summary>
    public const int SegmentLanes = 64;

    public readonly int Samples, Shift;
    /// <summary>2^-Shift: a sum of table entries times this is in nats * samples.</summary>
    public readonly double Unit;
    /// <summary>round(c ln c * 2^Shift), c = 0..S.</summary>
    public readonly long[] Table;

    private long[]? _pairs;

    private FixedCLogC(int s)
    {
        Samples = s;
        double max = s * Math.Log(Math.Max(s, 1));
        Shift = 61 - (int)Math.Ceiling(Math.Log2(max + 1));
        Unit = Math.ScaleB(1.0, -Shift);
        Table = new long[s + 1];
        for (int c = 2; c <= s; c++) Table[c] = (long)Math.Round(Math.ScaleB(c * Math.Log(c), Shift));
    }

    /// <summary>
    /// Table[c1] + Table[c2] at c1 * 128 + c2 for c1 + c2 &lt;= 64 (entries beyond are 0 and never read): two counts of
    /// one 64-lane segment per look-up. 66.5 KB, of which the 2,145 entries in use span about 17 KB.
    /// </summary>
    public long[] Pairs => _pairs ??= BuildPairs();

    private long[] BuildPairs()
    {
        if (Samples < SegmentLanes) throw new InvalidOperationException("the two-count table needs S >= 64");
        var p = new long[(SegmentLanes + 1) * 128];
        for (int a = 0; a <= SegmentLanes; a++)
            for (int b = 0; a + b <= SegmentLanes; b++) p[a * 128 + b] = Table[a] + Table[b];
        return p;
    }

    private static readonly Dictionary<int, FixedCLogC> Cache = [];

    /// <summary>The table for S samples (cached: one per S in use; callers must not write to it).</summary>
    public static FixedCLogC For(int s) => ColumnMath.Cached(Cache, s, n => new FixedCLogC(n));
}
