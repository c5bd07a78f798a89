using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Tests.Pipeline;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Tests.Models.OnnxGraph;

/// <summary>
/// The positions a graph holds, read from its position tables, and what the pipeline does with them: sequences are
/// cut to the table instead of failing inside ONNX Runtime, and a graph that fails anyway gives a clean error.
/// </summary>
public sealed class PositionTablesTests
{
    private static (int Positions, string Node)? Limit(ModelProto model) => PositionTables.Limit(new GraphIndex(model.Graph));

    /// <summary>input_ids -> token embedding, plus one extra table read as <paramref name="positionTable"/> says.</summary>
    private static ModelProto Embeddings(Func<OnnxGraphWriter, string, string?> positionTable)
    {
        var g = new OnnxGraphWriter("test");
        g.Input("input_ids", DT.Int64, "batch", "seq");
        string x = g.Op("Gather", "tok", [g.Float("embed", [50, 4], new float[200]), "input_ids"]);
        if (positionTable(g, x) is { } p) x = g.Op("Add", "sum", [x, p]);
        g.Output(x, DT.Float, "batch", "seq", 4L);
        return g.ToModel(13, "test", []);
    }

    private static string Seq(OnnxGraphWriter g) =>
        g.Op("Gather", "seq_len", [g.Op("Shape", "ids_shape", ["input_ids"]), g.Int64("one", [1], scalar: true)]);

    [Fact]
    public void TokenEmbeddingAlone_IsNoPositionTable() => Assert.Null(Limit(Embeddings((_, _) => null)));

    [Fact]
    public void LearnedPositions_ReadAtComputedIndices_AreTheLimit()
    {
        var model = Embeddings((g, _) =>
        {
            string pos = g.Op("Range", "positions", [g.Int64("zero", [0], scalar: true), Seq(g), g.Int64("step", [1], scalar: true)]);
            return g.Op("Gather", "pos_embed_read", [g.Float("pos_embed", [24, 4], new float[96]), g.Op("Unsqueeze", "pos2", [pos, g.Int64("axes", [0])])]);
        });
        var limit = Limit(model);
        Assert.Equal(24, limit?.Positions);
        Assert.Contains("pos_embed_read", limit?.Node);
    }

    [Fact]
    public void PositionsGivenAsAGraphInput_AreTheLimit()
    {
        var model = Embeddings((g, _) =>
        {
            g.Input("position_ids", DT.Int64, "batch", "seq");
            return g.Op("Gather", "pos_embed_read", [g.Float("pos_embed", [32, 4], new float[128]), "position_ids"]);
        });
        Assert.Equal(32, Limit(model)?.Positions);
    }

    [Fact]
    public void TableReadAtFixedIndices_OrByAnotherTokenInput_IsNotAPositionTable()
    {
        // Token type 0 everywhere (ConstantOfShape), as some exports bake it: a 2-row table, not 2 positions.
        var fixedTypes = Embeddings((g, _) =>
            g.Op("Gather", "type_read", [g.Float("type_embed", [2, 4], new float[8]), g.Op("ConstantOfShape", "zeros", [g.Op("Shape", "s", ["input_ids"])])]));
        Assert.Null(Limit(fixedTypes));
        var typeInput = Embeddings((g, _) =>
        {
            g.Input("token_type_ids", DT.Int64, "batch", "seq");
            return g.Op("Gather", "type_read", [g.Float("type_embed", [2, 4], new float[8]), g.Op("Cast", "types64", ["token_type_ids"], OnnxGraphWriter.Int("to", 7))]);
        });
        Assert.Null(Limit(typeInput));
    }

