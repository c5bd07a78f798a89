using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Tests.Models;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Tests.Models.OnnxGraph;

public sealed class FfnBlockFinderTests
{
    private static FfnSearch Find(LlmPruneFast.Models.Onnx.Proto.ModelProto model) => FfnBlockFinder.Find(new GraphIndex(model.Graph));

    [Theory]
    [InlineData("gelu-erf", false, false, false, "gelu")]
    [InlineData("gelu-tanh", false, true, false, "gelu-tanh")]
    [InlineData("gelu-op", false, false, false, "gelu")]
    [InlineData("relu", false, false, true, "relu")]
    [InlineData("silu", false, true, false, "silu")]
    [InlineData("silu", true, false, false, "swiglu")]
    [InlineData("gelu-erf", true, true, false, "geglu")]
    [InlineData("relu", true, false, true, "reglu")]
    public void FindsEveryBlock_WithWidthAndActivation(string activation, bool gated, bool transposed, bool gemm, string expected)
    {
        var search = Find(FfnGraphs.Build(new FfnGraphShape { Activation = activation, Gated = gated, Transposed = transposed, Gemm = gemm }));
        Assert.Equal(2, search.Blocks.Count);
        foreach (var b in search.Blocks)
        {
            Assert.Equal(10, b.Width);
            Assert.Equal(6, b.Hidden);
            Assert.Equal(expected, b.Activation);
            Assert.Equal(gated, b.Gated);
            Assert.NotNull(b.UpBias);
            Assert.NotNull(b.DownBias);
            Assert.Equal(10L * 6 * (gated ? 3 : 2) + 10 * (gated ? 2 : 1) + 6, b.Parameters);
        }
        Assert.Equal([0, 1], search.Blocks.Select(b => b.Index));
        Assert.Equal("b0.down.w", search.Blocks[0].Down.Initializer);
        Assert.Equal(transposed || gemm ? 1 : 0, search.Blocks[0].Down.NeuronAxis);
        Assert.DoesNotContain(search.Rejected, r => r.Fatal);
    }

