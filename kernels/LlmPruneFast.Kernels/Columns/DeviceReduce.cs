using ILGPU;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>
/// Device helpers: deterministic group reductions (a fixed shared-memory tree, so the same inputs give the same bits
/// on every run, unlike atomics on floats) and special functions used inside kernels.
/// </summary>
internal static class DeviceReduce
{
    /// <summary>Largest group size any kernel launches with; shared scratch arrays have this length.</summary>
    public const int MaxGroupSize = 256;

    /// <summary>Sum of <paramref name="value"/> over the group (power-of-two size), returned to every thread.</summary>
    public static double GroupSum(ArrayView<double> scratch, double value)
    {
        int t = Group.IdxX;
        scratch[t] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride >>= 1)
        {
            if (t < stride) scratch[t] += scratch[t + stride];
            Group.Barrier();
        }
        double total = scratch[0];
        Group.Barrier(); // the scratch may be reused right after
        return total;
    }

    /// <summary>Minimum of <paramref name="value"/> over the group (power-of-two size), returned to every thread.</summary>
    public static double GroupMin(ArrayView<double> scratch, double value)
    {
        int t = Group.IdxX;
        scratch[t] = value;
        Group.Barrier();
        for (int stride = Group.DimX / 2; stride > 0; stride >>= 1)
        {
            if (t < stride && scratch[t + stride] < scratch[t]) scratch[t] = scratch[t + stride];
            Group.Barrier();
        }
        double total = scratch[0];
        Group.Barrier();
        return total;
    }

    /// <summary>Maximum of <paramref name="value"/> over the group (power-of-two size), returned to every thread.</summary>
    public static double GroupMax(ArrayView<double> scratch, double value) => -GroupMin(scratch, -value);

    /// <summary>
    /// Digamma psi(x) for x &gt; 0 in float64: recurrence psi(x) = psi(x+1) - 1/x up to x &gt;= 12, then the asymptotic
    /// series ln x - 1/(2x) - sum_n B_2n/(2n x^2n) to x^-12 (first omitted term 1/(12 x^14) &lt; 1e-16 there).
    /// </summary>
    public static double Digamma(double x)
    {
        double shift = 0;
        while (x < 12.0)
        {
            shift -= 1.0 / x;
            x += 1.0;
        }
        double inv = 1.0 / x, inv2 = inv * inv;
        double series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132 - inv2 * (691.0 / 32760))))));
        return shift + ILGPU.Algorithms.XMath.Log(x) - 0.5 * inv - series;
    }
}
