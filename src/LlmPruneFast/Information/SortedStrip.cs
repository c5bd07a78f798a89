using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmPruneFast.Information;

/// <summary>
/// Counting in an ascending array padded with -inf before and +inf after (at least 8 values each side):
/// #{j != c : |a[j] - a[c]| &lt;= rad}, each distance by the same subtraction as the KSG distance (a[j] - a[c] to the
/// right, a[c] - a[j] to the left; IEEE subtraction is sign-symmetric, so both equal |a[c] - a[j]|). The strip's
/// edges are found without data-dependent branches, so that consecutive counts overlap in the core: on distinct pairs
/// the exits of a linear scan and the steps of a galloping search mispredicted, and were most of the counting time.
/// </summary>
internal static class SortedStrip
{
    /// <summary>
    /// The strip count by a branch-free search each side: the edge of the strip within <paramref name="window"/>
    /// (a power of two, at least 16) positions of c is found by halving steps that select with a compare mask instead
    /// of a branch, then one vector compare counts the last block; a strip that reaches past the window gallops on
    /// from there. For machines without <see cref="Vector512"/> hardware (else <see cref="CountWithinTwoLevel"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static int CountWithinSearch(double[] a, int c, double rad, int window)
    {
        ref double ra = ref MemoryMarshal.GetArrayDataReference(a);
        double c0 = Unsafe.Add(ref ra, c);
        int last = a.Length - 1, block = Vector512.IsHardwareAccelerated ? 8 : 4;
        // right: b keeps a[b] - c0 <= rad; the edge R lies in [b, b + h) after the step of h
        int b = c;
        if (c + window <= last)
            for (int h = window >> 1; h >= block; h >>= 1)
            {
                int j = b + h;
                b += (j - b) & LessOrEqualMask(Unsafe.Add(ref ra, j) - c0, rad);
            }
        else
            for (int h = window >> 1; h >= block; h >>= 1)
            {
                int j = Math.Min(b + h, last); // a[last] = +inf: never inside
                b += (j - b) & LessOrEqualMask(Unsafe.Add(ref ra, j) - c0, rad);
            }
        // a ascending: the block's mask is a prefix, its popcount the strip's last steps (b + block <= last: a[b] is finite)
        int right = b + (Vector512.IsHardwareAccelerated
            ? System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref ra, (nuint)(b + 1)) - Vector512.Create(c0), Vector512.Create(rad)).ExtractMostSignificantBits())
            : System.Numerics.BitOperations.PopCount(Vector256.LessThanOrEqual(Vector256.LoadUnsafe(ref ra, (nuint)(b + 1)) - Vector256.Create(c0), Vector256.Create(rad)).ExtractMostSignificantBits()));
        if (right - c >= window) right = GallopRight(a, right, c0, rad);
        // left, mirrored: b keeps c0 - a[b] <= rad
        b = c;
        if (c - window >= 0)
            for (int h = window >> 1; h >= block; h >>= 1)
            {
                int j = b - h;
                b -= (b - j) & LessOrEqualMask(c0 - Unsafe.Add(ref ra, j), rad);
            }
        else
            for (int h = window >> 1; h >= block; h >>= 1)
            {
                int j = Math.Max(b - h, 0); // a[0] = -inf: never inside
                b -= (b - j) & LessOrEqualMask(c0 - Unsafe.Add(ref ra, j), rad);
            }
        int left = b - (Vector512.IsHardwareAccelerated
            ? System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.Create(c0) - Vector512.LoadUnsafe(ref ra, (nuint)(b - 8)), Vector512.Create(rad)).ExtractMostSignificantBits())
            : System.Numerics.BitOperations.PopCount(Vector256.LessThanOrEqual(Vector256.Create(c0) - Vector256.LoadUnsafe(ref ra, (nuint)(b - 4)), Vector256.Create(rad)).ExtractMostSignificantBits()));
        if (c - left >= window) left = GallopLeft(a, left, c0, rad);
        return right - left;
    }

    /// <summary>Entries of -inf before and +inf after the samples of <see cref="EveryEighth"/>.</summary>
    public const int SamplePad = 64;

    /// <summary>
    /// Every 8th value of a padded ascending array (samples[SamplePad + m] = a[8m]), -inf before and +inf after, for
    /// <see cref="CountWithinTwoLevel"/>.
    /// </summary>
    public static double[] EveryEighth(double[] a)
    {
        int m = (a.Length + 7) / 8;
        var samples = new double[m + 2 * SamplePad];
        samples.AsSpan(0, SamplePad).Fill(double.NegativeInfinity);
        for (int i = 0; i < m; i++) samples[SamplePad + i] = a[8 * i];
        samples.AsSpan(SamplePad + m).Fill(double.PositiveInfinity);
        return samples;
    }

    /// <summary>
    /// Every 64th value of a padded ascending array (samples[SamplePad + m] = a[64m]), -inf before and +inf after, for
    /// <see cref="CountWithinTwoLevel"/>.
    /// </summary>
    public static double[] EverySixtyFourth(double[] a)
    {
        int m = (a.Length + 63) / 64;
        var samples = new double[m + 2 * SamplePad];
        samples.AsSpan(0, SamplePad).Fill(double.NegativeInfinity);
        for (int i = 0; i < m; i++) samples[SamplePad + i] = a[64 * i];
        samples.AsSpan(SamplePad + m).Fill(double.PositiveInfinity);
        return samples;
    }

    /// <summary>
    /// The strip count in three 8-wide vector compares each side, no branch: the 64-value blocks inside the
    /// strip from every 64th value (<paramref name="s64"/>), then the 8-value blocks of the edge's 64-block from every
    /// 8th (<paramref name="s8"/>), then the edge's 8 values; a strip reaching 8 blocks of 64 past c's gallops on.
    /// Needs <see cref="Vector512"/> hardware (else <see cref="CountWithinSearch"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static int CountWithinTwoLevel(double[] a, double[] s8, double[] s64, int c, double rad)
    {
        ref double ra = ref MemoryMarshal.GetArrayDataReference(a);
        ref double r8 = ref MemoryMarshal.GetArrayDataReference(s8);
        ref double r64 = ref MemoryMarshal.GetArrayDataReference(s64);
        double c0 = Unsafe.Add(ref ra, c);
        var v0 = Vector512.Create(c0);
        var r = Vector512.Create(rad);
        int big = c >> 6;
        // right: a[64M] is inside for M = big .. big + t (a[64 big] <= c0); then a[8m] for m = 8M .. 8M + u; then a[8m + 1 ..]
        int t = System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref r64, (nuint)(SamplePad + big + 1)) - v0, r).ExtractMostSignificantBits());
        int m = 8 * (big + t);
        m += System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref r8, (nuint)(SamplePad + m + 1)) - v0, r).ExtractMostSignificantBits());
        int right = 8 * m + System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref ra, (nuint)(8 * m + 1)) - v0, r).ExtractMostSignificantBits());
        if (t == 8) right = GallopRight(a, right, c0, rad);
        // left, mirrored: the first inside 64-block start is big - t + 1 (a[64(big + 1)] is past c, so inside), and so on down
        t = System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref r64, (nuint)(SamplePad + big - 7)), r).ExtractMostSignificantBits());
        m = 8 * (big - t + 1);
        m -= System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref r8, (nuint)(SamplePad + m - 7)), r).ExtractMostSignificantBits()) - 1;
        int left = 8 * m + 1 - System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref ra, (nuint)(8 * m - 7)), r).ExtractMostSignificantBits());
        if (t == 8) left = GallopLeft(a, left, c0, rad);
        return right - left;
    }

    /// <summary>-1 when x &lt;= r, else 0, without a branch (a scalar vector compare).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static int LessOrEqualMask(double x, double r) =>
        (int)Vector128.LessThanOrEqual(Vector128.CreateScalarUnsafe(x), Vector128.CreateScalarUnsafe(r)).AsInt64().ToScalar();

    /// <summary>Search window of <see cref="CountWithinSearch"/> for S samples: 4 sqrt(S) rounded up to a power of two
    /// (a strip's half holds ~sqrt(k S)/2 values on independent data), at least 16.</summary>
    public static int SearchWindow(int s) => (int)Math.Max(16, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Ceiling(4 * Math.Sqrt(s))));

    /// <summary>Last index i &gt;= good with a[i] - c0 &lt;= rad, given a[good] satisfies it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static int GallopRight(double[] a, int good, double c0, double rad)
    {
        int n = a.Length, step = 1;
        while (good + step < n && a[good + step] - c0 <= rad) { good += step; step <<= 1; }
        int bad = Math.Min(n, good + step);
        while (bad - good > 1) { int mid = (good + bad) >>> 1; if (a[mid] - c0 <= rad) good = mid; else bad = mid; }
        return good;
    }

    /// <summary>First index i &lt;= good with c0 - a[i] &lt;= rad, given a[good] satisfies it.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static int GallopLeft(double[] a, int good, double c0, double rad)
    {
        int step = 1;
        while (good - step >= 0 && c0 - a[good - step] <= rad) { good -= step; step <<= 1; }
        int bad = Math.Max(-1, good - step);
        while (good - bad > 1) { int mid = (good + bad) >> 1; if (c0 - a[mid] <= rad) good = mid; else bad = mid; }
        return good;
    }
}
