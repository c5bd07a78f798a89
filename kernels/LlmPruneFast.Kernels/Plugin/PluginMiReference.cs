namespace LlmPruneFast.Kernels.Plugin;

/// <summary>
/// Plain float64 references for the plug-in kernels: equal-frequency codes by sorting, and
/// I = sum_ab p(a,b) ln(p(a,b) / (p(a) p(b))) (nats) from a joint count table and its own marginals.
/// A pair with a constant column (min == max) has MI 0.
/// </summary>
public static class PluginMiReference
{
    /// <summary>Codes [N x S] of a column-major S x N matrix: floor(rank*B/S) with stable 0-based ranks.</summary>
    public static byte[] Codes(ReadOnlySpan<float> columnMajor, int rows, int columns, int bins)
    {
        var ranks = Columns.ColumnRanksReference.Compute(columnMajor, rows, columns);
        var codes = new byte[ranks.Length];
        for (int i = 0; i < ranks.Length; i++) codes[i] = (byte)((long)ranks[i] * bins / rows);
        return codes;
    }

    /// <summary>Plug-in MI (nats) of columns i and j of a column-major matrix, binned with B equal-frequency bins.</summary>
    public static double Pair(ReadOnlySpan<float> columnMajor, int rows, int columns, int bins, int i, int j)
    {
        if (IsConstant(columnMajor.Slice(i * rows, rows)) || IsConstant(columnMajor.Slice(j * rows, rows))) return 0;
        var codes = Codes(columnMajor, rows, columns, bins);
        return FromCodes(codes.AsSpan(i * rows, rows), codes.AsSpan(j * rows, rows), bins, out _);
    }

    /// <summary>
    /// MI (nats) of two code vectors; <paramref name="millerMadowCells"/> = m_a + m_b - m_ab - 1 (occupied marginal
    /// and joint cells), so that the Miller-Madow corrected MI is I + millerMadowCells / (2S).
    /// </summary>
    public static double FromCodes(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, int bins, out int millerMadowCells)
    {
        int s = a.Length;
        var joint = new long[bins, bins];
        var ma = new long[bins];
        var mb = new long[bins];
        for (int t = 0; t < s; t++)
        {
            joint[a[t], b[t]]++;
            ma[a[t]]++;
            mb[b[t]]++;
        }
        double mi = 0;
        int cells = 0, occupiedA = 0, occupiedB = 0;
        for (int x = 0; x < bins; x++)
        {
            if (ma[x] > 0) occupiedA++;
            if (mb[x] > 0) occupiedB++;
            for (int y = 0; y < bins; y++)
            {
                if (joint[x, y] == 0) continue;
                cells++;
                double p = (double)joint[x, y] / s, pa = (double)ma[x] / s, pb = (double)mb[y] / s;
                mi += p * Math.Log(p / (pa * pb));
            }
        }
        millerMadowCells = occupiedA + occupiedB - cells - 1;
        return mi;
    }

    /// <summary>True when every value equals the first.</summary>
    public static bool IsConstant(ReadOnlySpan<float> v)
    {
        foreach (float x in v) if (x != v[0]) return false;
        return true;
    }
}
