using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary><see cref="PairwiseEstimator{TColumn,TScratch}.MaxDegreeOfParallelism"/> changes only the threads used, never a value.</summary>
public sealed class ThreadCapTests
{
    [Fact]
    public void Single_threaded_pair_list_and_all_pairs_equal_the_default()
    {
        var rng = new Random(11);
        var z = new ActivationMatrix(300, 6);
        for (int j = 0; j < 6; j++)
        {
            var col = z.ColumnMutable(j);
            for (int i = 0; i < 300; i++) col[i] = (float)(rng.NextDouble() + (j > 0 ? 0.5 * z[i, 0] : 0));
        }
        var pairs = new[] { (0, 1), (2, 3), (5, 0), (4, 4), (1, 5) };
        foreach (var (all, one) in new (IMutualInformationEstimator, IMutualInformationEstimator)[]
                 {
                     (new PluginEstimator(8, false), new PluginEstimator(8, false) { MaxDegreeOfParallelism = 1 }),
                     (new KsgEstimator(3), new KsgEstimator(3) { MaxDegreeOfParallelism = 1 }),
                 })
        {
            var a = new double[pairs.Length];
            var b = new double[pairs.Length];
            all.EstimatePairs(z, pairs, a);
            one.EstimatePairs(z, pairs, b);
            Assert.Equal(a, b);
            Assert.Contains(a, v => v > 0.01); // the dependent pairs carry information, so the check is not vacuous
        }
    }
}
