namespace LlmPruneFast.Information;

/// <summary>Per-column helpers shared by the estimators: stable ranks, constancy, moments, digamma and c*ln(c) tables.</summary>
internal static class ColumnMath
{
    /// <summary>
    /// 0-based STABLE ranks: rank[s] = position of sample s when samples are sorted by value, ties broken by index
    /// (numpy's <c>argsort(kind="stable")</c> inverted). -0 and +0 compare equal. Also returns the sorting order.
    /// </summary>
    public static void StableRanks(ReadOnlySpan<float> v, Span<int> rank, Span<int> order)
    {
        int n = v.Length;
        var keys = System.Buffers.ArrayPool<ulong>.Shared.Rent(n);
        try
        {
            for (int s = 0; s < n; s++) keys[s] = ((ulong)SortableBits(v[s]) << 32) | (uint)s;
            Array.Sort(keys, 0, n);
            for (int p = 0; p < n; p++)
            {
                int s = (int)(uint)keys[p];
                order[p] = s;
                rank[s] = p;
            }
        }
        finally { System.Buffers.ArrayPool<ulong>.Shared.Return(keys); }
    }

    /// <summary>Maps a finite float to a uint whose unsigned order equals the float order (-0 folded onto +0).</summary>
    public static uint SortableBits(float x)
    {
        if (x == 0f) x = 0f;
        uint b = BitConverter.SingleToUInt32Bits(x);
        return (b & 0x8000_0000u) != 0 ? ~b : b | 0x8000_0000u;
    }

    /// <summary>True when every value equals the first (such a column carries no information; its MI is 0).</summary>
    public static bool IsConstant(ReadOnlySpan<float> v)
    {
        float first = v[0];
        return System.Numerics.Tensors.TensorPrimitives.Max(v) == first && System.Numerics.Tensors.TensorPrimitives.Min(v) == first;
    }

    /// <summary>Population standard deviation (ddof 0) in float64, two-pass.</summary>
    public static double StdDdof0(ReadOnlySpan<float> v)
    {
        double mean = 0;
        for (int i = 0; i < v.Length; i++) mean += v[i];
        mean /= v.Length;
        double ss = 0;
        for (int i = 0; i < v.Length; i++) { double d = v[i] - mean; ss += d * d; }
        return Math.Sqrt(ss / v.Length);
    }

    /// <summary>psi(n) for n = 0..max (psi(0) unused, set to -inf): psi(1) = -EulerGamma, psi(n+1) = psi(n) + 1/n. Cached per max.</summary>
    public static double[] DigammaTable(int max) => Cached(DigammaCache, max, BuildDigamma);

    /// <summary>c*ln(c) for c = 0..max (0*ln 0 = 0). Cached per max; callers must not write to it.</summary>
    public static double[] CLogCTable(int max) => Cached(CLogCCache, max, BuildCLogC);

    private static readonly Dictionary<int, double[]> DigammaCache = [], CLogCCache = [];

    private static double[] Cached(Dictionary<int, double[]> cache, int max, Func<int, double[]> build)
    {
        lock (cache)
        {
            if (!cache.TryGetValue(max, out var t))
            {
                if (cache.Count > 16) cache.Clear();
                cache[max] = t = build(max);
            }
            return t;
        }
    }

    private static double[] BuildDigamma(int max)
    {
        var t = new double[max + 1];
        t[0] = double.NegativeInfinity;
        if (max >= 1) t[1] = -0.57721566490153286061;
        for (int n = 1; n < max; n++) t[n + 1] = t[n] + 1.0 / n;
        return t;
    }

    private static double[] BuildCLogC(int max)
    {
        var t = new double[max + 1];
        for (int c = 1; c <= max; c++) t[c] = c * Math.Log(c);
        return t;
    }

    /// <summary>Throws <see cref="BadDataException"/> naming the vector and row of the first NaN/Inf.</summary>
    public static void EnsureFinite(ReadOnlySpan<float> v, string name)
    {
        int bad = ActivationMatrix.FirstNonFinite(v);
        if (bad >= 0) throw new BadDataException($"{name} has {ActivationMatrix.Describe(v[bad])} at row {bad}");
    }
}
