using Google.Protobuf;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Models.OnnxGraph;
using Microsoft.ML.OnnxRuntime;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>OnnxGraphSlicer: the written graph computes what slicing the dense one by hand computes.</summary>
public sealed class GraphSlicingTests
{
    /// <summary>Keeps every neuron whose index is not a multiple of 3; the down bias gains 0.01 * (d + 1) per block.</summary>
    private static SlicedFfnLayer[] Slices(OnnxGraphModel model)
    {
        var layers = new List<SlicedFfnLayer>();
        foreach (var b in model.Blocks)
        {
            var layer = GraphLayerSource.Read(model, b);
            int n = layer.Neurons, d = layer.Hidden;
            var kept = Enumerable.Range(0, n).Where(j => j % 3 != 0).ToArray();
            float[] Rows(ReadOnlyMemory<float> m) => m.IsEmpty ? [] : kept.SelectMany(j => m.Slice(j * d, d).ToArray()).ToArray();
            var down = new double[(long)d * kept.Length];
            for (int r = 0; r < d; r++)
                for (int k = 0; k < kept.Length; k++) down[r * kept.Length + k] = layer.Down.Span[r * n + kept[k]];
            var bias = Enumerable.Range(0, d).Select(r => (layer.DownBias?.Span[r] ?? 0) + 0.01 * (r + 1)).ToArray();
            layers.Add(new SlicedFfnLayer
            {
                Index = b.Index, Hidden = d, Kept = kept, Gate = Rows(layer.Gate), Up = Rows(layer.Up),
                GateBias = layer.GateBias is { } gb ? kept.Select(j => gb.Span[j]).ToArray() : null,
                UpBias = layer.UpBias is { } ub ? kept.Select(j => ub.Span[j]).ToArray() : null,
                Down = down, DownBias = bias, HasDownBias = true,
            });
        }
        return [.. layers];
    }

