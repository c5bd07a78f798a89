using System.Text.Json;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;
using LlmPruneFast.Tests.Reports;

namespace LlmPruneFast.Tests.Cli;

/// <summary>
/// One <c>prune --eval --report</c> run on the project's exported stories260K graph (a folder with model.onnx and
/// tokenizer.model), made once and shared by the tests below; deleted with the class.
/// </summary>
public sealed class DecoderGraphRun : IDisposable
{
    private readonly Lazy<TempFolder> _dir = new(Make);

    public TempFolder Dir => _dir.Value;
    public string Graph => Dir["graph"];
    public string Out => Dir["pruned"];
    public string Plan => Path.Combine(Out, "pruning-plan.json");
    public JsonElement Json => JsonDocument.Parse(File.ReadAllText(Dir["prune.out"]).TrimEnd().Split('\n')[^1]).RootElement;

    private static TempFolder Make()
    {
        var dir = new TempFolder();
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors), dir["graph/model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, dir["graph/tokenizer.model"]);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));
        File.WriteAllText(dir["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(6)));
        // flap compensates with a bias, so apply must recapture the activations to rebuild the same down biases.
        var (code, output, err) = CliRunner.Run("prune", "--model", dir["graph"], "--calib", dir["calib.txt"], "--method", "flap", "--ratio", "0.25",
            "--samples", "512", "--out", dir["pruned"], "--eval", dir["eval.txt"], "--report", dir["prune.html"], "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        File.WriteAllText(dir["prune.out"], output);
        return dir;
    }

    public void Dispose()
    {
        if (_dir.IsValueCreated) _dir.Value.Dispose();
    }
}

/// <summary>prune --eval / --report, report and apply on a decoder ONNX graph (issue 8), run as a user runs them.</summary>
public sealed class DecoderGraphCliTests(DecoderGraphRun run) : IClassFixture<DecoderGraphRun>
{
    /// <summary>
    /// Perplexity before/after, KL and top-1 of <c>prune --eval</c> on a graph are the LLaMA path's own numbers,
    /// recomputed here with the native runner and tokenizer on the dense graph and on the graph prune wrote.
    /// </summary>
    [SharedFact]
    public void PruneEval_OnAGraph_GivesTheNativePathsPerplexityAndKl()
    {
        var json = run.Json;
        var paragraphs = Stories260K.EvalParagraphs(6);
        using var dense = OnnxLlamaRunner.Create(Path.Combine(run.Graph, "model.onnx"), new OnnxRunnerOptions { IntraOpThreads = 1 });
        using var pruned = OnnxLlamaRunner.Create(Path.Combine(run.Out, "model.onnx"), new OnnxRunnerOptions { IntraOpThreads = 1 });
        var expected = PruneEvaluation.Measure(dense, pruned, Stories260K.Tokenizer.Encode, paragraphs, Stories260K.Config.MaxPositionEmbeddings);
        Assert.Equal(expected.Before.Perplexity, json.GetProperty("perplexity_before").GetDouble(), 9);
        Assert.Equal(expected.After.Perplexity, json.GetProperty("perplexity_after").GetDouble(), 9);
        Assert.Equal(expected.Fidelity.MeanKl, json.GetProperty("kl").GetDouble(), 9);
        Assert.Equal(expected.Fidelity.Top1Agreement, json.GetProperty("top1_agreement").GetDouble(), 12);
        Assert.Equal(expected.Before.Tokens, json.GetProperty("eval_tokens").GetInt64());
        Assert.True(expected.After.Perplexity > expected.Before.Perplexity && expected.Fidelity.MeanKl > 0);
    }

    /// <summary>The report of a graph run: per-layer widths and removals as in the plan, every chart, and the measured numbers.</summary>
    [SharedFact]
    public void PruneReport_OnAGraph_ShowsThePlanChartsAndMeasuredNumbers()
    {
        var json = run.Json;
        var plan = PlanJson.Load(run.Plan);
        var report = ReportJson.Load(run.Dir["prune.json"]);
        Assert.Null(report.Summary.Encoder);
        Assert.Contains("decoder", report.Summary.Architecture);
        Assert.Equal(plan.Model.Widths, report.Layers.Select(l => l.Width));
        Assert.Equal(plan.Layers.Select(l => l.Removed.Count), report.Layers.Select(l => l.Removed));
        Assert.Equal(json.GetProperty("perplexity_before").GetDouble(), report.Summary.Perplexity!.Before);
        Assert.Equal(json.GetProperty("perplexity_after").GetDouble(), report.Summary.Perplexity.After);
        Assert.Equal(json.GetProperty("kl").GetDouble(), report.Summary.Kl!.After);
        Assert.Equal(json.GetProperty("params_before").GetInt64(), (long)report.Summary.Parameters!.Before!.Value);
        Assert.Equal(json.GetProperty("params_after").GetInt64(), (long)report.Summary.Parameters.After!.Value);
        Assert.Equal(OnnxGraphModel.Parameters(OnnxGraphModel.Open(run.Out).Model), (long)report.Summary.Parameters.After!.Value);
        Assert.Equal(new FileInfo(Path.Combine(run.Out, "model.onnx")).Length, (long)report.Summary.Bytes!.After!.Value);
        Assert.NotNull(report.Summary.LatencyMs);
        var doc = HtmlReportRendererTests.ParseXhtml(File.ReadAllText(run.Dir["prune.html"]));
        var charts = doc.Descendants("svg").Select(s => (string?)s.Attribute("data-chart") ?? "").ToArray();
        Assert.Contains("kept-removed", charts);
        Assert.Equal(5, charts.Count(c => c == "mi-histogram"));
        Assert.Contains("heatmap", charts);
    }

    /// <summary><c>report</c> from the graph plan alone recaptures the same activations and measures the same numbers.</summary>
    [SharedFact]
    public void ReportVerb_OnAGraphPlan_AgreesWithPrunesReport()
    {
        string html = run.Dir[$"again-{Guid.NewGuid():N}.html"];
        var (code, _, err) = CliRunner.Run("report", "--plan", run.Plan, "--eval", run.Dir["eval.txt"], "--out", html, "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        var first = ReportJson.Load(run.Dir["prune.json"]);
        var again = ReportJson.Load(Path.ChangeExtension(html, ".json"));
        Assert.Equal(first.Layers.Select(l => l.PairMi?.Counts), again.Layers.Select(l => l.PairMi?.Counts));
        Assert.Equal(first.Summary.Perplexity, again.Summary.Perplexity);
        Assert.Equal(first.Summary.Kl, again.Summary.Kl);
        Assert.Equal(first.Summary.Parameters, again.Summary.Parameters);
        Assert.Equal(first.Summary.Bytes, again.Summary.Bytes);
    }

    /// <summary><c>apply</c> re-derives the graph prune wrote, byte for byte (the down biases come from recaptured activations).</summary>
    [SharedFact]
    public void Apply_OnAGraph_WritesTheSameBytesAsPrune()
    {
        string outDir = run.Dir[$"applied-{Guid.NewGuid():N}"];
        var (code, output, err) = CliRunner.Run("apply", "--plan", run.Plan, "--model", run.Graph, "--out", outDir, "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Equal("bias", PlanJson.Load(run.Plan).Compensation.Kind);
        Assert.Equal(File.ReadAllBytes(Path.Combine(run.Out, "model.onnx")), File.ReadAllBytes(Path.Combine(outDir, "model.onnx")));
        Assert.Equal(["model.onnx", "pruning-plan.json", "tokenizer.model"], Directory.GetFiles(outDir).Select(Path.GetFileName).Order());
        var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Equal(run.Json.GetProperty("params_after").GetInt64(), json.GetProperty("params_after").GetInt64());
    }

    /// <summary>A graph plan applied to a graph whose FFN weights differ is refused naming the hash, and nothing is written.</summary>
    [SharedFact]
    public void Apply_ToAnotherGraph_IsRefused_NothingWritten()
    {
        using var dir = new TempFolder();
        var model = OnnxModelFile.Load(Path.Combine(run.Graph, "model.onnx"));
        var block = OnnxGraphModel.Open(run.Graph).Blocks[2];
        var down = model.Graph.Initializer.Single(t => t.Name == block.Down.Initializer);
        var values = GraphIndex.Floats(down);
        values[0] += 0.5f; // same widths, other weights
        down.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        OnnxModelFile.Save(model, dir["other/model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, dir["other/tokenizer.model"]);
        var (code, _, err) = CliRunner.Run("apply", "--plan", run.Plan, "--model", dir["other"], "--out", dir["out"], "--quiet");
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.StartsWith("error: plan made for another model: FFN weights hash", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["out"]));
    }

    /// <summary>--sts is for encoders: on a decoder graph, prune and report refuse it before any work.</summary>
    [SharedFact]
    public void Sts_OnADecoderGraph_IsRefused()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["pairs.csv"], "g\tf\t2012\t1\t5.0\tA.\tB.\n");
        var (code, _, err) = CliRunner.Run("prune", "--model", run.Graph, "--calib", run.Dir["calib.txt"], "--ratio", "0.3", "--sts", dir["pairs.csv"], "--out", dir["out"]);
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.Contains("--sts applies to encoder models", err);
        Assert.False(Directory.Exists(dir["out"]));
        (code, _, err) = CliRunner.Run("report", "--plan", run.Plan, "--sts", dir["pairs.csv"], "--out", dir["r.html"]);
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.Contains("--sts applies to encoder models", err);
        Assert.False(File.Exists(dir["r.html"]));
    }
}
