using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>
/// The branch-free strip counts (<see cref="SortedStrip.CountWithinSearch"/>, <see cref="SortedStrip.CountWithinTwoLevel"/>) equals a plain count of the same predicate
/// at every position of padded sorted arrays with ties, for radii from 0 to past the whole array (strips inside the
/// search window, reaching past it into the gallop, and clipped by either end).
/// </summary>
public sealed class SortedStripTests
{
    [Theory]
    [InlineData(40, 16, 0)]
    [InlineData(300, 64, 1)]
    [InlineData(1024, 128, 2)]
    [InlineData(1500, 256, 3)]
    public void Search_count_equals_plain_count(int s, int window, int seed)
    {
        const int pad = KsgEstimator.Pad;
        var rng = new Random(seed);
        var a = new double[s + 2 * pad];
        for (int i = 0; i < s; i++) a[pad + i] = rng.Next(4) == 0 ? Math.Round(rng.NextDouble() * 8) : rng.NextDouble() * 10 - 5;
        Array.Sort(a, pad, s);
        a.AsSpan(0, pad).Fill(double.NegativeInfinity);
        a.AsSpan(pad + s).Fill(double.PositiveInfinity);
        var samples = SortedStrip.EveryEighth(a);
        var samples64 = SortedStrip.EverySixtyFourth(a);
        double[] radii = [0, Math.BitDecrement(0.01), 0.05, 0.3, 1, 4, 20];
        for (int c = pad; c < pad + s; c++)
            foreach (double rad in radii)
            {
                int plain = 0;
                for (int j = pad; j < pad + s; j++)
                    if (j != c && (j > c ? a[j] - a[c] : a[c] - a[j]) <= rad) plain++;
                Assert.True(plain == SortedStrip.CountWithinSearch(a, c, rad, window), $"S={s} c={c} rad={rad}");
                if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
                {
                    Assert.True(plain == SortedStrip.CountWithinTwoLevel(a, samples, samples64, c, rad), $"two-level: S={s} c={c} rad={rad}");
                }
            }
    }
}
