using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>The float64 reference's erf (its GELU) against tabulated values (Abramowitz and Stegun, table 7.1).</summary>
public sealed class ReferenceErfTests
{
    [Theory]
    [InlineData(0.0, 0.0)]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(1.0, 0.8427007929497149)]
    [InlineData(-1.0, -0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(2.9, 0.9999589021219005)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(6.0, 1.0)]
    public void Erf_matches_tabulated_values(double z, double expected) =>
        Assert.Equal(expected, ReferenceBertForward.Erf(z), 12); // the series loses about 1e-13 to cancellation near 3
}
