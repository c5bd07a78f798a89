using ILGPU;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>
/// Device helpers: deterministic group reductions (a fixed shared-memory tree, so the same inputs give the same bits
/// on every run, unlike atomics on floats) and an exp that does not depend on the accelerator's math library.
/// Logarithms and digamma never run on the device: kernels look them up in tables made on the host.
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
    /// exp(x) for x &lt;= 0 in float64 without the accelerator's math library (whose double exp on CUDA is a software
    /// fallback of unstated accuracy without NVVM's libdevice): x = k ln 2 + r, |r| &lt;= ln2/2 (Cody-Waite split of
    /// ln 2), e^r by its Taylor series to r^13 (truncation below 2e-16 relative), times 2^k built from the exponent
    /// bits. Returns 0 below -708 (2^-1022; such terms are far below the S &gt;= 1 the kernels add them to).
    /// </summary>
    public static double ExpNonPositive(double x)
    {
        if (x < -708.0) return 0.0;
        const double log2e = 1.4426950408889634, ln2Hi = 0.693147180369123816490, ln2Lo = 1.90821492927058770002e-10;
        int k = (int)(x * log2e - 0.5); // round to nearest for x <= 0 (truncation toward zero of t - 0.5)
        double r = x - k * ln2Hi - k * ln2Lo;
        double p = 1.0 / 6227020800.0;            // 1/13!
        p = p * r + 1.0 / 479001600.0;             // 1/12!
        p = p * r + 1.0 / 39916800.0;
        p = p * r + 1.0 / 3628800.0;
        p = p * r + 1.0 / 362880.0;
        p = p * r + 1.0 / 40320.0;
        p = p * r + 1.0 / 5040.0;
        p = p * r + 1.0 / 720.0;
        p = p * r + 1.0 / 120.0;
        p = p * r + 1.0 / 24.0;
        p = p * r + 1.0 / 6.0;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        return p * Interop.IntAsFloat((ulong)(k + 1023) << 52);
    }
}
