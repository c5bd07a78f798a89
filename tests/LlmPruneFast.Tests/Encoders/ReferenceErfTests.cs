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
    [InlineData(5.5, 0.9999999999999927)]
    [InlineData(6.0, 1.0)]
    [InlineData(-7.0, -1.0)]
    public void Erf_matches_tabulated_values(double z, double expected) =>
        Assert.Equal(expected, ReferenceBertForward.Erf(z), 12); // the series loses about 1e-13 to cancellation near 3

    /// <summary>The reference's two float64 products (OpenBLAS dgemm, and the managed fallback) agree to rounding, blocked rows and tails alike.</summary>
    [Fact]
    public void Blas_and_managed_products_agree()
    {
        if (!LlmPruneFast.Pruning.NativeBlas.Available) return; // nothing to compare: the managed product is the only one
        var rng = new Random(3);
        int inputs = 384, outputs = 1537, rows = 11;
        var w = Enumerable.Range(0, inputs * outputs).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var b = Enumerable.Range(0, outputs).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var x = Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, inputs).Select(_ => rng.NextDouble() - 0.5).ToArray()).ToArray();
        var (blas, managed) = ReferenceBertForward.BothProducts(w, b, inputs, x);
        for (int t = 0; t < rows; t++)
            for (int o = 0; o < outputs; o++) Assert.Equal(managed[t][o], blas[t][o], 1e-12);
    }
}
