namespace LlmPruneFast.Models;

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

    /// <summary>FFN width (number of neurons) of layer <paramref name="layer"/>.</summary>
    public int FfnWidth(int layer) => IntermediateSizes?[layer] ?? IntermediateSize;
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
