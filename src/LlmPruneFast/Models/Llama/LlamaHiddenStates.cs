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
    public static void Advance(this HiddenStates hidden, LlamaLayerRunner runner, LoadedLayer layer, IReadOnlyList<TokenBatch> batches, CancellationToken ct, Action<int>? done = null)
    {
        for (int b = 0; b < batches.Count; b++)
        {
            ct.ThrowIfCancellationRequested();
            var tokens = batches[b];
            var x = hidden.Read(b);
            var output = new float[x.LongLength];
            runner.Run(layer, x, tokens.Mask, tokens.Batch, tokens.Seq, output, null);
            hidden.Write(b, output);
            done?.Invoke(b);
        }
    }
}
