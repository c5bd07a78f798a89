using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Models.Llama;

/// <summary>Carried hidden states (<see cref="HiddenStates"/>) moved through LLaMA decoder layers.</summary>
public static class LlamaHiddenStates
{
    /// <summary>
    /// Moves every block through one loaded decoder layer, in place (block b is <paramref name="batches"/>[b]'s tokens);
    /// <paramref name="done"/> is told after each block.
    /// </summary>
    public static void Advance(this HiddenStates hidden, LlamaLayerRunner runner, LoadedLayer layer, IReadOnlyList<TokenBatch> batches, CancellationToken ct, Action<int>? done = null) =>
        hidden.Run(runner, layer, batches, advance: true, onTaps: null, ct, done);

    /// <summary>
    /// Runs every block through one loaded decoder layer: with <paramref name="advance"/> the outputs replace the blocks;
    /// with <paramref name="onTaps"/> each block's FFN activations [batch, seq, N] are handed to it (valid only during
    /// the call). The output and tap buffers are reused from block to block: at 7B width a pass would otherwise drop
    /// about 120 MB per block (3 GB per layer) for the collector.
    /// </summary>
    public static void Run(this HiddenStates hidden, LlamaLayerRunner runner, LoadedLayer layer, IReadOnlyList<TokenBatch> batches, bool advance,
        Action<int, float[]>? onTaps, CancellationToken ct, Action<int>? done = null)
    {
        float[]? spareOutput = null, spareTaps = null;
        int n = layer.Graph.Width;
        for (int b = 0; b < batches.Count; b++)
        {
            ct.ThrowIfCancellationRequested();
            var tokens = batches[b];
            var x = hidden.Read(b);
            var output = advance ? Take(ref spareOutput, x.LongLength) : null;
            var taps = onTaps != null ? Take(ref spareTaps, (long)tokens.Ids.Length * n) : null;
            runner.Run(layer, x, tokens.Mask, tokens.Batch, tokens.Seq, output, taps);
            if (taps != null)
            {
                onTaps!(b, taps);
                spareTaps = taps;
            }
            if (output != null) spareOutput = hidden.Replace(b, output);
            done?.Invoke(b);
        }
    }

    /// <summary><paramref name="spare"/> when it has <paramref name="length"/> floats (then no longer spare), else a new array.</summary>
    private static float[] Take(ref float[]? spare, long length)
    {
        var array = spare != null && spare.LongLength == length ? spare : new float[length];
        spare = null;
        return array;
    }
}
