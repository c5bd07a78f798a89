using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Reads and writes Hugging Face <c>config.json</c> for LLaMA-family models as <see cref="LlamaConfig"/>.
/// </summary>
/// <remarks>
/// Accepted: model_type "llama", "mistral" and "qwen2" (architectures, when given, their *ForCausalLM), with the parts
/// of each read by HfConfig.Variants.cs (rope scaling, attention biases, sliding windows). Rejected with
/// <see cref="UnsupportedArchitectureException"/>: any other model_type, hidden_act other than "silu", a rope scaling
/// type other than default, linear and llama3.
/// Defaults follow transformers' LlamaConfig: num_key_value_heads = num_attention_heads, head_dim = hidden_size /
/// num_attention_heads, rms_norm_eps 1e-6, rope_theta 10000, tie_word_embeddings false, max_position_embeddings 2048.
/// <c>intermediate_sizes</c> (per-layer FFN widths) is this project's extension for non-uniformly pruned models.
/// </remarks>
public static partial class HfConfig
{
    public const string FileName = "config.json";

    /// <summary>Reads <paramref name="path"/>; see <see cref="Parse"/>.</summary>
    /// <exception cref="MissingInputException">The file does not exist.</exception>
    public static LlamaConfig Read(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"model config '{path}' does not exist");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="BadModelFileException">Not a JSON object, a required key missing, or a value of the wrong type or range.</exception>
    /// <exception cref="UnsupportedArchitectureException">The architecture or one of its features is not supported.</exception>
    public static LlamaConfig Parse(string json, string source)
    {
        try
        {
            return ConfigLimits.Check(ParseFields(json, source), source);
        }
        catch (InvalidOperationException ex) // System.Text.Json on a string it cannot decode (e.g. a lone "\ud800" escape)
        {
            throw new BadModelFileException($"model config '{source}': {ex.Message}", ex);
        }
    }

    private static LlamaConfig ParseFields(string json, string source)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject ?? throw new BadModelFileException($"model config '{source}' is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new BadModelFileException($"model config '{source}' is not valid JSON: {ex.Message}", ex);
        }
        var r = new Reader(root, source);

        string modelType = r.String("model_type") ?? "(none)";
        string expectedArchitecture = ArchitectureOf(modelType)
            ?? throw new UnsupportedArchitectureException($"model config '{source}': model_type '{modelType}' is not supported (expected 'llama', 'mistral' or 'qwen2')");
        if (root["architectures"] is JsonArray architectures && architectures.Count > 0 &&
            !architectures.Any(a => a?.GetValueKind() == JsonValueKind.String && a.GetValue<string>() == expectedArchitecture))
            throw new UnsupportedArchitectureException($"model config '{source}': architectures [{string.Join(", ", architectures.Select(a => a?.ToJsonString()))}] not supported (expected {expectedArchitecture})");
        string act = r.String("hidden_act") ?? "silu";
        if (act != "silu")
            throw new UnsupportedArchitectureException($"model config '{source}': hidden_act '{act}' is not supported (expected 'silu')");

        int hidden = r.RequiredPositive("hidden_size");
        int heads = r.RequiredPositive("num_attention_heads");
        int layers = r.RequiredPositive("num_hidden_layers");
        int kvHeads = r.Int("num_key_value_heads") ?? heads;
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new BadModelFileException($"model config '{source}': num_key_value_heads {kvHeads} must be positive and divide num_attention_heads {heads}");
        int headDim = r.Int("head_dim") ?? (hidden % heads == 0 ? hidden / heads
            : throw new BadModelFileException($"model config '{source}': hidden_size {hidden} is not a multiple of num_attention_heads {heads} and head_dim is not given"));
        if (headDim <= 0 || headDim % 2 != 0)
            throw new BadModelFileException($"model config '{source}': head_dim {headDim} must be positive and even");