    [Fact]
    public void NoBias_IsFound_WithoutBiases()
    {
        var b = Assert.Single(Find(FfnGraphs.Build(new FfnGraphShape { Bias = false, Blocks = 1 })).Blocks);
        Assert.Null(b.UpBias);
        Assert.Null(b.DownBias);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void NativeLlamaGraph_FusedOrNot_IsSwiGluPerLayer(bool fused)
    {
        var config = TinyLlama.Config(widths: [12, 9]);
        var model = LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config), new LlamaOnnxOptions { FuseProjections = fused });
        var search = Find(model);
        Assert.Equal([12, 9], search.Blocks.Select(b => b.Width));
        Assert.All(search.Blocks, b => Assert.Equal("swiglu", b.Activation));
        Assert.All(search.Blocks, b => Assert.Equal(8, b.Hidden));
        if (fused)
        {
            Assert.All(search.Blocks, b => Assert.NotNull(b.Split));
            Assert.Equal(0, search.Blocks[1].Gate!.Offset);
            Assert.Equal(9, search.Blocks[1].Up.Offset);
            Assert.Equal(search.Blocks[1].Gate!.Initializer, search.Blocks[1].Up.Initializer);
        }
        Assert.Equal("l0.ffn_act", search.Blocks[0].ActivationTensor);
        Assert.DoesNotContain(search.Rejected, r => r.Fatal);
        // The classifier head (8 -> 16) is listed as not taken, with its reason.
        Assert.Contains(search.Rejected, r => r.Node.Contains("logits") && r.Reason.Contains("does not reach"));
    }

    [Fact]
    public void NoFfn_IsRefusedNamingWhatWasSeen()
    {
        var g = new OnnxGraphWriter("t");
        g.Input("x", DT.Float, "n", 4L);
        string y = g.Op("MatMul", "wide", [g.Op("MatMul", "sq", ["x", g.Float("w1", [4, 4], new float[16])]), g.Float("w2", [4, 8], new float[32])]);
        g.Output(y, DT.Float, "n", 8L);
        using var dir = new TempFolder();
        OnnxModelFile.Save(g.ToModel(13, "t", []), dir["model.onnx"]);
        var model = OnnxGraphModel.Open(dir.Path);
        Assert.Empty(model.Blocks);
        var ex = Assert.Throws<UnsupportedArchitectureException>(model.RequirePrunable);
        Assert.Contains("no FFN block found", ex.Message);
        Assert.Contains("wide", ex.Message);
        Assert.Equal(4, ex.ExitCode);
    }

    [Fact]
    public void BothProjectionsUnderANonlinearity_IsAmbiguous()
    {
        var g = new OnnxGraphWriter("t");
        g.Input("x", DT.Float, "n", 4L);
        string a = g.Op("Relu", "ra", [g.Op("MatMul", "pa", ["x", g.Float("wa", [4, 8], new float[32])])]);
        string b = g.Op("Sigmoid", "sb", [g.Op("MatMul", "pb", ["x", g.Float("wb", [4, 8], new float[32])])]);
        string y = g.Op("MatMul", "down", [g.Op("Mul", "z", [a, b]), g.Float("wd", [8, 4], new float[32])]);
        g.Output(y, DT.Float, "n", 4L);
        var search = Find(g.ToModel(13, "t", []));
        Assert.Empty(search.Blocks);
        var r = Assert.Single(search.Rejected, r => r.Fatal);
        Assert.Contains("down", r.Node);
        Assert.Contains("ambiguous", r.Reason);
    }

    [Fact]
    public void WidthReadByShape_IsRefusedNamingTheNode()
    {
        var model = FfnGraphs.Build(new FfnGraphShape { Blocks = 1, Bias = false, Activation = "relu" }, (g, x) =>
            g.Output(g.Op("Shape", "width_probe", ["b0.relu"]), DT.Int64, 3L));
        var search = Find(model);
        Assert.Empty(search.Blocks);
        var r = Assert.Single(search.Rejected, r => r.Fatal);
        Assert.Contains("width_probe", r.Reason);
        using var dir = new TempFolder();
        OnnxModelFile.Save(model, dir["model.onnx"]);
        var ex = Assert.Throws<UnsupportedArchitectureException>(OnnxGraphModel.Open(dir["model.onnx"]).RequirePrunable);
        Assert.Contains("b0.down", ex.Message);
    }

    [Fact]
    public void MissingExternalData_IsABadModelFile()
    {
        using var dir = new TempFolder();
        OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape()), dir["model.onnx"], new OnnxSaveOptions { ExternalDataFile = "model.onnx.data", ExternalThresholdBytes = 64 });
        var opened = OnnxGraphModel.Open(dir.Path);
        Assert.Equal(["model.onnx.data"], opened.ExternalFiles);
        Assert.Equal(2, opened.Blocks.Count);
        File.Delete(dir["model.onnx.data"]);
        var ex = Assert.Throws<BadModelFileException>(() => OnnxGraphModel.Open(dir.Path));
        Assert.Contains("model.onnx.data", ex.Message);
        Assert.Equal(3, ex.ExitCode);
    }

    [Fact]
    public void IsGraphPath_TellsGraphsFromCheckpoints()
    {
        using var dir = new TempFolder();
        Assert.False(OnnxGraphModel.IsGraphPath(dir.Path));
        OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape()), dir["model.onnx"]);
        Assert.True(OnnxGraphModel.IsGraphPath(dir.Path));
        Assert.True(OnnxGraphModel.IsGraphPath(dir["model.onnx"]));
        File.WriteAllText(dir["config.json"], "{}");
        Assert.False(OnnxGraphModel.IsGraphPath(dir.Path));
    }
}

public sealed class FfnBlockFinderConstantTests
{
    [Fact]
    public void PerNeuronConstantInsideTheActivation_IsRefusedNamingTheNode()
    {
        var g = new OnnxGraphWriter("t");
        g.Input("x", DT.Float, "n", 4L);
        string u = g.Op("MatMul", "up", ["x", g.Float("wu", [4, 8], new float[32])]);
        string z = g.Op("Mul", "scaled", [g.Op("Relu", "relu", [u]), g.Float("scale", [8], new float[8])]);
        g.Output(g.Op("MatMul", "down", [z, g.Float("wd", [8, 4], new float[32])]), DT.Float, "n", 4L);
        var search = FfnBlockFinder.Find(new GraphIndex(g.ToModel(13, "t", []).Graph));
        Assert.Empty(search.Blocks);
        var r = Assert.Single(search.Rejected, r => r.Fatal);
        Assert.Contains("scale", r.Reason);
        Assert.Contains("scaled", r.Reason);
    }
}

public sealed class FfnBlockFinderNormTests
{
    [Fact]
    public void UnfusedNativeGraph_KProjectionAfterRmsNorm_IsABenignRejection()
    {
        var config = LlmPruneFast.Tests.Models.TinyLlama.Config();
        var model = LlamaOnnxBuilder.Build(config, LlmPruneFast.Tests.Models.TinyLlama.Tensors(config), new() { FuseProjections = false });
        var search = FfnBlockFinder.Find(new GraphIndex(model.Graph));
        Assert.Equal(2, search.Blocks.Count);
        Assert.Contains(search.Rejected, r => r.Node.Contains("l0.k"));
        Assert.DoesNotContain(search.Rejected, r => r.Fatal);
    }
}
