namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Hyper-parameters of a LLaMA-family decoder, as in Hugging Face <c>config.json</c>.
/// <see cref="IntermediateSizes"/> is set only for pruned models whose FFN widths differ per layer.
/// </summary>
public sealed record LlamaConfig
{
    public int HiddenSize { get; init; }
    public int IntermediateSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }
    public int NumKeyValueHeads { get; init; }
    /// <summary>Per-head width; defaults to hidden_size / num_attention_heads.</summary>
    public int HeadDim { get; init; }
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000.0;
    public bool TieWordEmbeddings { get; init; }
    public int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; }
    /// <summary>True when gate/up/down carry biases (we use it to hold compensation constants).</summary>
    public bool MlpBias { get; init; }
    public string TorchDtype { get; init; } = "float32";
    public int BosTokenId { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;
    /// <summary>Per-layer FFN widths of a non-uniformly pruned model; null when every layer has IntermediateSize.</summary>
    public IReadOnlyList<int>? IntermediateSizes { get; init; }
    /// <summary>Hugging Face model_type: "llama", "mistral" or "qwen2" (same decoder, different optional parts).</summary>
    public string ModelType { get; init; } = "llama";
    /// <summary>Rotary frequency scaling (rope_scaling / rope_parameters); null = plain RoPE.</summary>
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>q/k/v projections carry biases (Qwen2 always; LLaMA with attention_bias).</summary>
    public bool QkvBias { get; init; }
    /// <summary>o_proj carries a bias (LLaMA with attention_bias).</summary>
    public bool OutputBias { get; init; }
    /// <summary>Mistral sliding window: a query attends to itself and the SlidingWindow - 1 keys before it; null = full causal.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>
    /// Longest sequence the model may run (Qwen2 use_sliding_window: some layers are windowed, which is not built,
    /// so sequences longer than the window are refused); null = no such limit.
    /// </summary>
    public int? UnbuiltWindowLimit { get; init; }

    /// <summary>FFN width (number of neurons) of layer <paramref name="layer"/>.</summary>
    public int FfnWidth(int layer) => IntermediateSizes?[layer] ?? IntermediateSize;

    /// <summary>The sizes the family-neutral planners and summaries read (head size: head_dim, else hidden / heads).</summary>
    public DecoderShape Shape() => new()
    {
        Hidden = HiddenSize,
        Vocab = VocabSize,
        Heads = NumAttentionHeads,
        KeyValueHeads = NumKeyValueHeads,
        HeadDim = HeadDim > 0 ? HeadDim : HiddenSize / Math.Max(NumAttentionHeads, 1),
        FfnWidths = Enumerable.Range(0, NumHiddenLayers).Select(FfnWidth).ToArray(),
        Parameters = LlamaTensorShapes.Expected(this).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b)),
    };
}

/// <summary>
/// Rotary frequency scaling as in transformers' rope_init_fns: "linear" divides every inverse frequency by
/// <see cref="Factor"/>; "llama3" divides the low frequencies (wavelength above original / low_freq_factor) by it,
/// keeps the high ones (wavelength below original / high_freq_factor) and blends linearly in between.
/// </summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 0, double HighFreqFactor = 0, int OriginalMaxPositionEmbeddings = 0)
{
    public const string Linear = "linear";
    public const string Llama3 = "llama3";

    /// <summary>Inverse frequencies theta^(-2i/headDim), i &lt; headDim/2, with this scaling applied (null scaling: plain).</summary>
    public static double[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        var inv = new double[headDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            double f = Math.Pow(theta, -2.0 * i / headDim);
            inv[i] = scaling == null ? f : scaling.Type switch
            {
                Linear => f / scaling.Factor,
                Llama3 => scaling.Llama3Frequency(f),
                _ => throw new UnsupportedArchitectureException($"rope scaling type '{scaling.Type}' is not supported"),
            };
        }
        return inv;
    }

    private double Llama3Frequency(double f)
    {
        double wavelength = 2 * Math.PI / f;
        double lowWavelength = OriginalMaxPositionEmbeddings / LowFreqFactor, highWavelength = OriginalMaxPositionEmbeddings / HighFreqFactor;
        if (wavelength < highWavelength) return f;
        if (wavelength > lowWavelength) return f / Factor;
        double smooth = (OriginalMaxPositionEmbeddings / wavelength - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
        return (1 - smooth) * f / Factor + smooth * f;
    }
}

/// <summary>
/// Hugging Face LLaMA tensor names: the one place that spells them, so pruning, capture and slicing never do.
/// </summary>
public static class LlamaTensorNames
{
    public const string Embedding = "model.embed_tokens.weight";
    public const string FinalNorm = "model.norm.weight";
    public const string LmHead = "lm_head.weight";
    public static string AttentionNorm(int l) => $"model.layers.{l}.input_layernorm.weight";
    public static string FfnNorm(int l) => $"model.layers.{l}.post_attention_layernorm.weight";
    public static string Q(int l) => $"model.layers.{l}.self_attn.q_proj.weight";
    public static string K(int l) => $"model.layers.{l}.self_attn.k_proj.weight";
    public static string V(int l) => $"model.layers.{l}.self_attn.v_proj.weight";
    public static string O(int l) => $"model.layers.{l}.self_attn.o_proj.weight";
    public static string QBias(int l) => $"model.layers.{l}.self_attn.q_proj.bias";
    public static string KBias(int l) => $"model.layers.{l}.self_attn.k_proj.bias";
    public static string VBias(int l) => $"model.layers.{l}.self_attn.v_proj.bias";
    public static string OBias(int l) => $"model.layers.{l}.self_attn.o_proj.bias";
    /// <summary>[intermediate, hidden]: row j belongs to neuron j.</summary>
    public static string Gate(int l) => $"model.layers.{l}.mlp.gate_proj.weight";
    /// <summary>[intermediate, hidden]: row j belongs to neuron j.</summary>
    public static string Up(int l) => $"model.layers.{l}.mlp.up_proj.weight";
    /// <summary>[hidden, intermediate]: column j belongs to neuron j.</summary>
    public static string Down(int l) => $"model.layers.{l}.mlp.down_proj.weight";
    public static string GateBias(int l) => $"model.layers.{l}.mlp.gate_proj.bias";
    public static string UpBias(int l) => $"model.layers.{l}.mlp.up_proj.bias";
    public static string DownBias(int l) => $"model.layers.{l}.mlp.down_proj.bias";
}
