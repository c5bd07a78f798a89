using LlmPruneFast.Capture;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// A fact that needs the torch-exported stories260K folder (model.onnx + tokenizer.model) named by
/// LLMPRUNE_TORCH_EXPORT; perf/peers/run_torch_export_check.sh makes it and runs these. Skipped, saying so, without it.
/// </summary>
public sealed class TorchExportTheoryAttribute : TheoryAttribute
{
    public static readonly string? Folder = Environment.GetEnvironmentVariable("LLMPRUNE_TORCH_EXPORT") is { Length: > 0 } f && File.Exists(Path.Combine(f, "model.onnx")) ? f : null;

    public TorchExportTheoryAttribute()
    {
        if (Folder == null) Skip = "LLMPRUNE_TORCH_EXPORT is not set (run perf/peers/run_torch_export_check.sh)";
        else if (SharedData.Root == null) Skip = SharedData.MissingMessage;
    }
}

/// <summary>Generic path on a graph exported by torch.onnx.export = the native LLaMA path on the same checkpoint.</summary>
public sealed class TorchExportTests(ITestOutputHelper output)
{
    [TorchExportTheory]
    [InlineData("flap")]
    [InlineData("obs")]
    [InlineData("mi-conditional")]
    public void TorchGraph_SamePlanAsNative_PrunedLogitsWithin1e4(string method)
    {
        var graph = OnnxGraphModel.Open(TorchExportTheoryAttribute.Folder!);
        var settings = new PruneSettings
        {
            Method = method, Ratio = 0.3, Seed = 1,
            Calibration = new CalibrationOptions { Samples = 2048, Seed = 1, Threads = 1 },
        };
        string text = Stories260K.Calibration(60_000);
        var native = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), text, "calib", settings);
        var feed = GraphFeeds.For(graph.Folder, graph.Inputs.Select(i => i.Name).ToArray());
        var generic = PrunablePipeline.Run(new OnnxGraphPrunable(graph, feed, "stories260K"), text, "calib", settings);
        int differing = 0;
        for (int l = 0; l < native.Plan.Layers.Count; l++)
            if (!native.Plan.Layers[l].Kept.SequenceEqual(generic.Plan.Layers[l].Kept)) differing++;
        double activationGap = 0;
        for (int l = 0; l < native.Calibration.Layers.Count; l++)
        {
            var a = native.Calibration.Layers[l].Data.Span;
            var b = generic.Calibration.Layers[l].Data.Span;
            for (int i = 0; i < a.Length; i++) activationGap = Math.Max(activationGap, Math.Abs(a[i] - b[i]));
        }

        var (c, t) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, native.Layers);
        using var nativeDense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors));
        using var nativePruned = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(c, t));
        var prunedGraph = OnnxGraphSlicer.Slice(graph, generic.Layers);
        using var torchDense = new GraphSession(graph.Model, feed, 1);
        using var torchPruned = new GraphSession(prunedGraph, feed, 1);
        double denseGap = 0, prunedGap = 0;
        foreach (var ids in Stories260K.EvalSequences(8))
        {
            var batch = TokenBatch.Create([ids]);
            var nd = nativeDense.Run(batch).Logits;
            var np = nativePruned.Run(batch).Logits;
            var td = torchDense.Run(batch, ["logits"])[0];
            var tp = torchPruned.Run(batch, ["logits"])[0];
            for (int i = 0; i < nd.Length; i++)
            {
                denseGap = Math.Max(denseGap, Math.Abs(nd[i] - td[i]));
                prunedGap = Math.Max(prunedGap, Math.Abs(np[i] - tp[i]));
            }
        }
        output.WriteLine($"torch-export {method}: layers with a different kept set {differing}/{native.Plan.Layers.Count}; " +
            $"max |activation| gap {activationGap:E2}; max |logit| gap dense {denseGap:E2}, pruned {prunedGap:E2}; " +
            $"params dense {OnnxGraphModel.Parameters(graph.Model)}, pruned {OnnxGraphModel.Parameters(prunedGraph)}");
        Assert.Equal(0, differing);
        Assert.True(prunedGap <= 1e-4, $"pruned logits differ by {prunedGap}");
    }

    /// <summary>
    /// <c>prune --eval</c> on the torch-exported graph gives the native LLaMA path's perplexity before and after and
    /// its KL (same plan; the two graphs' logits differ by float rounding only).
    /// </summary>
    [TorchExportTheory]
    [InlineData("flap")]
    public void PruneEval_OnTheTorchGraph_GivesTheNativePerplexityAndKl(string method)
    {
        using var dir = new LlmPruneFast.Tests.Models.TempFolder();
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(60_000));
        var paragraphs = Stories260K.EvalParagraphs(8);
        File.WriteAllText(dir["eval.txt"], string.Join("\n\n", paragraphs));
        var (code, stdout, err) = CliRunner.Run("prune", "--model", TorchExportTheoryAttribute.Folder!, "--calib", dir["calib.txt"], "--method", method,
            "--ratio", "0.3", "--samples", "2048", "--out", dir["out"], "--eval", dir["eval.txt"], "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        var json = System.Text.Json.JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

        var settings = new PruneSettings { Method = method, Ratio = 0.3, Calibration = new CalibrationOptions { Samples = 2048, Threads = 1 } };
        var native = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), File.ReadAllText(dir["calib.txt"]), "calib", settings);
        var (c, t) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, native.Layers);
        using var dense = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors));
        using var pruned = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(c, t));
        var expected = PruneEvaluation.Measure(dense, pruned, Stories260K.Tokenizer.Encode, paragraphs, Stories260K.Config.MaxPositionEmbeddings);
        double before = json.GetProperty("perplexity_before").GetDouble(), after = json.GetProperty("perplexity_after").GetDouble(), kl = json.GetProperty("kl").GetDouble();
        output.WriteLine($"torch-export eval {method}: perplexity {before:F6} -> {after:F6} (native {expected.Before.Perplexity:F6} -> {expected.After.Perplexity:F6}), KL {kl:E4} (native {expected.Fidelity.MeanKl:E4})");
        Assert.Equal(expected.Before.Tokens, json.GetProperty("eval_tokens").GetInt64());
        Assert.Equal(expected.Before.Perplexity, before, expected.Before.Perplexity * 1e-4);
        Assert.Equal(expected.After.Perplexity, after, expected.After.Perplexity * 1e-4);
        Assert.Equal(expected.Fidelity.MeanKl, kl, 1e-4);
    }
}
