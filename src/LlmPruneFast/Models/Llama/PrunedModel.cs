using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// A pruned LLaMA model in memory: the source checkpoint's non-FFN tensors (the same arrays as read) and, per layer,
/// the sliced gate/up rows and compensated down projection of a <see cref="SlicedFfnLayer"/>.
/// </summary>
public static class PrunedModel
{
    /// <summary>
    /// Config and tensors of the pruned model. Widths: all equal -> intermediate_size = that width and no per-layer
    /// list; otherwise <see cref="LlamaConfig.IntermediateSizes"/> = the widths and intermediate_size = their maximum.
    /// mlp_bias is true when the source had it or any sliced layer needs a down bias (compensation constants); then
    /// every layer gets gate/up biases (the source's kept entries, or zeros) and a down bias (its own, or zeros), so
    /// plain transformers loads it and the function is unchanged where no bias was needed.
    /// </summary>
    /// <exception cref="BadArgumentException">The sliced layers do not match the source (count, order, hidden size).</exception>
    public static (LlamaConfig Config, InMemoryTensorSource Tensors) Build(LlamaConfig source, ITensorSource tensors,
        IReadOnlyList<SlicedFfnLayer> layers)
    {
        var config = ConfigOf(source, layers);
        int count = source.NumHiddenLayers, d = source.HiddenSize;
        var output = new InMemoryTensorSource();
        foreach (var (name, shape) in LlamaTensorShapes.Expected(config))
        {
            if (FfnPart(name, count) is var (l, part) && l >= 0)
                output.Add(name, shape, FfnData(layers[l], part, d));
            else output.Add(name, shape, tensors.ReadFloat32(name));
        }
        return (config, output);
    }

    /// <summary>
    /// The pruned model as <see cref="Build"/> gives it, but lazily: tensors the pruning leaves alone are read from
    /// <paramref name="tensors"/> only when asked for, so writing a large model holds one tensor at a time beyond the
    /// sliced layers (a spilled layer's tensors are read from its scratch file one at a time too). Each tensor reports its source's dtype (new FFN biases: that of the layer's down projection), so a
    /// writer keeping dtypes stores the pruned model as the input was stored. Does not own <paramref name="tensors"/>.
    /// </summary>
    public static (LlamaConfig Config, ITensorSource Tensors) View(LlamaConfig source, ITensorSource tensors, IReadOnlyList<SlicedFfnLayer> layers)
    {
        var config = ConfigOf(source, layers);
        return (config, new PrunedTensors(config, tensors, layers));
    }

    /// <summary>The pruned model's config alone (see <see cref="Build"/>), without reading or copying any tensor.</summary>
    /// <exception cref="BadArgumentException">The sliced layers do not match the source (count, order, hidden size).</exception>
    /// <exception cref="UnsupportedArchitectureException">Down biases are needed and the model type has none (mistral, qwen2).</exception>
    public static LlamaConfig ConfigOf(LlamaConfig source, IReadOnlyList<SlicedFfnLayer> layers)
    {
        int count = source.NumHiddenLayers, d = source.HiddenSize;
        if (layers.Count != count) throw new BadArgumentException($"{layers.Count} sliced layers for a model of {count} layers");
        for (int l = 0; l < count; l++)
        {
            if (layers[l].Index != l) throw new BadArgumentException($"sliced layer {layers[l].Index} at position {l}");
            if (layers[l].Hidden != d) throw new BadArgumentException($"sliced layer {l} has hidden size {layers[l].Hidden}, the model {d}");
            if (layers[l].Width < 1) throw new BadArgumentException($"sliced layer {l} keeps no neuron");
        }
        var widths = layers.Select(x => x.Width).ToArray();
        if (!source.MlpBias && layers.Any(x => x.HasDownBias) && !HfConfig.SupportsMlpBias(source.ModelType))
            throw new UnsupportedArchitectureException($"the compensation adds FFN down biases, which model_type '{source.ModelType}' cannot hold " +
                "(transformers' class has no mlp_bias); prune it with compensation none");
        return source with
        {
            IntermediateSize = widths.Max(),
            IntermediateSizes = widths.Distinct().Count() == 1 ? null : widths,
            MlpBias = source.MlpBias || layers.Any(x => x.HasDownBias),
        };
    }

