using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Models.OnnxGraph;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// The one way the verbs open a model: <see cref="ModelFolder"/> tells the families apart by their files, and a
/// <see cref="DecoderCheckpoint"/> shows what the LLaMA adapter behind it sees (shape, fingerprint, pruned shape,
/// written checkpoint), so the verbs that moved onto it print and record the same numbers.
/// </summary>
public sealed class ModelFolderTests
{
    [Fact]
    public void IsGraphAndIsEncoder_TellTheFamiliesApartByTheirFiles()
    {
        using var dir = new TempFolder();
        string checkpoint = dir["checkpoint"], encoder = dir["encoder"], decoder = dir["decoder"], bare = dir["bare"];
        TinyLlama.WriteFolder(checkpoint);
        foreach (var graph in new[] { encoder, decoder, bare })
        {
            Directory.CreateDirectory(graph);
            OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape()), Path.Combine(graph, "model.onnx"));
        }
        File.WriteAllText(Path.Combine(encoder, "vocab.txt"), "[PAD]\n[UNK]\n");
        File.WriteAllBytes(Path.Combine(decoder, "tokenizer.model"), [1, 2, 3]);

        Assert.False(ModelFolder.IsGraph(checkpoint));
        Assert.False(ModelFolder.IsEncoder(checkpoint));
        Assert.True(ModelFolder.IsGraph(encoder));
        Assert.True(ModelFolder.IsEncoder(encoder));
        Assert.True(ModelFolder.IsEncoder(Path.Combine(encoder, "model.onnx")));
        Assert.True(ModelFolder.IsGraph(decoder));
        Assert.False(ModelFolder.IsEncoder(decoder));
        // model.onnx alone: an encoder missing its vocab.txt (reported as such), not a decoder checkpoint
        Assert.True(ModelFolder.IsGraph(bare));
        Assert.True(ModelFolder.IsEncoder(bare));
    }

    [SharedFact]
    public void Llama2cBin_IsACheckpoint_WithTheImportedWeightsAndTheTokenizerBesideIt()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["m"]);
        string bin = dir["m/stories260K.bin"];
        File.Copy(SharedData.Stories260KBin, bin);
        // A graph folder's files beside the .bin do not make it a graph or an encoder.
        OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape()), dir["m/model.onnx"]);
        File.WriteAllText(dir["m/vocab.txt"], "[PAD]\n[UNK]\n");
        Assert.False(ModelFolder.IsGraph(bin));
        Assert.False(ModelFolder.IsEncoder(bin));
        Assert.True(DecoderCheckpoint.IsSingleFile(bin));
        Assert.False(DecoderCheckpoint.IsSingleFile(dir["m"]));

        Assert.Throws<MissingInputException>(() => ModelFolder.OpenCheckpoint(bin)); // no tokenizer beside it
        File.Copy(SharedData.Stories260KTokenizer, dir["m/tokenizer.model"]);
        using var checkpoint = ModelFolder.OpenCheckpoint(bin);
        Assert.Equal(Path.GetFullPath(bin), checkpoint.Directory);
        Assert.Equal(Stories260K.Config.Shape().FfnWidths, checkpoint.Shape.FfnWidths);
        Assert.Equal(Stories260K.Config.Shape().Parameters, checkpoint.Shape.Parameters);
        Assert.Equal(CheckpointLayerSource.Fingerprint("s", Stories260K.Config, Stories260K.Tensors).FfnSha256, checkpoint.Fingerprint("s").FfnSha256);
        Assert.Equal(Stories260K.Tokenizer.Encode("Once upon a time"), checkpoint.Tokenizer.Encode("Once upon a time"));
        Assert.Throws<BadArgumentException>(() => ModelFolder.OpenCheckpoint(dir["m"], SharedData.Stories260KTokenizer)); // --tokenizer with a folder
    }

    [Fact]
    public void DecoderCheckpoint_ShowsWhatTheLlamaAdapterSees_AndReadsItsTokenizerOnlyWhenAsked()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.WriteFolder(dir["m"], TinyLlama.Config(widths: [12, 10]));
        using var llama = LlamaCheckpoint.Open(dir["m"]);
        using var checkpoint = ModelFolder.OpenCheckpoint(dir["m"]);

        Assert.Equal(llama.Directory, checkpoint.Directory);
        Assert.Equal(PrunedModel.Parameters(config), checkpoint.Shape.Parameters);
        Assert.Equal([12, 10], checkpoint.Shape.FfnWidths);
        Assert.Equal(config.MaxPositionEmbeddings, checkpoint.MaxPositions);
        Assert.Equal(PlanJson.Serialize(Plan(CheckpointLayerSource.Fingerprint("tiny", llama.Config, llama.Tensors))),
            PlanJson.Serialize(Plan(checkpoint.Fingerprint("tiny"))));
        // The folder's tokenizer.model is a placeholder: opening succeeds, reading it is the error.
        Assert.Throws<BadModelFileException>(() => checkpoint.Tokenizer);
    }

    [Fact]
    public void PrunedShape_IsTheWrittenCheckpointsShape_AndTheMeasuredModelsShape()
    {
        using var dir = new TempFolder();
        TinyLlama.WriteFolder(dir["m"], TinyLlama.Config(widths: [12, 10]));
        using var checkpoint = ModelFolder.OpenCheckpoint(dir["m"]);
        // Neurons 1 and 4 of layer 0 and neuron 3 of layer 1 removed, no compensation (no activations needed).
        var plan = Plan(checkpoint.Fingerprint(checkpoint.Directory), new() { [0] = [1, 4], [1] = [3] });
        var layers = Pruner.ApplyPlan(plan, checkpoint.Layers()).ToArray();

        var expected = checkpoint.PrunedShape(layers);
        Assert.Equal([10, 9], expected.FfnWidths);
        Assert.True(expected.Parameters < checkpoint.Shape.Parameters);
        foreach (bool view in new[] { true, false })
        {
            var measured = checkpoint.Pruned(layers, view).Shape;
            Assert.Equal(expected.Parameters, measured.Parameters);
            Assert.Equal(expected.FfnWidths, measured.FfnWidths);
        }

        var (shape, files) = checkpoint.WritePruned(dir["out"], plan, layers);
        Assert.Equal(expected.Parameters, shape.Parameters);
        Assert.Equal(expected.FfnWidths, shape.FfnWidths);
        Assert.Contains(files, f => Path.GetFileName(f) == "model.onnx");
        using var written = ModelFolder.OpenCheckpoint(dir["out"]);
        Assert.Equal(expected.Parameters, written.Shape.Parameters);
        Assert.Equal(Path.Combine(written.Directory, "model.onnx"), ((DecoderWeights)written.WrittenWeights).OnnxFile);
    }

    /// <summary>A magnitude plan removing <paramref name="removed"/> (layer -> neurons), nothing by default.</summary>
    private static PruningPlan Plan(ModelFingerprint model, Dictionary<int, int[]>? removed = null) => new()
    {
        Model = model, Method = "magnitude", Budget = new BudgetInfo("uniform", 0.05), Ratio = 0.1, Seed = 0,
        Compensation = new CompensationInfo("none", new PlanParameters()),
        Layers = Enumerable.Range(0, model.Layers).Select(l =>
        {
            var cut = removed?.GetValueOrDefault(l) ?? [];
            return new LayerPlan(l, Enumerable.Range(0, model.Widths[l]).Except(cut).ToArray(),
                cut.Select(j => new RemovedNeuron(j, null, null, 0, "test")).ToArray());
        }).ToArray(),
    };
}
