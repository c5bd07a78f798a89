using LlmPruneFast.Models;

namespace LlmPruneFast.Pruning;

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
            {
                var x = layers[l];
                int k = x.Width;
                float[] data = part switch
                {
                    "gate" => x.Gate,
                    "up" => x.Up,
                    "down" => ToFloat(x.Down),
                    "gate_bias" => x.GateBias ?? new float[k],
                    "up_bias" => x.UpBias ?? new float[k],
                    "down_bias" => x.HasDownBias ? ToFloat(x.DownBias) : new float[d],
                    _ => throw new InvalidOperationException(part),
                };
                output.Add(name, shape, data);
            }
            else output.Add(name, shape, tensors.ReadFloat32(name));
        }
        return (config, output);
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

    private static float[] ToFloat(double[] values)
    {
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)values[i];
        return f;
    }
}
