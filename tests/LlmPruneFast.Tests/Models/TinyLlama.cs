using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

/// <summary>Small random LLaMA checkpoints (seeded) for format tests that must not depend on ../shared.</summary>
public static class TinyLlama
{
    public static LlamaConfig Config(bool tied = true, bool mlpBias = false, int[]? widths = null) => new()
    {
        HiddenSize = 8,
        IntermediateSize = widths?.Max() ?? 12,
        NumHiddenLayers = widths?.Length ?? 2,
        NumAttentionHeads = 2,
        NumKeyValueHeads = 1,
        HeadDim = 4,
        VocabSize = 16,
        MaxPositionEmbeddings = 32,
        TieWordEmbeddings = tied,
        MlpBias = mlpBias,
        IntermediateSizes = widths,
    };

    public static InMemoryTensorSource Tensors(LlamaConfig config, int seed = 7)
    {
        var random = new Random(seed);
        var tensors = new InMemoryTensorSource();
        foreach (var (name, shape) in LlamaTensorShapes.Expected(config))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            tensors.Add(name, shape, Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray());
        }
        return tensors;
    }

    /// <summary>Writes a valid HF folder at <paramref name="dir"/> with a placeholder tokenizer.model; returns its config.</summary>
    public static LlamaConfig WriteFolder(string dir, LlamaConfig? config = null, string? tokenizerModel = null)
    {
        config ??= Config();
        string tokenizer = tokenizerModel ?? Path.Combine(Path.GetTempPath(), $"llmprune-tok-{Guid.NewGuid():N}.model");
        if (tokenizerModel == null) File.WriteAllBytes(tokenizer, [1, 2, 3]);
        try
        {
            LlamaCheckpointWriter.Write(dir, config, Tensors(config), tokenizer);
        }
        finally
        {
            if (tokenizerModel == null) File.Delete(tokenizer);
        }
        return config;
    }
}