    /// <summary>The dense graph with the removed neurons' down entries zeroed and the bias shift added to the down bias by hand.</summary>
    private static ModelProto ZeroedReference(OnnxGraphModel model)
    {
        var clone = model.Model.Clone();
        var byName = clone.Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var b in model.Blocks)
        {
            var t = byName[b.Down.Initializer];
            var data = GraphIndex.Floats(t);
            int cols = (int)t.Dims[1];
            for (int j = 0; j < b.Width; j += 3)
                for (int k = 0; k < b.Hidden; k++) data[GraphLayerSource.Index(b.Down, cols, j, k)] = 0;
            t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
            t.FloatData.Clear();
        }
        return clone;
    }

    private static float[] RunX(ModelProto model, float[] x, long[] shape)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(x, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["x"], [input], [session.OutputMetadata.Keys.First()]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    [Theory]
    [InlineData("gelu-erf", false, false, false, true)]
    [InlineData("gelu-tanh", false, true, false, false)]
    [InlineData("silu", true, true, false, true)]
    [InlineData("relu", false, false, true, false)]
    [InlineData("relu", true, false, true, true)]
    public void PrunedGraph_EqualsZeroedDensePlusBiasShift(string activation, bool gated, bool transposed, bool gemm, bool bias)
    {
        var shape = new FfnGraphShape { Activation = activation, Gated = gated, Transposed = transposed, Gemm = gemm, Bias = bias, Width = 12 };
        using var dir = new TempFolder();
        OnnxModelFile.Save(FfnGraphs.Build(shape), dir["src/model.onnx"]);
        File.WriteAllText(dir["src/vocab.txt"], "[PAD]\n");
        var model = OnnxGraphModel.Open(dir["src"]);
        var slices = Slices(model);
        var pruned = OnnxGraphSlicer.Slice(model, slices);
        var reference = ZeroedReference(model);
        var rng = new Random(1);
        long[] dims = gemm ? [7, 6] : [2, 4, 6];
        var x = Enumerable.Range(0, (int)dims.Aggregate(1L, (p, q) => p * q)).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        // The pruned graph equals the zeroed dense graph when the bias shift is undone.
        var unshifted = OnnxGraphSlicer.Slice(model, slices.Select(s => new SlicedFfnLayer
        {
            Index = s.Index, Hidden = s.Hidden, Kept = s.Kept, Gate = s.Gate, Up = s.Up, GateBias = s.GateBias, UpBias = s.UpBias, Down = s.Down,
            DownBias = s.DownBias.Select((v, r) => v - 0.01 * (r + 1)).ToArray(), HasDownBias = bias,
        }).ToArray());
        var a = RunX(unshifted, x, dims);
        var e = RunX(reference, x, dims);
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - e[i]) <= 1e-5, $"output {i}: {a[i]} vs {e[i]}");
        // With the shift, outputs move (the compensation reaches the graph), and widths shrank.
        Assert.NotEqual(a, RunX(pruned, x, dims));
        var again = FfnBlockFinder.Find(new GraphIndex(pruned.Graph));
        Assert.Equal([8, 8], again.Blocks.Select(b => b.Width));
        Assert.All(again.Blocks, b => Assert.NotNull(b.DownBias));
        Assert.Equal(model.Model.OpsetImport, pruned.OpsetImport);
        Assert.Equal(model.Model.IrVersion, pruned.IrVersion);
        Assert.Equal(model.Model.MetadataProps, pruned.MetadataProps);
        Assert.Equal(model.Model.Graph.Input, pruned.Graph.Input);
        Assert.Equal(model.Model.Graph.Output, pruned.Graph.Output);
    }

    [Fact]
    public void NativeFusedGraph_SlicedGenerically_EqualsNativeSlicing()
    {
        var config = TinyLlama.Config(widths: [12, 9]);
        var tensors = TinyLlama.Tensors(config);
        using var dir = new TempFolder();
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(config, tensors), dir["model.onnx"]);
        var model = OnnxGraphModel.Open(dir.Path);
        var slices = Slices(model);
        // The same sliced layers through the native path: HF tensors, then the native builder.
        var native = CheckpointLayerSource.Read(config, tensors, 0);
        Assert.Equal(native.Up.ToArray(), GraphLayerSource.Read(model, model.Blocks[0]).Up.ToArray());
        Assert.Equal(native.Gate.ToArray(), GraphLayerSource.Read(model, model.Blocks[0]).Gate.ToArray());
        Assert.Equal(native.Down.ToArray(), GraphLayerSource.Read(model, model.Blocks[0]).Down.ToArray());
        var (c, t) = PrunedModel.Build(config, tensors, slices);
        using var expected = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(c, t));
        using var actual = OnnxLlamaRunner.Create(OnnxGraphSlicer.Slice(model, slices));
        var ids = new long[] { 1, 5, 7, 3, 2, 9, 1, 4, 4, 8 };
        var mask = Enumerable.Repeat(1L, 10).ToArray();
        var a = actual.Run(ids, mask, 2, 5).Logits;
        var e = expected.Run(ids, mask, 2, 5).Logits;
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - e[i]) <= 1e-4, $"logit {i}: {a[i]} vs {e[i]}");
    }

    [Fact]
    public void Write_KeepsExternalLayout_CopiesSidecars_AndLeavesTheSourceAlone()
    {
        using var dir = new TempFolder();
        OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape { Width = 12 }), dir["src/model.onnx"], new OnnxSaveOptions { ExternalDataFile = "weights.bin", ExternalThresholdBytes = 64 });
        File.WriteAllText(dir["src/vocab.txt"], "[PAD]\n");
        Directory.CreateDirectory(dir["src/1_Pooling"]);
        File.WriteAllText(dir["src/1_Pooling/config.json"], "{}");
        File.WriteAllText(dir["src/model.safetensors"], "unpruned weights in another format: never copied beside the pruned graph");
        var before = Directory.GetFiles(dir["src"], "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        var model = OnnxGraphModel.Open(dir["src"]);
        var plan = new PruningPlanStub(model).Plan;
        var files = OnnxGraphSlicer.Write(dir["out"], model, plan, Slices(model));
        Assert.Equal(["1_Pooling/config.json", "model.onnx", "pruning-plan.json", "vocab.txt", "weights.bin"],
            files.Select(f => Path.GetRelativePath(dir["out"], f)).Order(StringComparer.Ordinal));
        var reopened = OnnxGraphModel.Open(dir["out"]);
        Assert.Equal(["weights.bin"], reopened.ExternalFiles);
        Assert.Equal([8, 8], reopened.Blocks.Select(b => b.Width));
        foreach (var (f, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(f));
        Assert.Throws<OutputConflictException>(() => OnnxGraphSlicer.Write(dir["out"], model, plan, Slices(model)));
        Assert.Throws<OutputConflictException>(() => OnnxGraphSlicer.Write(dir["src/inner"], model, plan, Slices(model)));
        Assert.False(Directory.Exists(dir["src/inner"]));
    }

    /// <summary>A plan for a graph with nothing removed (the writer only records it).</summary>
    private sealed class PruningPlanStub(OnnxGraphModel model)
    {
        public PruningPlan Plan => new()
        {
            Model = GraphLayerSource.Fingerprint("test", model),
            Method = "magnitude",
            MethodParameters = new PlanParameters(),
            Budget = new PruningBudget(BudgetKind.Uniform, 0.3).ToInfo(),
            Ratio = 0.3,
            Seed = 0,
            Compensation = new CompensationOptions(CompensationKind.None, 0).ToInfo(),
            Layers = model.Blocks.Select(b => new LayerPlan(b.Index, Enumerable.Range(0, b.Width).ToArray(), [])).ToArray(),
        };
    }
}
