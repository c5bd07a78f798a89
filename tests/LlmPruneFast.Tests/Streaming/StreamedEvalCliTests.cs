using System.Text.Json;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>`eval --stream` and `prune --eval-stream` as processes on stories260K, and the evaluation memory plan.</summary>
public sealed class StreamedEvalCliTests
{
    private static JsonElement LastJson(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

    private static double Relative(double a, double b) => Math.Abs(a - b) / Math.Abs(b);

    [SharedFact]
    public void Eval_Layers_EqualsWhole_Paragraphs_AndWindows()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        foreach (string[] protocol in new[] { new[] { "--paragraphs", "40" }, ["--window", "96", "--stride", "40"] })
        {
            var runs = new[] { "whole", "layers" }.Select(mode =>
            {
                var (code, stdout, stderr) = CliRunner.Run(["eval", "--model", folder["model"], "--text", SharedData.TinyStories, .. protocol, "--stream", mode, "--threads", "1", "--json"]);
                Assert.True(code == 0, stderr);
                Assert.Contains(mode == "layers" ? "plan       layer-streaming" : "plan       whole-model graph", stdout);
                return LastJson(stdout);
            }).ToArray();
            Assert.Equal("whole", runs[0].GetProperty("path").GetString());
            Assert.Equal("layers", runs[1].GetProperty("path").GetString());
            Assert.Equal(runs[0].GetProperty("tokens").GetInt64(), runs[1].GetProperty("tokens").GetInt64());
            double whole = runs[0].GetProperty("mean_nll").GetDouble(), layers = runs[1].GetProperty("mean_nll").GetDouble();
            Assert.True(Relative(layers, whole) <= 1e-5, $"{string.Join(" ", protocol)}: layers {layers:R} vs whole {whole:R}");
            if (protocol[0] == "--paragraphs")
            {
                Assert.Equal(4059, runs[1].GetProperty("tokens").GetInt64());
                Assert.True(Math.Abs(layers - 1.356505) < 1e-4); // METHOD.md's reference value
            }
        }
    }

    [SharedFact]
    public void Eval_OverTheBudget_Exit7_AfterThePlan_AndBadStream_Exit2()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        var (code, stdout, stderr) = CliRunner.Run("eval", "--model", folder["model"], "--text", SharedData.TinyStories, "--paragraphs", "4", "--memory-mb", "100", "--stream", "layers");
        Assert.Equal(7, code);
        Assert.StartsWith("error: ", stderr.Trim());
        Assert.Contains("--memory-mb 100", stderr);
        Assert.Contains("lower --batch", stderr);
        Assert.Contains("peak memory about", stdout);
        Assert.DoesNotContain("mean NLL", stdout);
        (code, _, stderr) = CliRunner.Run("eval", "--model", folder["model"], "--text", SharedData.TinyStories, "--paragraphs", "4", "--stream", "disk");
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.Contains("--stream must be auto, layers or whole", stderr);
    }

    [SharedFact]
    public void PruneEval_Layers_EqualsWhole()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        File.WriteAllText(folder["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(15)));
        var runs = new[] { "whole", "layers" }.Select(mode =>
        {
            var (code, stdout, stderr) = CliRunner.Run("prune", "--model", folder["model"], "--calib", folder["calib.txt"], "--eval", folder["eval.txt"],
                "--method", "flap", "--budget", "global", "--ratio", "0.3", "--samples", "512", "--threads", "1", "--json", "--eval-stream", mode, "--out", folder[mode]);
            Assert.True(code == 0, stderr);
            Assert.Contains(mode == "layers" ? "eval       layer-streaming" : "eval       whole-model graph", stdout);
            return LastJson(stdout);
        }).ToArray();
        foreach (var key in new[] { "perplexity_before", "perplexity_after", "kl" })
            Assert.True(Relative(runs[1].GetProperty(key).GetDouble(), runs[0].GetProperty(key).GetDouble()) <= 1e-5, key);
        Assert.Equal(runs[0].GetProperty("top1_agreement").GetDouble(), runs[1].GetProperty("top1_agreement").GetDouble());
        Assert.Equal(runs[0].GetProperty("eval_tokens").GetInt64(), runs[1].GetProperty("eval_tokens").GetInt64());
        Assert.True(runs[1].GetProperty("kl").GetDouble() > 0.01);
    }

    /// <summary>LLaMA-2-7B's shape: no weights needed to plan.</summary>
    private static readonly LlamaConfig Llama7B = new()
    {
        HiddenSize = 4096, IntermediateSize = 11008, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 32,
        VocabSize = 32000, MaxPositionEmbeddings = 4096,
    };

    [Fact]
    public void Plan_7B_Auto_StreamsUnder24GB_ShrinksTheBatch_AndTakesTheWholeGraphWhenItFits()
    {
        var windows = Enumerable.Repeat(2048, 64).ToArray(); // 131K tokens in windows of 2048
        var plan = EvaluationPlan.Create(Llama7B.Shape(), windows, inOrder: false, models: 1, EvaluationMode.Auto, 12L << 30, null, 2);
        Assert.Equal(EvaluationMode.Layers, plan.Path);
        Assert.False(plan.OverBudget);
        Assert.True(plan.BatchSize < 8); // 8 windows of 2048 need ~13 GB of attention scores alone
        Assert.True(plan.OtherPathBytes > 3 * 6_700_000_000L * 4); // the whole graph: 3.5 float32 copies of 6.7B weights
        Assert.Contains("layer-streaming", plan.Describe());

        var roomy = EvaluationPlan.Create(Llama7B.Shape(), windows, inOrder: false, models: 1, EvaluationMode.Auto, 200L << 30, null, 2);
        Assert.Equal(EvaluationMode.Whole, roomy.Path);
        Assert.Equal(8, roomy.BatchSize);

        var forced = EvaluationPlan.Create(Llama7B.Shape(), windows, inOrder: false, models: 1, EvaluationMode.Whole, 12L << 30, null, 2);
        Assert.True(forced.OverBudget);
        var e = Assert.Throws<MemoryBudgetException>(forced.ThrowIfOverBudget);
        Assert.Contains("--stream layers", e.Message);

        // Dense and pruned together keep two sets of final hidden states: more than one model's plan.
        var two = EvaluationPlan.Create(Llama7B.Shape(), windows, inOrder: true, models: 2, EvaluationMode.Layers, 12L << 30, 1, 2);
        var one = EvaluationPlan.Create(Llama7B.Shape(), windows, inOrder: true, models: 1, EvaluationMode.Layers, 12L << 30, 1, 2);
        Assert.True(two.TotalBytes > one.TotalBytes);
    }
}
