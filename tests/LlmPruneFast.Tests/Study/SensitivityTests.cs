using LlmPruneFast.Study;
using static LlmPruneFast.Tests.Study.StudyFixtures;

namespace LlmPruneFast.Tests.Study;

public sealed class SensitivityTests
{
    [Fact]
    public void Of_ThreeCriteria_LogRatioSpread_ByHand()
    {
        var m = Model("a");
        // d = ln(after / before) = 0.1, 0.3, 0.5 nats: mean 0.3, deviations -0.2, 0, 0.2 -> sample variance 0.08 / 2.
        var rows = new[] { Row(m, "x", 0.2, 4, 4 * Math.Exp(0.3)), Row(m, "y", 0.2, 4, 4 * Math.Exp(0.1)), Row(m, "z", 0.2, 4, 4 * Math.Exp(0.5)) };
        var s = Sensitivity.Of(rows);
        Assert.Equal(3, s.Criteria);
        Assert.Equal(0.3, s.MeanD, 12);
        Assert.Equal(0.2, s.StdD, 12);
        Assert.Equal(5.0, s.MaxOverMin, 10);
        Assert.Equal(("y", 0.1), (s.MinMethod, Math.Round(s.MinD, 12)));
        Assert.Equal(("z", 0.5), (s.MaxMethod, Math.Round(s.MaxD, 12)));
    }

    [Fact]
    public void Row_DeltaFields_AreAbsoluteRelativeAndLog()
    {
        var r = Row(Model("a"), "x", 0.5, 5, 7.5);
        Assert.Equal(2.5, r.DeltaPerplexity, 12);
        Assert.Equal(0.5, r.RelativeDeltaPerplexity, 12);
        Assert.Equal(Math.Log(1.5), r.DeltaNll, 12);
    }

    [Fact]
    public void Measure_DoesNotDependOnTheDenseLevel_ButDeltaPerplexityWould()
    {
        // Same relative damage per criterion, dense perplexity 4 vs 40: identical sensitivity, ten times the delta-ppl spread.
        var small = Model("small");
        var large = Model("large", 10_000);
        double[] factors = [1.5, 2, 3.5];
        var a = Sensitivity.Of(factors.Select((f, i) => Row(small, $"m{i}", 0.3, 4, 4 * f)).ToArray());
        var b = Sensitivity.Of(factors.Select((f, i) => Row(large, $"m{i}", 0.3, 40, 40 * f)).ToArray());
        Assert.Equal(a.StdD, b.StdD, 12);
        Assert.Equal(a.MaxOverMin, b.MaxOverMin, 12);
        Assert.Equal(Math.Log(3.5) / Math.Log(1.5), a.MaxOverMin, 12);
    }

    [Fact]
    public void MaxOverMin_IsUndefined_WhenACriterionDidNoDamage_AndStdNeedsTwoCriteria()
    {
        var m = Model("a");
        var s = Sensitivity.Of([Row(m, "x", 0.1, 4, 4), Row(m, "y", 0.1, 4, 5)]);
        Assert.True(double.IsNaN(s.MaxOverMin));
        Assert.Equal(Math.Log(1.25) / Math.Sqrt(2), s.StdD, 12);
        Assert.True(double.IsNaN(Sensitivity.Of([Row(m, "x", 0.1, 4, 5)]).StdD));
        Assert.True(double.IsNaN(Sensitivity.MaxOverMin([-0.1, 0.2])));
    }

    [Fact]
    public void Compute_OneRowPerModelRatioAndSetting_InModelThenRatioOrder()
    {
        var a = Model("a");
        var b = Model("b", 5000, Provenance.Constructed);
        var rows = new List<StudyRow>();
        foreach (var model in new[] { b, a })
            foreach (var ratio in new[] { 0.5, 0.1 })
                foreach (var setting in new[] { "none", "refit" })
                    foreach (var method in new[] { "p", "q" })
                        rows.Add(Row(model, method, ratio, 4, method == "p" ? 5 : 6, setting));
        var s = Sensitivity.Compute(rows);
        Assert.Equal(8, s.Count);
        Assert.Equal(["b", "b", "b", "b", "a", "a", "a", "a"], s.Select(x => x.Model.Name));
        Assert.Equal([0.1, 0.1, 0.5, 0.5, 0.1, 0.1, 0.5, 0.5], s.Select(x => x.Ratio));
        Assert.Equal(["none", "refit", "none", "refit"], s.Take(4).Select(x => x.CompensationSetting));
        Assert.All(s, x => Assert.Equal(2, x.Criteria));
        Assert.All(s, x => Assert.Equal(Math.Log(6.0 / 4) / Math.Log(5.0 / 4), x.MaxOverMin, 12));
    }

    [Fact]
    public void SampleStd_MatchesTheTwoPassDefinition()
    {
        double[] v = [1, 2, 4, 8];
        double mean = 3.75;
        double expected = Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / 3);
        Assert.Equal(expected, Sensitivity.SampleStd(v), 14);
    }
}
