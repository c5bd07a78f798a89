namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The tensors a <see cref="LlamaConfig"/> implies, with their shapes, in the order checkpoints are written:
/// embedding, then per layer the attention norm, q, k, v (and their biases when qkv-biased), o (and its bias), FFN norm, gate, up, down (and FFN biases when
/// mlp_bias), then the final norm and, when untied, lm_head.
/// </summary>
public static class LlamaTensorShapes
{
    /// <summary>Every expected tensor name with its shape [out, in] (norms and biases 1-D).</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Expected(LlamaConfig c)
    {
        long d = c.HiddenSize, v = c.VocabSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        var list = new List<(string, long[])> { (LlamaTensorNames.Embedding, [v, d]) };
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            long f = c.FfnWidth(l);
            list.Add((LlamaTensorNames.AttentionNorm(l), [d]));
            list.Add((LlamaTensorNames.Q(l), [q, d]));
            list.Add((LlamaTensorNames.K(l), [kv, d]));
            list.Add((LlamaTensorNames.V(l), [kv, d]));
            if (c.QkvBias)
            {
                list.Add((LlamaTensorNames.QBias(l), [q]));
                list.Add((LlamaTensorNames.KBias(l), [kv]));
                list.Add((LlamaTensorNames.VBias(l), [kv]));
            }
            list.Add((LlamaTensorNames.O(l), [d, q]));
            if (c.OutputBias) list.Add((LlamaTensorNames.OBias(l), [d]));
            list.Add((LlamaTensorNames.FfnNorm(l), [d]));
            list.Add((LlamaTensorNames.Gate(l), [f, d]));
            list.Add((LlamaTensorNames.Up(l), [f, d]));
            list.Add((LlamaTensorNames.Down(l), [d, f]));
            if (c.MlpBias)
            {
                list.Add((LlamaTensorNames.GateBias(l), [f]));
                list.Add((LlamaTensorNames.UpBias(l), [f]));
                list.Add((LlamaTensorNames.DownBias(l), [d]));
            }
        }
        list.Add((LlamaTensorNames.FinalNorm, [d]));
        if (!c.TieWordEmbeddings) list.Add((LlamaTensorNames.LmHead, [v, d]));
        return list;
    }

    /// <summary>
    /// Checks every expected tensor is in <paramref name="tensors"/> with its expected shape; extra tensors are allowed.
    /// </summary>
    /// <exception cref="BadModelFileException">A tensor is missing or has another shape; names <paramref name="source"/> and the tensor.</exception>
    public static void Validate(LlamaConfig config, ITensorSource tensors, string source)
    {
        if (config.IntermediateSizes != null && config.IntermediateSizes.Count != config.NumHiddenLayers)
            throw new BadModelFileException($"{source}: intermediate_sizes lists {config.IntermediateSizes.Count} widths for {config.NumHiddenLayers} layers");
        // Weights for layers the config does not declare mean the two disagree (e.g. num_hidden_layers 4 over 5 layers).
        foreach (var name in tensors.Names)
            if (name.StartsWith("model.layers.", StringComparison.Ordinal) && int.TryParse(name.AsSpan(13, Math.Max(0, name.IndexOf('.', 13) - 13)),
                    System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int layer) && layer >= config.NumHiddenLayers)
                throw new BadModelFileException($"{source}: tensor '{name}' belongs to layer {layer}, but the config declares {config.NumHiddenLayers} layers");
        foreach (var (name, shape) in Expected(config))
        {
            if (!tensors.Contains(name))
                throw new BadModelFileException($"{source}: tensor '{name}' is missing (expected shape [{string.Join(", ", shape)}])");
            var found = tensors.GetInfo(name).Shape;
            if (!found.SequenceEqual(shape))
                throw new BadModelFileException($"{source}: tensor '{name}' has shape [{string.Join(", ", found)}], expected [{string.Join(", ", shape)}]");
        }
    }
}
