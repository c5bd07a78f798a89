using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlmPruneFast.Information;

/// <summary>Counting in an ascending array padded with -inf before and +inf after (at least 8 values each side).</summary>
internal static class SortedStrip
{
    /// <summary>Full vector blocks scanned linearly each side before switching to galloping search.</summary>
    private const int LinearBlocks = 16;

    /// <summary>
    /// #{j != c : |a[j] - a[c]| &lt;= rad}, each distance by the same subtraction as the KSG distance (a[j] - a[c] to
    /// the right, a[c] - a[j] to the left; IEEE subtraction is sign-symmetric, so both equal |a[c] - a[j]|).
    /// Linear in vector blocks near c (the usual strip holds tens of values), then galloping plus bisection.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static int CountWithin(double[] a, int c, double rad) =>
        Vector512.IsHardwareAccelerated ? CountWithin512(a, c, rad) : CountWithin256(a, c, rad);

    /// <summary>
    /// <see cref="CountWithin"/> 8 values per compare on AVX-512 machines (half the blocks of the 4-wide form at the
    /// usual tens of values per strip; the same linear reach before galloping). The same counts: only the block differs.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static int CountWithin512(double[] a, int c, double rad)
    {
        double c0 = a[c];
        var v0 = Vector512.Create(c0);
        var r = Vector512.Create(rad);
        ref double ra = ref MemoryMarshal.GetArrayDataReference(a);
        int w = Vector512<double>.Count, count = 0;
        const ulong Full = (1ul << 8) - 1;

        // right: mask of a[j] - c0 <= rad over a block is a prefix (a ascending); a full block means go on
        int j = c + 1, blocks = 0;
        while (true)
        {
            ulong m = Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref ra, (nuint)j) - v0, r).ExtractMostSignificantBits();
            count += System.Numerics.BitOperations.PopCount(m);
            if (m != Full) break;
            j += w;
            if (++blocks == LinearBlocks / 2) { count += GallopRight(a, j - 1, c0, rad) - (j - 1); break; }
        }
        // left: the block [j, j+w) ending at c-1; the mask is a suffix
        j = c - w;
        blocks = 0;
        while (true)
        {
            ulong m = Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref ra, (nuint)j), r).ExtractMostSignificantBits();
            count += System.Numerics.BitOperations.PopCount(m);
            if (m != Full) break;
            if (++blocks == LinearBlocks / 2) { count += j - GallopLeft(a, j, c0, rad); break; }
            j -= w;
        }
        return count;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static int CountWithin256(double[] a, int c, double rad)
    {
        double c0 = a[c];
        // Vector256: 4 doubles, hardware-accelerated on every AVX2 machine (Vector512 falls back to software without AVX-512)
        var v0 = Vector256.Create(c0);
        var r = Vector256.Create(rad);
        ref double ra = ref MemoryMarshal.GetArrayDataReference(a);
        int w = Vector256<double>.Count, count = 0;
        const uint Full = (1u << 4) - 1;

        // right: mask of a[j] - c0 <= rad over a block is a prefix (a ascending); a full block means go on
        int j = c + 1, blocks = 0;
        while (true)
        {
            uint m = Vector256.LessThanOrEqual(Vector256.LoadUnsafe(ref ra, (nuint)j) - v0, r).ExtractMostSignificantBits();
            count += System.Numerics.BitOperations.PopCount(m);
            if (m != Full) break;
            j += w;
            if (++blocks == LinearBlocks) { count += GallopRight(a, j - 1, c0, rad) - (j - 1); break; }
        }
        // left: the block [j, j+w) ending at c-1; the mask is a suffix
        j = c - w;
        blocks = 0;
        while (true)
        {
            uint m = Vector256.LessThanOrEqual(v0 - Vector256.LoadUnsafe(ref ra, (nuint)j), r).ExtractMostSignificantBits();
            count += System.Numerics.BitOperations.PopCount(m);
            if (m != Full) break;
            if (++blocks == LinearBlocks) { count += j - GallopLeft(a, j, c0, rad); break; }
            j -= w;
        }
        return count;
    }

    /// <summary>
    /// <see cref="CountWithin"/> by a branch-free search each side: the edge of the strip within <paramref name="window"/>
    /// (a power of two, at least 16) positions of c is found by halving steps that select with a compare mask instead
    /// of a branch, then one vector compare counts the last block; a strip that reaches past the window gallops on
    /// from there. Same predicate, same counts. Without mispredicted exits, consecutive calls overlap in the core:
    /// the linear scan's exit and the gallop's steps were most of the counting time on distinct pairs.
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
    /// <see cref="CountWithinSampled"/>.
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
    /// <see cref="CountWithin"/> with 8-wide vectors and no search chain: each side, <paramref name="sampleVectors"/>
    /// vector compares of the 8-value blocks' first values (<paramref name="samples"/> = <see cref="EveryEighth"/>(a))
    /// count the whole blocks inside the strip, and one compare of the block holding the edge counts the rest; a strip
    /// longer than the sampled reach (8 x 8 x sampleVectors values) gallops on. Same predicate, same counts. Needs
    /// <see cref="Vector512"/> hardware (else <see cref="CountWithinSearch"/>); sampleVectors &lt;= 8.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public static int CountWithinSampled(double[] a, double[] samples, int c, double rad, int sampleVectors)
    {
        ref double ra = ref MemoryMarshal.GetArrayDataReference(a);
        ref double rs = ref MemoryMarshal.GetArrayDataReference(samples);
        double c0 = Unsafe.Add(ref ra, c);
        var v0 = Vector512.Create(c0);
        var r = Vector512.Create(rad);
        int block = c >> 3, reach = 8 * sampleVectors;
        // right: block starts a[8m] - c0 <= rad for m = block .. block + t (a prefix; a[8 block] <= c0 is inside)
        int t = 0;
        for (int v = 0; v < sampleVectors; v++)
            t += System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref rs, (nuint)(SamplePad + block + 1 + 8 * v)) - v0, r).ExtractMostSignificantBits());
        int m = block + t; // a[8m] is inside and finite, so a[8m + 1 .. 8m + 8] lies in the array
        int right = 8 * m + System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(Vector512.LoadUnsafe(ref ra, (nuint)(8 * m + 1)) - v0, r).ExtractMostSignificantBits());
        if (t == reach) right = GallopRight(a, right, c0, rad);
        // left: c0 - a[8m] <= rad for a suffix of block starts; first inside = block - t + 1 (block + 1 when none)
        t = 0;
        for (int v = 0; v < sampleVectors; v++)
            t += System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref rs, (nuint)(SamplePad + block - reach + 1 + 8 * v)), r).ExtractMostSignificantBits());
        m = block - t + 1; // the edge lies in a[8m - 7 .. 8m], all of it in the array (a[8m] > -inf or 8m > c)
        int left = 8 * m + 1 - System.Numerics.BitOperations.PopCount(Vector512.LessThanOrEqual(v0 - Vector512.LoadUnsafe(ref ra, (nuint)(8 * m - 7)), r).ExtractMostSignificantBits());
        if (t == reach) left = GallopLeft(a, left, c0, rad);
        return right - left;
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
    /// <see cref="CountWithin"/> in three 8-wide vector compares each side, no branch: the 64-value blocks inside the
    /// strip from every 64th value (<paramref name="s64"/>), then the 8-value blocks of the edge's 64-block from every
    /// 8th (<paramref name="s8"/>), then the edge's 8 values; a strip reaching 8 blocks of 64 past c's gallops on.
    /// Same predicate, same counts. Needs <see cref="Vector512"/> hardware (else <see cref="CountWithinSearch"/>).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
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
