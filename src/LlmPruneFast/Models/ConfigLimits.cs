using LlmPruneFast.Models.Llama;
namespace LlmPruneFast.Models;

/// <summary>
/// Ranges every <see cref="LlamaConfig"/> field must lie in before anything is allocated from it (tensor name lists,
/// RoPE tables, buffers). Why: a config is user input; <c>num_hidden_layers: 1e9</c> would otherwise build nine
/// billion names before a file is even opened, and <c>rope_theta: 0</c> would run and print NaN.
/// </summary>
/// <remarks>The bounds are far above any released LLaMA-family model (largest: 126 layers, hidden 16384, vocab 256k).</remarks>
public static class ConfigLimits
{
    public const int MaxLayers = 1024;
    public const int MaxHidden = 1 << 17;
    public const int MaxHeads = 1024;
    public const int MaxHeadDim = 1024;
    public const int MaxIntermediate = 1 << 20;
    public const int MaxVocab = 1 << 22;
    public const int MaxPositions = 1 << 22;

    /// <summary>Returns <paramref name="c"/> when every field is in range; else <see cref="BadModelFileException"/> naming the field.</summary>
    public static LlamaConfig Check(LlamaConfig c, string source)
    {
        void Range(string key, long value, long max)
        {
            if (value < 1 || value > max)
                throw new BadModelFileException($"model config '{source}': '{key}' {value} is out of range (expected 1..{max})");
        }
        Range("num_hidden_layers", c.NumHiddenLayers, MaxLayers);
        Range("hidden_size", c.HiddenSize, MaxHidden);
        Range("num_attention_heads", c.NumAttentionHeads, MaxHeads);
        Range("num_key_value_heads", c.NumKeyValueHeads, c.NumAttentionHeads);
        Range("head_dim", c.HeadDim, MaxHeadDim);
        Range("intermediate_size", c.IntermediateSize, MaxIntermediate);
        Range("vocab_size", c.VocabSize, MaxVocab);
        Range("max_position_embeddings", c.MaxPositionEmbeddings, MaxPositions);
        if (c.IntermediateSizes is { } widths)
        {
            if (widths.Count != c.NumHiddenLayers)
                throw new BadModelFileException($"model config '{source}': intermediate_sizes lists {widths.Count} widths for {c.NumHiddenLayers} layers");
            foreach (var w in widths) Range("intermediate_sizes", w, MaxIntermediate);
        }
        if (c.NumAttentionHeads % c.NumKeyValueHeads != 0)
            throw new BadModelFileException($"model config '{source}': num_key_value_heads {c.NumKeyValueHeads} must divide num_attention_heads {c.NumAttentionHeads}");
        if (c.HeadDim % 2 != 0) throw new BadModelFileException($"model config '{source}': head_dim {c.HeadDim} must be even (RoPE rotates pairs)");
        // One tensor must fit one .NET array (the embedding, lm_head and the projections are read whole).
        long largest = Math.Max(Math.Max((long)c.VocabSize * c.HiddenSize, (long)c.NumAttentionHeads * c.HeadDim * c.HiddenSize),
            (long)Math.Max(c.IntermediateSize, c.IntermediateSizes?.Max() ?? 0) * c.HiddenSize);
        if (largest > Array.MaxLength)
            throw new BadModelFileException($"model config '{source}': a tensor of {largest} elements is implied; at most {Array.MaxLength} are supported");
        if (!double.IsFinite(c.RopeTheta) || c.RopeTheta <= 0)
            throw new BadModelFileException($"model config '{source}': 'rope_theta' {c.RopeTheta} must be a finite positive number");
        if (!double.IsFinite(c.RmsNormEps) || c.RmsNormEps <= 0 || c.RmsNormEps >= 1)
            throw new BadModelFileException($"model config '{source}': 'rms_norm_eps' {c.RmsNormEps} must be in (0, 1)");
        if (c.BosTokenId < 0 || c.BosTokenId >= c.VocabSize)
            throw new BadModelFileException($"model config '{source}': 'bos_token_id' {c.BosTokenId} is not a token id (vocab_size {c.VocabSize})");
        if (c.EosTokenId < 0 || c.EosTokenId >= c.VocabSize)
            throw new BadModelFileException($"model config '{source}': 'eos_token_id' {c.EosTokenId} is not a token id (vocab_size {c.VocabSize})");
        return c;
    }
}
