using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Perf;

/// <summary>
/// A LLaMA checkpoint with seeded random weights, generated tensor by tensor when read: matrices uniform in
/// +-1/sqrt(fan_in) (the scale of PyTorch's default Linear init, so activations stay O(1)), norm weights 1.
/// Each tensor has its own seed (derived from the checkpoint seed and its position), so values do not depend on the
/// order tensors are read in, and only the tensor being read is in memory: a 7B checkpoint can be written without
/// holding it. Throughput does not depend on the values.
/// </summary>
internal sealed class SyntheticLlama(LlamaConfig config, int seed = 7, TensorDType dtype = TensorDType.F32) : ITensorSource
{
    private readonly Dictionary<string, (int Index, long[] Shape)> _shapes = LlamaTensorShapes.Expected(config)
        .Select((e, i) => (e.Name, i, e.Shape)).ToDictionary(e => e.Name, e => (e.i, e.Shape), StringComparer.Ordinal);
    private readonly string[] _names = LlamaTensorShapes.Expected(config).Select(e => e.Name).ToArray();

    public LlamaConfig Config => config;
    public IReadOnlyCollection<string> Names => _names;
    public bool Contains(string name) => _shapes.ContainsKey(name);

    /// <summary>Reports <c>dtype</c>, so a writer with <see cref="SafeTensorsWriter.KeepDType"/> stores it so.</summary>
    public TensorInfo GetInfo(string name) => new(name, dtype, (long[])Shape(name).Shape.Clone());

    public float[] ReadFloat32(string name)
    {
        var (index, shape) = Shape(name);
        var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
        if (shape.Length == 1)
        {
            data.AsSpan().Fill(1f);
            return data;
        }
        var rng = new Random(HashCode.Combine(seed, index));
        double scale = 1 / Math.Sqrt(shape[1]);
        for (long i = 0; i < data.LongLength; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return data;
    }

    private (int Index, long[] Shape) Shape(string name) =>
        _shapes.TryGetValue(name, out var s) ? s : throw new BadModelFileException($"tensor '{name}' not found");

    public void Dispose() { }

    /// <summary>All tensors in managed float32 arrays (small models only: the whole model is held).</summary>
    public InMemoryTensorSource Materialise()
    {
        var t = new InMemoryTensorSource();
        foreach (var name in _names) t.Add(name, Shape(name).Shape, ReadFloat32(name));
        return t;
    }

    /// <summary>
    /// Writes the checkpoint folder <paramref name="dir"/> (config.json, weights stored as <c>dtype</c>, sharded like
    /// Hugging Face when over <paramref name="maxShardBytes"/>, the given SentencePiece tokenizer), one tensor at a time.
    /// </summary>
    public void Write(string dir, string tokenizerModel, long maxShardBytes)
    {
        long bytes = _names.Sum(n => GetInfo(n).ElementCount * FloatWidening.SizeOf(dtype));
        LlamaCheckpointWriter.Write(dir, config, this, tokenizerModel, new LlamaCheckpointWriteOptions
        {
            StoreAs = SafeTensorsWriter.KeepDType,
            MaxShardBytes = bytes > maxShardBytes ? maxShardBytes : null,
        });
    }

    /// <summary>The LLaMA shapes the <c>scale</c> suite measures, by name.</summary>
    public static LlamaConfig Preset(string shape) => shape.ToLowerInvariant() switch
    {
        // 134M parameters: a small LLaMA-2-style model (untied head, MHA, head_dim 64).
        "134m" => new LlamaConfig
        {
            HiddenSize = 768, IntermediateSize = 2048, NumHiddenLayers = 12, NumAttentionHeads = 12, NumKeyValueHeads = 12, HeadDim = 64,
            VocabSize = 32000, MaxPositionEmbeddings = 2048, TieWordEmbeddings = false,
        },
        // TinyLlama-1.1B: GQA with 4 KV heads.
        "1.1b" => new LlamaConfig
        {
            HiddenSize = 2048, IntermediateSize = 5632, NumHiddenLayers = 22, NumAttentionHeads = 32, NumKeyValueHeads = 4, HeadDim = 64,
            VocabSize = 32000, MaxPositionEmbeddings = 2048, TieWordEmbeddings = false,
        },
        // LLaMA-2-7B.
        "7b" => new LlamaConfig
        {
            HiddenSize = 4096, IntermediateSize = 11008, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 32, HeadDim = 128,
            VocabSize = 32000, MaxPositionEmbeddings = 4096, TieWordEmbeddings = false, RmsNormEps = 1e-6,
        },
        _ => throw new ArgumentException($"unknown shape '{shape}'; expected 134m, 1.1b or 7b"),
    };
}
