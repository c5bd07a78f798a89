using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// The generic graph path on the project's own exported stories260K graph (fused gate/up, Split) chooses the same
/// neurons as the native LLaMA path and its pruned graph gives the same logits.
/// </summary>
public sealed class GenericEqualsNativeTests
{
    private static string ExportedFolder(TempFolder dir)
    {
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors), dir["graph/model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, dir["graph/tokenizer.model"]);
        return dir["graph"];
    }

    [SharedTheory]
    [InlineData("flap")]
    [InlineData("obs")]
    [InlineData("mi-conditional")]
    public void SamePlan_AndLogitsWithin1e4(string method)
    {
        using var dir = new TempFolder();
        var graph = OnnxGraphModel.Open(ExportedFolder(dir));
        var settings = new PruneSettings
        {
            Method = method, Ratio = 0.3, Seed = 1,
            Calibration = new CalibrationOptions { Samples = 1024, Seed = 1, Threads = 1 },
        };
        string text = Stories260K.Calibration(40_000);
        var native = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), text, "calib", settings);
        var generic = PrunablePipeline.Run(new OnnxGraphPrunable(graph, GraphFeeds.For(graph.Folder, ["input_ids", "attention_mask"]), "stories260K"), text, "calib", settings);
        Assert.Equal(native.Plan.Model.FfnSha256, generic.Plan.Model.FfnSha256);
        for (int l = 0; l < native.Plan.Layers.Count; l++)
        {
            Assert.Equal(native.Plan.Layers[l].Kept, generic.Plan.Layers[l].Kept);
            Assert.Equal(native.Plan.Layers[l].Removed.Select(r => (r.Neuron, r.Partner)), generic.Plan.Layers[l].Removed.Select(r => (r.Neuron, r.Partner)));
        }
        var (c, t) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, native.Layers);
        using var expected = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(c, t));
        using var actual = OnnxLlamaRunner.Create(OnnxGraphSlicer.Slice(graph, generic.Layers));
        double worst = 0;
        foreach (var ids in Stories260K.EvalSequences(6))
        {
            var longIds = ids.Select(i => (long)i).ToArray();
            var mask = Enumerable.Repeat(1L, ids.Length).ToArray();
            var a = actual.Run(longIds, mask, 1, ids.Length).Logits;
            var e = expected.Run(longIds, mask, 1, ids.Length).Logits;
            for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - e[i]));
        }
        Assert.True(worst <= 1e-4, $"largest logit difference {worst}");
    }

    [SharedFact]
    public void PruneCli_OnAGraphFolder_WritesARunnableSmallerGraph()
    {
        using var dir = new TempFolder();
        string folder = ExportedFolder(dir);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));
        var (code, output, err) = CliRunner.Run("prune", "--model", folder, "--calib", dir["calib.txt"], "--method", "flap", "--ratio", "0.25",
            "--samples", "512", "--out", dir["out"], "--json", "--quiet");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
        long before = json.RootElement.GetProperty("params_before").GetInt64(), after = json.RootElement.GetProperty("params_after").GetInt64();
        Assert.True(after < before);
        Assert.Equal(["model.onnx", "pruning-plan.json", "tokenizer.model"], Directory.GetFiles(dir["out"]).Select(Path.GetFileName).Order());
        var pruned = OnnxGraphModel.Open(dir["out"]);
        Assert.Equal(after, OnnxGraphModel.Parameters(pruned.Model));
        Assert.Equal(json.RootElement.GetProperty("widths_after").EnumerateArray().Select(w => w.GetInt32()), pruned.Blocks.Select(b => b.Width));
        using var runner = OnnxLlamaRunner.Create(dir["out/model.onnx"]);
        Assert.Equal(Stories260K.Config.VocabSize, runner.Vocab);
    }
}

public sealed class GraphPruneRefusalTests
{
    private static (int, string, string) Prune(TempFolder dir, string model, params string[] extra)
    {
        File.WriteAllText(dir["calib.txt"], GraphCaptureTests.Text);
        return CliRunner.Run(["prune", "--model", model, "--calib", dir["calib.txt"], "--ratio", "0.3", "--out", dir["out"], .. extra]);
    }

    [Fact]
    public void EvalOnAGraphWithoutTokenizer_IsMissingInput_NothingWritten()
    {
        using var dir = new TempFolder();
        OnnxModelFile.Save(LlmPruneFast.Tests.Models.OnnxGraph.FfnGraphs.Build(new()), dir["m/model.onnx"]);
        File.WriteAllText(dir["eval.txt"], "held out text");
        var (code, _, err) = Prune(dir, dir["m"], "--eval", dir["eval.txt"]);
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Contains("holds no tokenizer", err);
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void GraphWithoutFfn_IsRefusedNamingTheNode_NothingWritten()
    {
        using var dir = new TempFolder();
        var g = new OnnxGraphWriter("t");
        g.Input("input_ids", LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType.Int64, "b", "s");
        string y = g.Op("Gather", "emb", [g.Float("table", [16, 4], new float[64]), "input_ids"]);
        y = g.Op("MatMul", "head", [y, g.Float("w", [4, 16], new float[64])]);
        g.Output(y, LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType.Float, "b", "s", 16L);
        OnnxModelFile.Save(g.ToModel(13, "t", []), dir["m/model.onnx"]);
        var (code, _, err) = Prune(dir, dir["m/model.onnx"]);
        Assert.Equal(ExitCodes.UnsupportedArchitecture, code);
        Assert.Contains("no FFN block found", err);
        Assert.Contains("head", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(dir["out"]));
    }

    [Fact]
    public void GraphWithoutTokenizer_IsMissingInput_NothingWritten()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Config();
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config)), dir["m/model.onnx"]);
        var (code, _, err) = Prune(dir, dir["m"]);
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Contains("tokenizer.model", err);
        Assert.False(Directory.Exists(dir["out"]));
    }
}
