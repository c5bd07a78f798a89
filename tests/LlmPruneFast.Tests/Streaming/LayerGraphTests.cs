using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>The per-layer graph, chained layer by layer, against the whole-model graph (the same emitter).</summary>
public sealed class LayerGraphTests
{
    [SharedFact]
    public void ChainedLayers_GiveTheWholeModelsTaps_BitForBit()
    {
        var config = Stories260K.Config;
        var tensors = Stories260K.Tensors;
        var sequences = Stories260K.EvalSequences(5);
        var batch = TokenBatch.Create(sequences);
        using var whole = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true, Logits = false }));
        var expected = whole.Run(batch, taps: true).Taps!;

        int d = config.HiddenSize, n = config.IntermediateSize;
        var embedding = tensors.ReadFloat32(LlamaTensorNames.Embedding);
        var hidden = new float[batch.Ids.Length * d];
        for (int t = 0; t < batch.Ids.Length; t++) Array.Copy(embedding, batch.Ids[t] * d, hidden, t * d, d);
        using var runner = new LlamaLayerRunner(config);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            using var layer = runner.Load(l, n, false, (name, rows, cols) => cols == 0 ? LlamaLayerGraph.ReadChecked(tensors, name, rows) : LlamaLayerGraph.ReadChecked(tensors, name, rows, cols));
            var taps = new float[batch.Ids.Length * n];
            var next = new float[hidden.Length];
            runner.Run(layer, hidden, batch.Mask, batch.Batch, batch.Seq, next, taps);
            double max = 0;
            for (int i = 0; i < taps.Length; i++) max = Math.Max(max, Math.Abs(taps[i] - expected[l][i]));
            Assert.True(max == 0, $"layer {l}: max |difference| {max}");
            hidden = next;
        }
        Assert.Equal(1, runner.Sessions);
    }
}

/// <summary>The carried hidden states in a memory-mapped scratch file, and sequential capture, on stories260K.</summary>
public sealed class LayerStreamTests
{
    private static LlmPruneFast.Capture.CalibrationSample Sample() => LlmPruneFast.Capture.CalibrationSample.Draw(t => Stories260K.Tokenizer.Encode(t),
        Stories260K.Config.MaxPositionEmbeddings, Stories260K.Config.BosTokenId, Stories260K.Calibration(20_000), "calib",
        new LlmPruneFast.Capture.CalibrationOptions { Samples = 300, Seed = 2, BatchSize = 3 }, causal: true);

    [SharedFact]
    public void ScratchFile_GivesTheInMemoryActivations_AndIsRemoved()
    {
        using var dir = new LlmPruneFast.Tests.Models.TempFolder();
        var sample = Sample();
        using var memory = new LayerStream(Stories260K.Config, Stories260K.Tensors, sample);
        var scratch = new LayerStream(Stories260K.Config, Stories260K.Tensors, sample,
            new LlmPruneFast.Capture.LayerStreamOptions { HiddenInMemoryLimitBytes = 0, ScratchFolder = dir.Path });
        Assert.False(memory.FileBacked);
        Assert.True(scratch.FileBacked);
        Assert.Single(Directory.GetFiles(dir.Path));
        for (int l = 0; l < Stories260K.Config.NumHiddenLayers; l++)
            Assert.Equal(memory.Capture(l, advance: true).Data.ToArray(), scratch.Capture(l, advance: true).Data.ToArray());
        scratch.Dispose();
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [SharedFact]
    public void DenseStream_EqualsTheWholeModelCapture_Restart_GivesTheSameAgain()
    {
        var options = new LlmPruneFast.Capture.CalibrationOptions { Samples = 300, Seed = 2, BatchSize = 3 };
        var whole = new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer).Capture(Stories260K.Calibration(20_000), "calib", options);
        using var stream = new LayerStream(Stories260K.Config, Stories260K.Tensors, Sample());
        for (int pass = 0; pass < 2; pass++)
        {
            for (int l = 0; l < Stories260K.Config.NumHiddenLayers; l++)
            {
                var streamed = stream.Capture(l, advance: true);
                Assert.Equal(whole.Layers[l].Data.ToArray(), streamed.Data.ToArray());
                // The excluded BOS positions too, at the same share.
                Assert.Equal(whole.Layers[l].Leading!.Data.ToArray(), streamed.Leading!.Data.ToArray());
                Assert.Equal(whole.Layers[l].Leading!.Share, streamed.Leading!.Share);
            }
            stream.Restart();
        }
    }
}