    /// <summary>Parameters of a model: the element count of every tensor its config implies.</summary>
    public static long Parameters(LlamaConfig config) => LlamaTensorShapes.Expected(config).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));

    private static (int Layer, string Part) FfnPart(string name, int layers)
    {
        for (int l = 0; l < layers; l++)
        {
            if (name == LlamaTensorNames.Gate(l)) return (l, "gate");
            if (name == LlamaTensorNames.Up(l)) return (l, "up");
            if (name == LlamaTensorNames.Down(l)) return (l, "down");
            if (name == LlamaTensorNames.GateBias(l)) return (l, "gate_bias");
            if (name == LlamaTensorNames.UpBias(l)) return (l, "up_bias");
            if (name == LlamaTensorNames.DownBias(l)) return (l, "down_bias");
        }
        return (-1, "");
    }

    /// <summary>
    /// One FFN tensor of a sliced layer in float32. With <paramref name="own"/> the array is the caller's (a copy where
    /// the layer's own array would be shared; a spilled layer's read is already new).
    /// </summary>
    private static float[] FfnData(SlicedFfnLayer x, string part, int hidden, bool own = false) => part switch
    {
        "gate" => own && !x.IsSpilled ? (float[])x.Gate.Clone() : x.Gate,
        "up" => own && !x.IsSpilled ? (float[])x.Up.Clone() : x.Up,
        "down" => x.DownFloat32(),
        "gate_bias" => x.GateBias is { } g ? (own ? (float[])g.Clone() : g) : new float[x.Width],
        "up_bias" => x.UpBias is { } u ? (own ? (float[])u.Clone() : u) : new float[x.Width],
        "down_bias" => x.HasDownBias ? x.DownBiasFloat32() : new float[hidden],
        _ => throw new InvalidOperationException(part),
    };

    /// <summary>
    /// Moves <paramref name="stream"/>'s hidden states through <paramref name="sliced"/> (layer <paramref name="layer"/> pruned and
    /// compensated), laid out as <see cref="Build"/> lays out the pruned model: with any FFN bias, every bias present
    /// (zeros when absent). Sequential capture runs the layers below each one pruned this way.
    /// </summary>
    public static void Advance(LayerStream stream, LlamaConfig config, int layer, SlicedFfnLayer sliced, CancellationToken ct)
    {
        if (sliced.Index != layer) throw new BadArgumentException($"sliced layer {sliced.Index} given for layer {layer}");
        stream.Advance(layer, sliced.Width, FfnBias(config, sliced), FfnTensors(config, sliced), null, ct);
    }

    /// <summary>Whether the pruned layer carries FFN biases (any bias in the model or a compensation's down bias).</summary>
    internal static bool FfnBias(LlamaConfig config, SlicedFfnLayer sliced) => config.MlpBias || sliced.HasDownBias;

    /// <summary>
    /// The FFN tensors of <paramref name="sliced"/> by LLaMA name, biases as zeros when absent (the pruned model's
    /// layout); null for any other tensor, which the caller reads from the checkpoint.
    /// </summary>
    internal static Func<string, float[]?> FfnTensors(LlamaConfig config, SlicedFfnLayer sliced)
    {
        int layer = sliced.Index, k = sliced.Width, d = config.HiddenSize;
        return name =>
        {
            if (name == LlamaTensorNames.Gate(layer)) return sliced.Gate;
            if (name == LlamaTensorNames.Up(layer)) return sliced.Up;
            if (name == LlamaTensorNames.Down(layer)) return sliced.DownFloat32();
            if (name == LlamaTensorNames.GateBias(layer)) return sliced.GateBias ?? new float[k];
            if (name == LlamaTensorNames.UpBias(layer)) return sliced.UpBias ?? new float[k];
            if (name == LlamaTensorNames.DownBias(layer)) return sliced.HasDownBias ? sliced.DownBiasFloat32() : new float[d];
            return null;
        };
    }

    /// <summary>See <see cref="View"/>.</summary>
    private sealed class PrunedTensors : ITensorSource
    {
        private readonly LlamaConfig _config;
        private readonly ITensorSource _source;
        private readonly IReadOnlyList<SlicedFfnLayer> _layers;
        private readonly Dictionary<string, long[]> _shapes;
        private readonly string[] _names;

        public PrunedTensors(LlamaConfig config, ITensorSource source, IReadOnlyList<SlicedFfnLayer> layers)
        {
            _config = config;
            _source = source;
            _layers = layers;
            var expected = LlamaTensorShapes.Expected(config);
            _shapes = expected.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
            _names = expected.Select(e => e.Name).ToArray();
        }

        public IReadOnlyCollection<string> Names => _names;
        public bool Contains(string name) => _shapes.ContainsKey(name);

        public TensorInfo GetInfo(string name)
        {
            var shape = Shape(name);
            var dtype = _source.Contains(name) ? _source.GetInfo(name).DType
                : FfnPart(name, _config.NumHiddenLayers) is var (l, _) && l >= 0 ? _source.GetInfo(LlamaTensorNames.Down(l)).DType
                : TensorDType.F32;
            return new TensorInfo(name, dtype, (long[])shape.Clone());
        }

        public float[] ReadFloat32(string name)
        {
            Shape(name);
            return FfnPart(name, _config.NumHiddenLayers) is var (l, part) && l >= 0
                ? FfnData(_layers[l], part, _config.HiddenSize, own: true)
                : _source.ReadFloat32(name);
        }

        private long[] Shape(string name) => _shapes.TryGetValue(name, out var s) ? s : throw new BadModelFileException($"tensor '{name}' not found in the pruned model");

        public void Dispose() { }
    }
}
