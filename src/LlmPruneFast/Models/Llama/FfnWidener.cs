using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.Llama;

/// <summary>A model widened by <see cref="FfnWidener.Widen"/>, and which neuron every copy duplicates.</summary>
public sealed record WidenedModel(LlamaConfig Config, InMemoryTensorSource Tensors, IReadOnlyList<int[]> Originals, double Scale)
{
    /// <summary>Width of layer <paramref name="layer"/> before widening: copy k of that layer has id OriginalWidth + k.</summary>
    public int OriginalWidth(int layer) => Config.FfnWidth(layer) - Originals[layer].Length;

    /// <summary>Planted pairs (original, copy) of every layer, the plan split: exactly one of the two removed.</summary>
    public (int Split, int Total) SplitPairs(PruningPlan plan)
    {
        int split = 0, total = 0;
        for (int l = 0; l < Originals.Count; l++)
        {
            var removed = new HashSet<int>(plan.Layer(l)?.Removed.Select(r => r.Neuron) ?? []);
            int n = OriginalWidth(l);
            for (int k = 0; k < Originals[l].Length; k++, total++)
                if (removed.Contains(Originals[l][k]) != removed.Contains(n + k)) split++;
        }
        return (split, total);
    }
}

/// <summary>
/// Plants exact redundancy in a LLaMA model's FFNs without changing its function: for a chosen neuron j of layer l
/// (gate row g_j, up row u_j, down column w_j) a new neuron j' is appended with gate row g_j, up row c u_j (so
/// z_j' = c z_j) and down column w_j / (2c), while j's down column becomes w_j / 2: w_j/2 z_j + w_j/(2c) c z_j = w_j z_j.
/// With c a power of two (0.5, 2, -1, ...) every scaled weight and z_j' = c z_j are exact in float32, so the widened
/// model differs from the original only by the summation order of down_proj. Used to test that MI methods find
/// planted copies, and by the study and perf suites.
/// </summary>
public static class FfnWidener
{
    /// <summary>
    /// Appends <paramref name="copies"/> copies per layer (of distinct neurons chosen uniformly with
    /// <paramref name="seed"/>; all neurons, in order, when <paramref name="copies"/> equals the width) with up-row
    /// scale <paramref name="scale"/>. Non-FFN tensors are the source's arrays as read.
    /// </summary>
    public static WidenedModel Widen(LlamaConfig config, ITensorSource tensors, int copies, double scale, long seed = 0)
    {
        if (scale == 0 || !double.IsFinite(scale)) throw new BadArgumentException($"widening scale c must be finite and non-zero, got {scale}");
        int layers = config.NumHiddenLayers, d = config.HiddenSize;
        var originals = new int[layers][];
        var rng = new Random(unchecked((int)seed));
        for (int l = 0; l < layers; l++)
        {
            int n = config.FfnWidth(l);
            if (copies < 1 || copies > n) throw new BadArgumentException($"copies per layer must be in 1..{n} (layer {l}), got {copies}");
            var ids = Enumerable.Range(0, n).ToArray();
            if (copies < n) rng.Shuffle(ids);
            originals[l] = ids[..copies];
        }
        var widths = Enumerable.Range(0, layers).Select(l => config.FfnWidth(l) + copies).ToArray();
        var wide = config with { IntermediateSize = widths.Max(), IntermediateSizes = widths.Distinct().Count() == 1 ? null : widths };
        var output = new InMemoryTensorSource();
        float c = (float)scale;
        foreach (var (name, shape) in LlamaTensorShapes.Expected(wide))
        {
            int l = Array.FindIndex(Enumerable.Range(0, layers).ToArray(), i => name.StartsWith($"model.layers.{i}.mlp.", StringComparison.Ordinal));
            if (l < 0) { output.Add(name, shape, tensors.ReadFloat32(name)); continue; }
            int n = config.FfnWidth(l), m = copies;
            var src = originals[l];
            var data = tensors.ReadFloat32(name);
            float[] result;
            if (name == LlamaTensorNames.Gate(l) || name == LlamaTensorNames.Up(l) || name == LlamaTensorNames.GateBias(l) || name == LlamaTensorNames.UpBias(l))
            {
                int row = name == LlamaTensorNames.Gate(l) || name == LlamaTensorNames.Up(l) ? d : 1;
                float factor = name == LlamaTensorNames.Up(l) || name == LlamaTensorNames.UpBias(l) ? c : 1f;
                result = new float[(long)(n + m) * row];
                data.CopyTo(result, 0);
                for (int k = 0; k < m; k++)
                    for (int i = 0; i < row; i++) result[(long)(n + k) * row + i] = factor * data[(long)src[k] * row + i];
            }
            else if (name == LlamaTensorNames.Down(l))
            {
                result = new float[(long)d * (n + m)];
                for (int i = 0; i < d; i++)
                {
                    Array.Copy(data, (long)i * n, result, (long)i * (n + m), n);
                    for (int k = 0; k < m; k++)
                    {
                        float w = data[(long)i * n + src[k]];
                        result[(long)i * (n + m) + src[k]] = w / 2;
                        result[(long)i * (n + m) + n + k] = w / (2 * c);
                    }
                }
            }
            else result = data; // down bias
            output.Add(name, shape, result);
        }
        return new WidenedModel(wide, output, originals, scale);
    }
}
