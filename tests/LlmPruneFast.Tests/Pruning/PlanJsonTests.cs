using System.Text;
using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

public sealed class PlanJsonTests
{
    internal static (PruningPlan Plan, ModelFingerprint Model, ILayerSource Source, SyntheticFfn[] Layers) TwoLayerPlan(
        string method = "mi-greedy", long seed = 5, PlanParameters? parameters = null, BudgetKind budget = BudgetKind.Uniform)
    {
        var syn = new[] { SyntheticFfn.Create(30, 8, 400, 6, 1.5, 21, 0), SyntheticFfn.Create(34, 8, 400, 4, -1, 22, 1) };
        var layers = syn.Select(s => s.Layer).ToArray();
        var model = ModelFingerprint.Compute("synthetic/two-layer", layers);
        var source = new InMemoryLayerSource(layers, syn.Select(s => s.Activations).ToArray());
        var plan = Pruner.Plan(model, source, new PruningOptions
        {
            Selector = PruningSelectors.Create(method, parameters),
            Estimator = new TestInformation("plugin", 8),
            Budget = new PruningBudget(budget, 0.2, 0.3),
            Seed = seed,
            Calibration = new CalibrationInfo("valid-sample.txt (first half)", 400, 9),
        });
        return (plan, model, source, syn);
    }

    [Theory]
    [InlineData("mi-greedy")]
    [InlineData("mi-random-pairs")]
    [InlineData("obs")]
    [InlineData("flap")]
    public void RoundTripIsByteIdentical(string method)
    {
        var (plan, _, _, _) = TwoLayerPlan(method);
        var bytes = PlanJson.Serialize(plan);
        var back = PlanJson.Parse(bytes, "test");
        Assert.Equal(bytes, PlanJson.Serialize(back));
        var path = Path.Combine(Path.GetTempPath(), $"plan-{Guid.NewGuid():N}.json");
        try
        {
            PlanJson.Save(back, path);
            Assert.Equal(bytes, File.ReadAllBytes(path));
            Assert.Equal(bytes, PlanJson.Serialize(PlanJson.Load(path)));
        }
        finally { File.Delete(path); }
        var text = Encoding.UTF8.GetString(bytes);
        foreach (var field in new[] { "\"version\": 1", "\"model\"", "\"ffn_sha256\"", "\"method\"", "\"estimator\"", "\"budget\"",
                     "\"ratio\": 0.2", "\"seed\": 5", "\"compensation\"", "\"calibration\"", "\"layers\"", "\"kept\"", "\"removed\"",
                     "\"partner\"", "\"mi\"", "\"score\"", "\"reason\"" })
            Assert.Contains(field, text);
    }

    [Fact]
    public void SameSeedSamePlanOtherSeedOtherPlan()
    {
        foreach (var method in new[] { "random", "mi-random-pairs" })
        {
            var parameters = method == "random" ? null : new PlanParameters().Set("threshold_mode", "quantile").Set("quantile", 0.5);
            var a = PlanJson.Serialize(TwoLayerPlan(method, 7, parameters).Plan);
            var b = PlanJson.Serialize(TwoLayerPlan(method, 7, parameters).Plan);
            var c = PlanJson.Serialize(TwoLayerPlan(method, 8, parameters).Plan);
            Assert.Equal(a, b);
            Assert.NotEqual(a, c);
        }
    }

    private static string Json(PruningPlan plan) => Encoding.UTF8.GetString(PlanJson.Serialize(plan));

    [Theory]
    [InlineData("\"version\": 1", "\"version\": 2", "version 2 is not supported")]
    [InlineData("\"ratio\": 0.2", "\"ratio\": 1.5", "ratio 1.5")]
    [InlineData("\"kind\": \"uniform\"", "\"kind\": \"sideways\"", "budget 'sideways'")]
    [InlineData("\"method\": \"mi-greedy\"", "\"method\": 3", "$.method")]
    [InlineData("\"layers\": 2,", "\"layers\": 3,", "$.model.layers")]
    public void MalformedPlansAreRejectedByName(string from, string to, string expected)
    {
        var text = Json(TwoLayerPlan().Plan);
        Assert.Contains(from, text);
        var e = Assert.Throws<BadModelFileException>(() => PlanJson.Parse(text.Replace(from, to), "p.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("p.json: ", e.Message);
    }

    [Fact]
    public void InconsistentLayersAreRejected()
    {
        var plan = TwoLayerPlan().Plan;
        var l0 = plan.Layers[0];
        PruningPlan With(LayerPlan l) => plan with { Layers = [l, plan.Layers[1]] };
        void Bad(PruningPlan p, string expected)
        {
            var e = Assert.Throws<BadModelFileException>(() => PlanJson.Parse(PlanJson.SerializeUnchecked(p), "p.json"));
            Assert.Contains(expected, e.Message);
        }
        // Duplicate id: a removed neuron also kept.
        var dupKept = l0.Kept.Skip(1).Append(l0.Removed[0].Neuron).Order().ToArray();
        Bad(With(l0 with { Kept = dupKept }), "listed twice");
        // kept + removed != width.
        Bad(With(l0 with { Kept = l0.Kept.Skip(1).ToArray() }), "expected the width");
        // kept not ascending.
        Bad(With(l0 with { Kept = l0.Kept.Reverse().ToArray() }), "ascending");
        // partner removed before.
        var r = l0.Removed.ToArray();
        r[1] = r[1] with { Partner = r[0].Neuron };
        Bad(With(l0 with { Removed = r }), "removed before it");
        // Every neuron removed.
        var all = l0.Kept.Select(k => new RemovedNeuron(k, null, null, 0, "x")).Concat(l0.Removed).ToArray();
        Bad(With(l0 with { Kept = [], Removed = all }), "at least one");
        // Layer out of range and duplicate layer.
        Bad(plan with { Layers = [l0, l0] }, "out of order or twice");
        Bad(plan with { Layers = [l0 with { Index = 5 }] }, "does not exist");
    }

    [Fact]
    public void PlanForAnotherModelIsRejected()
    {
        var (plan, model, _, syn) = TwoLayerPlan();
        plan.EnsureMatches(model);
        var other = SyntheticFfn.Create(30, 8, 400, 6, 1.5, 99, 0);
        var otherModel = ModelFingerprint.Compute("other", [other.Layer, syn[1].Layer]);
        var e = Assert.Throws<BadArgumentException>(() => plan.EnsureMatches(otherModel));
        Assert.Contains("FFN weights hash", e.Message);
        var narrower = ModelFingerprint.Compute("narrow", [SyntheticFfn.Create(29, 8, 50, 6, 1.5, 1, 0).Layer, syn[1].Layer]);
        Assert.Contains("layer 0 FFN width 36", Assert.Throws<BadArgumentException>(() => plan.EnsureMatches(narrower)).Message);
        var source = new InMemoryLayerSource([syn[0].Layer], [syn[0].Activations]);
        Assert.Throws<BadArgumentException>(() => Pruner.ApplyPlan(plan, source).ToArray());
    }

    [Fact]
    public void MissingPlanFileAndInvalidJson()
    {
        Assert.Throws<MissingInputException>(() => PlanJson.Load("/nonexistent/plan.json"));
        Assert.Contains("not valid JSON", Assert.Throws<BadModelFileException>(() => PlanJson.Parse("{ nope", "x")).Message);
    }
}
