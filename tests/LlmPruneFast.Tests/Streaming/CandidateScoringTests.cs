using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>
/// mi-random-pairs' candidate scoring layer by layer against the whole-model graphs on the real stories260K, and the
/// memory plan's per-method terms.
/// </summary>
public sealed class CandidateScoringTests
{
    private static readonly string Text = Stories260K.Calibration(30_000);

    private static PruneSettings Settings(string method, EvaluationMode scoring = EvaluationMode.Auto, long budget = CalibrationOptions.DefaultMemoryBudgetBytes) => new()
    {
        Method = method, Ratio = 0.3, Seed = 1, CandidateScoring = scoring, Estimator = method.StartsWith("mi-") && method != "mi-conditional" ? "copula" : "plugin",
        Calibration = new CalibrationOptions { Samples = 512, Seed = 1, Threads = 1, MemoryBudgetBytes = budget },
        Threads = 1,
    };

    private static StreamingPrune Prepare(PruneSettings settings) =>
        StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Text, "calib", settings, CaptureMode.Dense);

    /// <summary>The plan without its candidate scores (which differ by float32 rounding between the paths).</summary>
    private static string Choice(PruningPlan plan) => Convert.ToHexString(PlanJson.Serialize(plan with { Candidates = [] }));

    private static void AssertSameScores(PruningPlan whole, PruningPlan layered)
    {
        Assert.Equal(4, whole.Candidates.Count);
        Assert.Equal(whole.Candidates.Select(c => c.Seed), layered.Candidates.Select(c => c.Seed));
        for (int c = 0; c < whole.Candidates.Count; c++)
        {
            double a = whole.Candidates[c].Kl!.Value, b = layered.Candidates[c].Kl!.Value;
            Assert.True(a > 0 && double.IsFinite(a), $"candidate {c}: KL {a}");
            Assert.True(Math.Abs(a - b) <= 1e-5 * Math.Abs(a), $"candidate {c}: whole KL {a:R}, layered {b:R} (relative {Math.Abs(a - b) / a:E2})");
        }
        // The candidates differ, so the choice is a real one.
        Assert.True(whole.Candidates.Select(c => c.Kl).Distinct().Count() > 1);
        Assert.Equal(Choice(whole), Choice(layered));
    }

    [SharedFact]
    public void Layered_GivesTheWholeModelScoresAndPlan_InMemoryAndStreamed()
    {
        var whole = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Text, "calib",
            Settings("mi-random-pairs", EvaluationMode.Whole));
        var layered = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Text, "calib",
            Settings("mi-random-pairs", EvaluationMode.Layers));
        AssertSameScores(whole.Plan, layered.Plan);

        // The streaming prune (the CLI's path), forced to score layer by layer: same plan, same cut layers.
        var prepared = Prepare(Settings("mi-random-pairs", EvaluationMode.Layers));
        Assert.Equal(EvaluationMode.Layers, prepared.Memory.ScoringPath);
        using var streamed = StreamingPruner.Run(prepared, new LlamaModel(Stories260K.Config, Stories260K.Tensors, name: "stories260K"));
        AssertSameScores(whole.Plan, streamed.Plan);
        for (int l = 0; l < whole.Layers.Length; l++)
            Assert.Equal(whole.Layers[l].Kept, streamed.Layers[l].Kept);
        // Layer runs of the three passes (select, score, slice) are capture; each stage keeps the rest.
        Assert.Equal(["capture", "select", "score", "slice"], streamed.StageSeconds.Keys);
        Assert.All(streamed.StageSeconds.Values, s => Assert.True(s >= 0, $"stage seconds {s}"));
    }

    [SharedFact]
    public void Auto_TakesTheWholeGraphsWhenTheyFit_ElseLayers_AndRefusesUnderEither()
    {
        var roomy = Prepare(Settings("mi-random-pairs")).Memory;
        Assert.Equal(EvaluationMode.Whole, roomy.ScoringPath);   // stories260K keeps today's path
        var whole = Prepare(Settings("mi-random-pairs", EvaluationMode.Whole)).Memory;
        var layers = Prepare(Settings("mi-random-pairs", EvaluationMode.Layers)).Memory;
        Assert.Equal(whole.TotalBytes, roomy.TotalBytes);
        Assert.Contains(whole.Parts, p => p.Part.StartsWith("candidate scoring: whole-model graphs"));
        Assert.Contains(layers.Parts, p => p.Part.StartsWith("candidate scoring, layer by layer") && p.Part.Contains("4 candidates"));
        Assert.True(layers.TotalBytes < whole.TotalBytes, $"layered {layers.TotalBytes} B, whole {whole.TotalBytes} B");
        Assert.True(layers.ScoreSeconds > 0);

        // A budget the layered plan fits but the whole one does not: auto scores layer by layer.
        var tight = Prepare(Settings("mi-random-pairs", budget: layers.TotalBytes)).Memory;
        Assert.Equal(EvaluationMode.Layers, tight.ScoringPath);
        Assert.False(tight.OverBudget);

        var refused = Prepare(Settings("mi-random-pairs", budget: 1 << 20)).Memory;
        var e = Assert.Throws<MemoryBudgetException>(refused.ThrowIfOverBudget);
        Assert.Equal(ExitCodes.MemoryBudget, e.ExitCode);
        Assert.Contains("--memory-mb", e.Message);
    }

    public static TheoryData<string, string[]> MethodTerms() => new()
    {
        // Methods without an N x N matrix: only the float64 copy of W_down the compensator works on.
        { "flap", [] },
        { "magnitude", [] },
        { "wanda-sp", [] },
        { "random", [] },
        { "obs", ["obs: H, H^-1", "activation covariance", "refit:"] },
        { "mi-conditional", ["mi-conditional: correlation, H, H^-1", "activation covariance", "refit:"] },
        { "mi-weighted", ["all-pairs MI", "activation covariance"] },
        { "mi-greedy", ["all-pairs MI", "activation covariance"] },
        { "mi-cluster", ["all-pairs MI", "sorted pairs", "activation covariance"] },
        { "mi-random-pairs", ["pairs seen below the threshold", "activation covariance", "candidate scoring"] },
    };

    [SharedTheory]
    [MemberData(nameof(MethodTerms))]
    public void MemoryPlan_CountsWhatEachMethodHolds(string method, string[] terms)
    {
        var plan = Prepare(Settings(method)).Memory;
        var c = Stories260K.Config;
        long n = c.IntermediateSize, d = c.HiddenSize;
        Assert.Contains(plan.Parts, p => p.Part == "compensation: W_down in float64 (D x N)" && p.Bytes == d * n * sizeof(double));
        Assert.DoesNotContain(plan.Parts, p => p.Part.Contains("selection and compensation (N x N"));
        foreach (var term in terms) Assert.Contains(plan.Parts, p => p.Part.Contains(term) && p.Bytes > 0);
        bool square = terms.Length > 0;
        Assert.Equal(square, plan.Parts.Any(p => p.Part.Contains("N x N")));
        Assert.Equal(method == "mi-random-pairs", plan.ScoringPath != null);
        if (method == "obs")
            Assert.Contains(plan.Parts, p => p.Part.StartsWith("obs:") && p.Bytes == 3 * n * n * sizeof(double) + 2 * d * n * sizeof(double));
        if (!square) Assert.True(plan.SelectSeconds < 1e-3, $"{method}: selection estimate {plan.SelectSeconds} s");
    }

    [SharedFact]
    public void Cli_MiRandomPairs_OverTheBudget_Exit7_BeforeAnyOutput()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        File.WriteAllText(folder["calib.txt"], Text);
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", folder["model"], "--calib", folder["calib.txt"], "--ratio", "0.3", "--samples", "512",
            "--method", "mi-random-pairs", "--estimator", "copula", "--memory-mb", "64", "--out", folder["out"]);
        Assert.Equal(7, code);
        Assert.StartsWith("error: ", stderr.Trim());
        Assert.Contains("candidate scoring", stdout);   // the plan, printed first, counts the scoring
        Assert.False(Directory.Exists(folder["out"]));
    }
}
