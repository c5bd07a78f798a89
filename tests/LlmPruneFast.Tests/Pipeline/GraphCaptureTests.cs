using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>A feed for tests: BOS (1) then one id per character, for a vocabulary of 16.</summary>
internal sealed class CharFeed : IGraphFeed
{
    public int[] Encode(string text, int maxTokens) => new[] { 1 }.Concat(text.Where(c => !char.IsWhiteSpace(c)).Select(c => 2 + c % 14)).Take(maxTokens).ToArray();
    public bool Causal => true;
    public PadSide Side => PadSide.Right;
    public int PadId => 0;
    public IReadOnlyDictionary<string, long[]> Inputs(TokenBatch batch, IReadOnlyList<string> graphInputNames) =>
        graphInputNames.ToDictionary(n => n, n => n == "input_ids" ? batch.Ids : batch.Mask);
}

public sealed class GraphCaptureTests
{
    internal const string Text = "the cat sat on the mat\n\nand then it ran far away from the dog\n\nwho barked all day long at it\n\nthe end of the story came soon";

    [Fact]
    public void GenericCapture_OnTheNativeGraph_EqualsNativeCapture()
    {
        var config = TinyLlama.Config(widths: [12, 9]);
        var tensors = TinyLlama.Tensors(config);
        var options = new CalibrationOptions { Samples = 40, Seed = 4, BatchSize = 3, Threads = 1 };
        var feed = new CharFeed();
        var native = CalibrationCapture.Run(new TapModel
        {
            Widths = [12, 9],
            MaxLength = config.MaxPositionEmbeddings,
            LeadingSpecialId = config.BosTokenId,
            Encode = t => feed.Encode(t, int.MaxValue),
            Causal = true,
            Open = () => new LlamaTapRunner(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = false }), 1),
        }, Text, "text", options);
        using var dir = new TempFolder();
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(config, tensors), dir["model.onnx"]);
        var graph = OnnxGraphModel.Open(dir.Path);
        var generic = GraphCalibrationCapture.Run(graph, feed, Text, "text", options with { MaxLength = config.MaxPositionEmbeddings });
        Assert.Equal(native.Positions, generic.Positions);
        Assert.Equal(native.EligiblePositions, generic.EligiblePositions);
        for (int l = 0; l < 2; l++)
        {
            var a = native.Layers[l].Data.Span;
            var b = generic.Layers[l].Data.Span;
            Assert.Equal(a.Length, b.Length);
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6f, $"layer {l} value {i}: {a[i]} vs {b[i]}");
        }
    }

    [SharedFact]
    public void SentencePieceFeed_OnStories260KGraph_GivesNativeActivations()
    {
        var options = new CalibrationOptions { Samples = 300, Seed = 2, BatchSize = 4, Threads = 1 };
        string text = Stories260K.Calibration(15_000);
        var native = new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer).Capture(text, "calib", options);
        using var dir = new TempFolder();
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors), dir["model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, dir["tokenizer.model"]);
        var graph = OnnxGraphModel.Open(dir.Path);
        var feed = GraphFeeds.For(dir.Path, ["input_ids", "attention_mask"]);
        Assert.IsType<DecoderTokenFeed>(feed);
        var generic = GraphCalibrationCapture.Run(graph, feed, text, "calib", options with { MaxLength = Stories260K.Config.MaxPositionEmbeddings });
        Assert.Equal(native.Positions, generic.Positions);
        for (int l = 0; l < native.Layers.Count; l++)
        {
            var a = native.Layers[l].Data.Span;
            var b = generic.Layers[l].Data.Span;
            for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-6f, $"layer {l} value {i}: {a[i]} vs {b[i]}");
        }
    }

    [Fact]
    public void FolderWithoutTokenizer_IsMissingInput()
    {
        using var dir = new TempFolder();
        var ex = Assert.Throws<MissingInputException>(() => GraphFeeds.For(dir.Path, ["input_ids"]));
        Assert.Contains("tokenizer.model", ex.Message);
    }
}