    [Fact]
    public void CacheSlicedToTheSequenceOnAxis0_IsTheLimit()
    {
        var model = Embeddings((g, _) =>
        {
            string cut = g.Op("Slice", "freqs_cut", [g.Float("freqs", [40, 4], new float[160]), g.Int64("start", [0]),
                g.Op("Unsqueeze", "end", [Seq(g), g.Int64("axes", [0])]), g.Int64("axis0", [0])]);
            return g.Op("Unsqueeze", "freqs_b", [cut, g.Int64("axesb", [0])]);
        });
        Assert.Equal(40, Limit(model)?.Positions);
    }

    [Fact]
    public void NativeLlamaGraph_HoldsItsConfiguredPositions()
    {
        var config = TinyLlama.Config() with { MaxPositionEmbeddings = 48 };
        var limit = Limit(LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config)));
        Assert.Equal(48, limit?.Positions);
    }

    [Fact]
    public void MiniLm_HoldsBertsFiveHundredTwelvePositions()
    {
        var graph = OnnxGraphModel.Open(LlmPruneFast.Tests.Encoders.MiniLm.Folder);
        Assert.Equal(512, graph.PositionLimit?.Positions);
    }

    /// <summary>
    /// A decoder graph of 64 positions (stories260K exported with a shorter table): prune and eval cut their
    /// sequences to it (before, the 256-token calibration windows failed inside ONNX Runtime), and inspect says so.
    /// </summary>
    [SharedFact]
    public void ShortDecoderGraph_PrunesAndEvaluates_WithSequencesCutToItsTable()
    {
        using var dir = new TempFolder();
        var config = Stories260K.Config with { MaxPositionEmbeddings = 64 };
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(config, Stories260K.Tensors), dir["graph/model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, dir["graph/tokenizer.model"]);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));
        File.WriteAllText(dir["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(4)));

        var (code, output, err) = CliRunner.Run("inspect", "--model", dir["graph"], "--json");
        Assert.True(code == 0, err);
        Assert.Contains("positions  64", output);
        Assert.Equal(64, JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("positions").GetInt32());

        (code, output, err) = CliRunner.Run("prune", "--model", dir["graph"], "--calib", dir["calib.txt"], "--eval", dir["eval.txt"], "--method", "magnitude",
            "--ratio", "0.2", "--samples", "256", "--out", dir["pruned"], "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.True(json.GetProperty("perplexity_after").GetDouble() > json.GetProperty("perplexity_before").GetDouble());
        Assert.True(File.Exists(dir["pruned/model.onnx"]));
    }

    /// <summary>A batch longer than the graph holds is an error naming the file and the batch, not an ONNX Runtime crash.</summary>
    [Fact]
    public void GraphRunOnTooManyPositions_IsACleanModelError()
    {
        var config = TinyLlama.Config() with { MaxPositionEmbeddings = 8 };
        var graph = LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config));
        using var session = new GraphSession(graph, new FixedFeed(), name: "short.onnx");
        var ok = session.Run(TokenBatch.Create([[1, 2, 3, 4, 5, 6, 7, 8]]), ["logits"]);
        Assert.NotEmpty(ok[0]);
        var ex = Assert.Throws<BadModelFileException>(() => session.Run(TokenBatch.Create([[1, 2, 3, 4, 5, 6, 7, 8, 9]]), ["logits"]));
        Assert.Contains("short.onnx", ex.Message);
        Assert.Contains("1 x 9", ex.Message);
        Assert.Contains("--calib-len", ex.Message);
    }

    /// <summary>input_ids and attention_mask from the batch (what the native graph takes).</summary>
    private sealed class FixedFeed : IGraphFeed
    {
        public PadSide Side => PadSide.Right;
        public int PadId => 0;
        public bool Causal => true;
        public int[] Encode(string text, int maxLength) => [1];
        public IReadOnlyDictionary<string, long[]> Inputs(TokenBatch batch, IReadOnlyList<string> names) => names.ToDictionary(n => n, n => n switch
        {
            "input_ids" => batch.Ids,
            "attention_mask" => batch.Mask,
            _ => throw new ArgumentException(n),
        });
    }
}
