using LlmPruneFast.Models;
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