        IReadOnlyList<int>? widths = null;
        if (root["intermediate_sizes"] is JsonArray list)
        {
            var values = list.Select(n => n?.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out int v) ? v : -1).ToArray();
            if (values.Length != layers || values.Any(v => v <= 0))
                throw new BadModelFileException($"model config '{source}': intermediate_sizes must list {layers} positive widths, found {list.ToJsonString()}");
            widths = values.Distinct().Count() > 1 ? values : null;
        }
        int intermediate = r.Int("intermediate_size") ?? (widths?.Max() ?? throw new BadModelFileException($"model config '{source}': missing 'intermediate_size'"));
        if (intermediate <= 0) throw new BadModelFileException($"model config '{source}': intermediate_size must be positive, found {intermediate}");

        var config = new LlamaConfig
        {
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            NumHiddenLayers = layers,
            NumAttentionHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            RmsNormEps = r.Double("rms_norm_eps") ?? 1e-6,
            RopeTheta = r.Double("rope_theta") ?? 10000.0,
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            VocabSize = r.RequiredPositive("vocab_size"),
            MaxPositionEmbeddings = r.Int("max_position_embeddings") ?? 2048,
            MlpBias = r.Bool("mlp_bias") ?? false,
            TorchDtype = r.String("torch_dtype") ?? r.String("dtype") ?? "float32",
            BosTokenId = r.TokenId("bos_token_id") ?? 1,
            EosTokenId = r.TokenId("eos_token_id") ?? 2,
            IntermediateSizes = widths,
            ModelType = modelType,
        };
        return WithVariantParts(config, root, r, source);
    }

    /// <summary>
    /// config.json text for <paramref name="config"/>. With <paramref name="baseJson"/> (the source model's config),
    /// key-for-key that text with only the widths (intermediate_size, intermediate_sizes), the dtype and mlp_bias
    /// rewritten (see <see cref="WriteOver"/>); without, a complete config of the config's own model_type.
    /// <c>intermediate_sizes</c> is written only when the per-layer widths differ.
    /// </summary>
    public static string ToJson(LlamaConfig config, string? baseJson = null)
    {
        if (baseJson != null) return WriteOver(config, baseJson);
        var root = new JsonObject
        {
            ["architectures"] = new JsonArray(ArchitectureOf(config.ModelType) ?? throw new ArgumentException($"model_type '{config.ModelType}'", nameof(config))),
            ["model_type"] = config.ModelType,
            ["hidden_size"] = config.HiddenSize,
            ["intermediate_size"] = config.IntermediateSize,
            ["num_hidden_layers"] = config.NumHiddenLayers,
            ["num_attention_heads"] = config.NumAttentionHeads,
            ["num_key_value_heads"] = config.NumKeyValueHeads,
            ["head_dim"] = config.HeadDim,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = config.RmsNormEps,
            ["rope_theta"] = config.RopeTheta,
            ["rope_scaling"] = RopeScalingJson(config.RopeScaling),
            ["tie_word_embeddings"] = config.TieWordEmbeddings,
            ["vocab_size"] = config.VocabSize,
            ["max_position_embeddings"] = config.MaxPositionEmbeddings,
            ["attention_bias"] = config.QkvBias,
            ["mlp_bias"] = config.MlpBias,
            ["torch_dtype"] = config.TorchDtype,
            ["bos_token_id"] = config.BosTokenId,
            ["eos_token_id"] = config.EosTokenId,
        };
        WriteVariantKeys(root, config);
        var widths = Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnWidth).ToArray();
        if (widths.Distinct().Count() > 1) root["intermediate_sizes"] = new JsonArray(widths.Select(w => (JsonNode?)w).ToArray());
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>Typed access to config keys; a present key of the wrong type is a <see cref="BadModelFileException"/>.</summary>
    private readonly struct Reader(JsonObject root, string source)
    {
        public bool IsSet(string key) => root[key] is { } n && n.GetValueKind() != JsonValueKind.Null;

        private JsonNode? Node(string key) => IsSet(key) ? root[key] : null;

        private BadModelFileException Wrong(string key, string expected) =>
            new($"model config '{source}': '{key}' must be {expected}, found {root[key]!.ToJsonString()}");

        public string? String(string key) => Node(key) is { } n
            ? (n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw Wrong(key, "a string")) : null;

        public bool? Bool(string key) => Node(key) is { } n
            ? n.GetValueKind() switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Wrong(key, "true or false") } : null;

        public int? Int(string key) => Node(key) is { } n
            ? (n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out int v) ? v
                : n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out double d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue ? (int)d
                : throw Wrong(key, "an integer")) : null;

        public double? Double(string key) => Node(key) is { } n
            ? (n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out double v) ? v : throw Wrong(key, "a number")) : null;

        public int RequiredPositive(string key)
        {
            int value = Int(key) ?? throw new BadModelFileException($"model config '{source}': missing '{key}'");
            return value > 0 ? value : throw Wrong(key, "a positive integer");
        }

        /// <summary>A token id, or the first of a list of ids (some configs list several end-of-sequence tokens).</summary>
        public int? TokenId(string key) => Node(key) is JsonArray list
            ? (list.Count > 0 && list[0]?.GetValueKind() == JsonValueKind.Number && list[0]!.AsValue().TryGetValue(out int id) ? id : throw Wrong(key, "an id or a list of ids"))
            : Int(key);
    }
}
