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

    /// <summary>Weights ~ U(-1,1)/sqrt(fan_in) (embedding U(-1,1)), norm weights 1 + U(-0.2,0.2), biases U(-0.1,0.1).</summary>
    public static InMemoryTensorSource Tensors(LlamaConfig c, int seed)
    {
        var rng = new Random(seed);
        var t = new InMemoryTensorSource();
        void Matrix(string name, int rows, int cols, double scale)
        {
            var data = new float[rows * cols];
            for (int i = 0; i < data.Length; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
            t.Add(name, [rows, cols], data);
        }
        void Vector(string name, int n, double center, double spread)
        {
            var data = new float[n];
            for (int i = 0; i < n; i++) data[i] = (float)(center + (rng.NextDouble() * 2 - 1) * spread);
            t.Add(name, [n], data);
        }
        int d = c.HiddenSize, q = c.NumAttentionHeads * c.HeadDim, kv = c.NumKeyValueHeads * c.HeadDim;
        Matrix(LlamaTensorNames.Embedding, c.VocabSize, d, 1);
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            int n = c.FfnWidth(l);
            Vector(LlamaTensorNames.AttentionNorm(l), d, 1, 0.2);
            Matrix(LlamaTensorNames.Q(l), q, d, 1 / Math.Sqrt(d));
            Matrix(LlamaTensorNames.K(l), kv, d, 1 / Math.Sqrt(d));
            Matrix(LlamaTensorNames.V(l), kv, d, 1 / Math.Sqrt(d));
            Matrix(LlamaTensorNames.O(l), d, q, 1 / Math.Sqrt(q));
            Vector(LlamaTensorNames.FfnNorm(l), d, 1, 0.2);
            Matrix(LlamaTensorNames.Gate(l), n, d, 1 / Math.Sqrt(d));
            Matrix(LlamaTensorNames.Up(l), n, d, 1 / Math.Sqrt(d));
            Matrix(LlamaTensorNames.Down(l), d, n, 1 / Math.Sqrt(n));
            if (c.MlpBias)
            {
                Vector(LlamaTensorNames.GateBias(l), n, 0, 0.1);
                Vector(LlamaTensorNames.UpBias(l), n, 0, 0.1);
                Vector(LlamaTensorNames.DownBias(l), d, 0, 0.1);
            }
        }
        Vector(LlamaTensorNames.FinalNorm, d, 1, 0.2);
        if (!c.TieWordEmbeddings) Matrix(LlamaTensorNames.LmHead, c.VocabSize, d, 1 / Math.Sqrt(d));
        return t;
    }

    /// <summary>Seeded random token ids in [1, vocab).</summary>
    public static int[] Ids(int count, int vocab, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => rng.Next(1, vocab)).ToArray();
    }
}
