using System.Text.Json;
using LlmPruneFast.Reports;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// Today's stories260K dense-vs-pruned numbers, pinned per method family before the "measure dense vs pruned" step
/// moved into one place (issue 8): <c>prune --eval</c> on the whole-model graphs and layer by layer, <c>report --eval</c>
/// and <c>apply</c> must keep giving them. Same files and flags as <see cref="PruneCommandTests"/> (30,000 characters of
/// calibration, S = 512, the first 8 of 12 evaluation paragraphs). The tolerance (1e-6 relative) covers ONNX Runtime's
/// float32 noise across CPUs and thread counts, far below any change of path, batching or plan: one neuron more or less moves the
/// pruned perplexity in the third decimal.
/// </summary>
public sealed class MeasurementPinTests
{
    private const double Relative = 1e-6;

    private static (TempFolder Folder, string Model, string Calib, string Eval) Setup() => PruneCommandTests.Setup();

    private static JsonElement LastJson(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

    /// <summary>Asserts <paramref name="actual"/> is <paramref name="expected"/> within <see cref="Relative"/>.</summary>
    internal static void Pin(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= Relative * Math.Abs(expected), $"{what}: pinned {expected:R}, got {actual:R}");

    /// <summary>Dense perplexity of the 8 paragraphs (610 tokens scored), the same for every method.</summary>
    private const double DenseBefore = 4.298369556844206;
    private const long EvalTokens = 610;

    /// <summary>Pruned perplexity, KL(dense || pruned) and top-1 agreement at ratio 0.25 with each method's default compensation.</summary>
    private static readonly Dictionary<string, (double After, double Kl, double Top1)> Pinned = new()
    {
        ["mi-conditional"] = (12.072146302055144, 0.9407930684428847, 0.5469255663430421), // partner
        ["flap"] = (10.883466219356471, 0.8238945780029923, 0.5388349514563107),           // bias
        ["obs"] = (10.830058967739534, 0.8685145931256523, 0.5825242718446602),            // refit
        ["magnitude"] = (18.251869018942784, 1.3903822997523072, 0.4110032362459547),      // none
    };

    [SharedTheory]
    [InlineData("mi-conditional")]
    [InlineData("flap")]
    [InlineData("obs")]
    [InlineData("magnitude")]
    public void PruneEval_AndReportEval_GiveThePinnedNumbers(string method)
    {
        var (folder, model, calib, eval) = Setup();
        using var cleanup = folder;
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", method, "--ratio", "0.25",
            "--samples", "512", "--out", folder["pruned"], "--eval", eval, "--eval-paragraphs", "8", "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("eval       whole-model graph, batch 8", stdout);
        var json = LastJson(stdout);
        var (after, kl, top1) = Pinned[method];
        Pin(DenseBefore, json.GetProperty("perplexity_before").GetDouble(), $"{method} perplexity_before");
        Pin(after, json.GetProperty("perplexity_after").GetDouble(), $"{method} perplexity_after");
        Pin(kl, json.GetProperty("kl").GetDouble(), $"{method} kl");
        Pin(top1, json.GetProperty("top1_agreement").GetDouble(), $"{method} top1_agreement");
        Assert.Equal(EvalTokens, json.GetProperty("eval_tokens").GetInt64());

        // report --eval re-slices the plan in memory and measures it again: the same numbers.
        (code, _, stderr) = CliRunner.Run("report", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--eval", eval,
            "--eval-paragraphs", "8", "--out", folder["r.html"], "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        var summary = ReportJson.Load(folder["r.json"]).Summary;
        Pin(DenseBefore, summary.Perplexity!.Before!.Value, $"{method} report perplexity before");
        Pin(after, summary.Perplexity.After!.Value, $"{method} report perplexity after");
        Pin(kl, summary.Kl!.After!.Value, $"{method} report kl");
        Pin(top1, summary.Top1Agreement!.Value, $"{method} report top-1");
        Assert.NotNull(summary.LatencyMs);
    }

    /// <summary>The layer-streamed evaluation (each model run once) and a model re-made by <c>apply</c>.</summary>
    [SharedFact]
    public void PruneEvalLayerStreamed_AndApplied_GiveThePinnedNumbers()
    {
        var (folder, model, calib, eval) = Setup();
        using var cleanup = folder;
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "mi-conditional", "--ratio", "0.25",
            "--samples", "512", "--out", folder["pruned"], "--eval", eval, "--eval-paragraphs", "8", "--eval-stream", "layers", "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("eval       layer-streaming (one decoder layer at a time)", stdout);
        var json = LastJson(stdout);
        Pin(4.2983695568442055, json.GetProperty("perplexity_before").GetDouble(), "layers perplexity_before");
        Pin(12.072146302055112, json.GetProperty("perplexity_after").GetDouble(), "layers perplexity_after");
        Pin(0.9407930684428847, json.GetProperty("kl").GetDouble(), "layers kl");
        Pin(0.5469255663430421, json.GetProperty("top1_agreement").GetDouble(), "layers top1_agreement");

        // report --eval-stream layers: the same step, the same numbers, and no latency (it times the whole-model graphs).
        (code, _, stderr) = CliRunner.Run("report", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--eval", eval,
            "--eval-paragraphs", "8", "--eval-stream", "layers", "--out", folder["r.html"], "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.Contains("note: the report has no latency", stderr);
        var summary = ReportJson.Load(folder["r.json"]).Summary;
        Pin(4.2983695568442055, summary.Perplexity!.Before!.Value, "report layers perplexity before");
        Pin(12.072146302055112, summary.Perplexity.After!.Value, "report layers perplexity after");
        Pin(0.9407930684428847, summary.Kl!.After!.Value, "report layers kl");
        Assert.Null(summary.LatencyMs);
        // Over --memory-mb: refused before any work, nothing written.
        (code, _, stderr) = CliRunner.Run("report", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--eval", eval,
            "--memory-mb", "1", "--out", folder["small.html"], "--quiet");
        Assert.Equal(ExitCodes.MemoryBudget, code);
        Assert.StartsWith("error: the evaluation needs about", stderr);
        Assert.False(File.Exists(folder["small.html"]) || File.Exists(folder["small.json"]));

        var apply = CliRunner.Run("apply", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--model", model, "--out", folder["applied"], "--quiet");
        Assert.True(apply.Code == 0, apply.Err);
        var evalRun = CliRunner.Run("eval", "--model", folder["applied"], "--text", eval, "--paragraphs", "8", "--json", "--threads", "1");
        Assert.True(evalRun.Code == 0, evalRun.Err);
        Pin(12.072146302055144, LastJson(evalRun.Out).GetProperty("perplexity").GetDouble(), "applied perplexity (eval, whole-model graph)");
    }

    /// <summary>A study row is what prune reports for the same flags: the same pinned numbers, dense reference shared.</summary>
    [SharedFact]
    public void Study_RowsGiveThePinnedNumbers()
    {
        var (folder, model, calib, eval) = Setup();
        using var cleanup = folder;
        var (code, _, stderr) = CliRunner.Run("study", "--models", model, "--methods", "mi-conditional,flap", "--ratios", "0.25", "--compensate", "default",
            "--calib", calib, "--eval", eval, "--eval-paragraphs", "8", "--samples", "512", "--out", folder["study"], "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        using var study = JsonDocument.Parse(File.ReadAllText(folder["study/study.json"]));
        Pin(DenseBefore, study.RootElement.GetProperty("models")[0].GetProperty("dense_perplexity").GetDouble(), "study dense perplexity");
        foreach (var row in study.RootElement.GetProperty("rows").EnumerateArray())
        {
            string method = row.GetProperty("method").GetString()!;
            var (after, kl, top1) = Pinned[method];
            Pin(DenseBefore, row.GetProperty("ppl_before").GetDouble(), $"study {method} ppl_before");
            Pin(after, row.GetProperty("ppl_after").GetDouble(), $"study {method} ppl_after");
            Pin(kl, row.GetProperty("kl").GetDouble(), $"study {method} kl");
            Pin(top1, row.GetProperty("top1").GetDouble(), $"study {method} top1");
        }
    }
}
