using LlmPruneFast.Kernels.Copula;

namespace LlmPruneFast.Information;

/// <summary>
/// Standard normal CDF and its inverse in float64 for the copula estimator's normal scores. One implementation
/// serves the CPU estimators and the ILGPU copula kernels: <see cref="NormalQuantile"/> (Acklam's approximation
/// refined by two Halley steps to a few ulp; CDF through erfc).
/// </summary>
public static class NormalDistribution
{
    /// <summary>Phi^-1(p) for 0 &lt; p &lt; 1.</summary>
    public static double InverseCdf(double p) => NormalQuantile.Inverse(p);

    /// <summary>Phi(x) = erfc(-x / sqrt 2) / 2.</summary>
    public static double Cdf(double x) => NormalQuantile.Cdf(x);

    /// <summary>Complementary error function erfc(x) = 1 - erf(x).</summary>
    public static double Erfc(double x) => NormalQuantile.Erfc(x);
}
