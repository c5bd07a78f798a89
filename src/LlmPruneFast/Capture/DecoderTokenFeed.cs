using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Capture;

/// <summary>
/// Inputs of a decoder graph from its tokenizer (SentencePiece <c>tokenizer.model</c> or byte-level BPE
/// <c>tokenizer.json</c>): the tokenizer's BOS (if any) + ids, right padding with 0,
/// <c>input_ids</c>, <c>attention_mask</c> and <c>position_ids</c> (0, 1, 2, ... per row; padding repeats the last).
/// </summary>
public sealed class DecoderTokenFeed(IModelTokenizer tokenizer) : IGraphFeed
{
    public static DecoderTokenFeed Load(string tokenizerFile) => new(ModelTokenizer.Load(tokenizerFile));

    public int[] Encode(string text, int maxTokens)
    {
        int[] ids = text.Length == 0 && tokenizer.BosId is int bos ? [bos] : tokenizer.Encode(text);
        return ids.Length > maxTokens ? ids[..maxTokens] : ids;
    }

    public bool Causal => true;

    public PadSide Side => PadSide.Right;

    public int PadId => 0;

    public IReadOnlyDictionary<string, long[]> Inputs(TokenBatch batch, IReadOnlyList<string> graphInputNames)
    {
        var inputs = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var name in graphInputNames)
            inputs[name] = name switch
            {
                "input_ids" or "tokens" or "ids" => batch.Ids,
                "attention_mask" => batch.Mask,
                "position_ids" => Positions(batch),
                _ => throw new UnsupportedArchitectureException($"graph input '{name}': a decoder feed supplies input_ids, attention_mask and position_ids only"),
            };
        return inputs;
    }

    /// <summary>cumsum(mask) - 1, clipped at 0: the position of each real token, whatever the padding side.</summary>
    private static long[] Positions(TokenBatch batch)
    {
        var p = new long[batch.Ids.Length];
        for (int r = 0; r < batch.Batch; r++)
        {
            long count = 0;
            for (int c = 0; c < batch.Seq; c++)
            {
                count += batch.Mask[r * batch.Seq + c];
                p[r * batch.Seq + c] = Math.Max(0, count - 1);
            }
        }
        return p;
    }
}
