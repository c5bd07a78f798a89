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

    /// <summary>Last index i &gt;= good with a[i] - c0 &lt;= rad, given a[good] satisfies it.</summary>
    private static int GallopRight(double[] a, int good, double c0, double rad)
    {
        int n = a.Length, step = 1;
        while (good + step < n && a[good + step] - c0 <= rad) { good += step; step <<= 1; }
        int bad = Math.Min(n, good + step);
        while (bad - good > 1) { int mid = (good + bad) >>> 1; if (a[mid] - c0 <= rad) good = mid; else bad = mid; }
        return good;
    }

    /// <summary>First index i &lt;= good with c0 - a[i] &lt;= rad, given a[good] satisfies it.</summary>
    private static int GallopLeft(double[] a, int good, double c0, double rad)
    {
        int step = 1;
        while (good - step >= 0 && c0 - a[good - step] <= rad) { good -= step; step <<= 1; }
        int bad = Math.Max(-1, good - step);
        while (good - bad > 1) { int mid = (good + bad) >> 1; if (c0 - a[mid] <= rad) good = mid; else bad = mid; }
        return good;
    }
}
