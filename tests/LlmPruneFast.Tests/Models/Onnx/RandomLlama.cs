using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>Small LLaMA checkpoints with seeded random weights, held in memory, for graph and evaluation tests.</summary>
public static class RandomLlama
{
    /// <summary>A config; <paramref name="widths"/> non-null gives per-layer FFN widths.</summary>
    public static LlamaConfig Config(int hidden = 16, int heads = 4, int kvHeads = 2, int headDim = 4, int layers = 2,
        int ffn = 24, int vocab = 40, bool tied = true, bool mlpBias = false, int[]? widths = null, int positions = 64) => new()
    {
        HiddenSize = hidden, NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, HeadDim = headDim,
        NumHiddenLayers = widths?.Length ?? layers, IntermediateSize = widths?.Max() ?? ffn, IntermediateSizes = widths,
        VocabSize = vocab, TieWordEmbeddings = tied, MlpBias = mlpBias, MaxPositionEmbeddings = positions,
        RmsNormEps = 1e-5, RopeTheta = 10000,
    };

    /// <summary>
    /// Every tensor the config implies (<see cref="LlamaTensorShapes.Expected"/>): matrices ~ U(-1,1)/sqrt(fan_in)
    /// (embedding U(-1,1)), norm weights 1 + U(-0.2,0.2), biases U(-0.1,0.1).
    /// </summary>
    public static InMemoryTensorSource Tensors(LlamaConfig c, int seed)
    {
        var rng = new Random(seed);
        var t = new InMemoryTensorSource();
        foreach (var (name, shape) in LlamaTensorShapes.Expected(c))
        {
            bool norm = name.EndsWith("norm.weight", StringComparison.Ordinal);
            double center = norm ? 1 : 0;
            double spread = shape.Length == 2 ? (name == LlamaTensorNames.Embedding ? 1 : 1 / Math.Sqrt(shape[1])) : norm ? 0.2 : 0.1;
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++) data[i] = (float)(center + (rng.NextDouble() * 2 - 1) * spread);
            t.Add(name, shape, data);
        }
        return t;
    }

    /// <summary>Seeded random token ids in [1, vocab).</summary>
    public static int[] Ids(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(1, vocab)).ToArray();
    }
}
