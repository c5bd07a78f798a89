using System.Text.Json;
using System.Text.Json.Nodes;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The parts of config.json that differ between the LLaMA-family model types this project opens, read as transformers
/// reads them:
/// <list type="bullet">
/// <item>llama: rope_scaling (or transformers-5 rope_parameters) of type default, linear or llama3; attention_bias
/// (biases on q, k, v and o); mlp_bias.</item>
/// <item>mistral: sliding_window (absent = 4096, null = none), honoured by the attention mask; no biases.</item>
/// <item>qwen2: biases on q, k, v (always, none on o); use_sliding_window true windows the layers from
/// max_window_layers on, which is not built: such a model runs only sequences within the window.</item>
/// </list>
/// mistral and qwen2 have no FFN biases in transformers, so they are refused with mlp_bias true, and a pruned model of
/// theirs cannot carry compensation biases (<see cref="SupportsMlpBias"/>).
/// </summary>
public static partial class HfConfig
{
    /// <summary>transformers' defaults where a key is absent (MistralConfig / Qwen2Config).</summary>
    private const int DefaultSlidingWindow = 4096, DefaultMaxWindowLayers = 28;

    /// <summary>The *ForCausalLM class of a supported model_type, or null.</summary>
    public static string? ArchitectureOf(string modelType) => modelType switch
    {
        "llama" => "LlamaForCausalLM",
        "mistral" => "MistralForCausalLM",
        "qwen2" => "Qwen2ForCausalLM",
        _ => null,
    };

    /// <summary>Whether transformers' class for <paramref name="modelType"/> has FFN biases (mlp_bias): only LLaMA's.</summary>
    public static bool SupportsMlpBias(string modelType) => modelType == "llama";

    private static LlamaConfig WithVariantParts(LlamaConfig config, JsonObject root, Reader r, string source)
    {
        if (config.MlpBias && !SupportsMlpBias(config.ModelType))
            throw new UnsupportedArchitectureException($"model config '{source}': mlp_bias true is not supported for model_type '{config.ModelType}' (transformers' class has no FFN biases)");
        var (scaling, theta) = ReadRope(root, r, source, config.RopeTheta);
        config = config with { RopeScaling = scaling, RopeTheta = theta };
        switch (config.ModelType)
        {
            case "llama":
                bool attentionBias = r.Bool("attention_bias") ?? false;
                return config with { QkvBias = attentionBias, OutputBias = attentionBias };
            case "mistral":
                int? window = root.ContainsKey("sliding_window") ? r.Int("sliding_window") : DefaultSlidingWindow;
                if (window is <= 0) throw new BadModelFileException($"model config '{source}': sliding_window must be positive or null, found {window}");
                return config with { SlidingWindow = window };
            case "qwen2":
                config = config with { QkvBias = true };
                if (r.Bool("use_sliding_window") != true) return config;
                int qwenWindow = r.Int("sliding_window") ?? DefaultSlidingWindow;
                if (qwenWindow <= 0) throw new BadModelFileException($"model config '{source}': sliding_window must be positive, found {qwenWindow}");
                int firstWindowed = r.Int("max_window_layers") ?? DefaultMaxWindowLayers;
                return firstWindowed >= config.NumHiddenLayers ? config : config with { UnbuiltWindowLimit = qwenWindow };
            default:
                throw new UnsupportedArchitectureException($"model config '{source}': model_type '{config.ModelType}' is not supported");
        }
    }

    /// <summary>
    /// rope_parameters (transformers 5, which also moves rope_theta into it) or rope_scaling. Types: default (none),
    /// linear (factor), llama3 (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings); any other
    /// is an <see cref="UnsupportedArchitectureException"/> naming the field.
    /// </summary>
    private static (RopeScaling?, double Theta) ReadRope(JsonObject root, Reader r, string source, double theta)
    {
        string field = r.IsSet("rope_parameters") ? "rope_parameters" : r.IsSet("rope_scaling") ? "rope_scaling" : "";
        if (field == "") return (null, theta);
        if (root[field] is not JsonObject rope)
            throw new BadModelFileException($"model config '{source}': '{field}' must be an object or null, found {root[field]!.ToJsonString()}");
        var p = new Reader(rope, $"{source} {field}");
        theta = p.Double("rope_theta") ?? theta;
        string type = p.String("rope_type") ?? p.String("type")
            ?? throw new UnsupportedArchitectureException($"model config '{source}': {field} {rope.ToJsonString()} has no rope_type (supported: default, linear, llama3)");
        double Positive(string key) => p.Double(key) is double v && v > 0 ? v
            : throw new BadModelFileException($"model config '{source}': {field} type '{type}' needs a positive '{key}', found {rope[key]?.ToJsonString() ?? "nothing"}");
        switch (type)
        {
            case "default":
                return (null, theta);
            case RopeScaling.Linear:
                return (new RopeScaling(RopeScaling.Linear, Positive("factor")), theta);
            case RopeScaling.Llama3:
                var scaling = new RopeScaling(RopeScaling.Llama3, Positive("factor"), Positive("low_freq_factor"), Positive("high_freq_factor"),
                    (int)Positive("original_max_position_embeddings"));
                if (scaling.HighFreqFactor <= scaling.LowFreqFactor)
                    throw new BadModelFileException($"model config '{source}': {field} high_freq_factor {scaling.HighFreqFactor} must exceed low_freq_factor {scaling.LowFreqFactor}");
                return (scaling, theta);
            default:
                throw new UnsupportedArchitectureException($"model config '{source}': {field} type '{type}' is not supported (supported: default, linear, llama3)");
        }
    }

    private static JsonNode? RopeScalingJson(RopeScaling? s) => s switch
    {
        null => null,
        { Type: RopeScaling.Linear } => new JsonObject { ["rope_type"] = s.Type, ["factor"] = s.Factor },
        _ => new JsonObject
        {
            ["rope_type"] = s.Type, ["factor"] = s.Factor, ["low_freq_factor"] = s.LowFreqFactor,
            ["high_freq_factor"] = s.HighFreqFactor, ["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings,
        },
    };

    /// <summary>The model-type-specific keys of a config written from scratch (see <see cref="ToJson"/>).</summary>
    private static void WriteVariantKeys(JsonObject root, LlamaConfig c)
    {
        if (c.ModelType == "llama")
        {
            if (c.QkvBias != c.OutputBias) throw new ArgumentException("llama's attention_bias sets q/k/v and o biases together", nameof(c));
            return;
        }
        root.Remove("attention_bias");
        root.Remove("mlp_bias");
        if (c.ModelType == "mistral") root["sliding_window"] = c.SlidingWindow;
        if (c.ModelType == "qwen2")
        {
            root["use_sliding_window"] = c.UnbuiltWindowLimit != null;
            root["sliding_window"] = c.UnbuiltWindowLimit ?? c.MaxPositionEmbeddings;
            root["max_window_layers"] = c.UnbuiltWindowLimit != null ? 0 : c.NumHiddenLayers;
        }
    }

    /// <summary>
    /// <paramref name="baseJson"/> key for key (same keys, order and values, model_type included) with only what pruning
    /// changes rewritten: intermediate_size, intermediate_sizes (added when the widths differ, removed otherwise), the
    /// dtype key(s) present (torch_dtype and/or transformers-5 dtype; torch_dtype added when neither is) and mlp_bias
    /// (when true or already present).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="config"/> differs from the base in anything else.</exception>
    private static string WriteOver(LlamaConfig config, string baseJson)
    {
        var original = Parse(baseJson, "base config");
        var comparable = original with
        {
            IntermediateSize = config.IntermediateSize, IntermediateSizes = config.IntermediateSizes,
            MlpBias = config.MlpBias, TorchDtype = config.TorchDtype,
        };
        if (comparable != config)
            throw new ArgumentException("a config written over its source may differ from it only in FFN widths, dtype and mlp_bias", nameof(config));
        if (config.MlpBias && !SupportsMlpBias(config.ModelType))
            throw new UnsupportedArchitectureException($"a pruned model_type '{config.ModelType}' cannot carry FFN biases (transformers' class has none)");
        var root = (JsonObject)JsonNode.Parse(baseJson)!;
        root["intermediate_size"] = config.IntermediateSize;
        var widths = Enumerable.Range(0, config.NumHiddenLayers).Select(config.FfnWidth).ToArray();
        if (widths.Distinct().Count() > 1) root["intermediate_sizes"] = new JsonArray(widths.Select(w => (JsonNode?)w).ToArray());
        else root.Remove("intermediate_sizes");
        bool anyDtype = false;
        foreach (var key in new[] { "torch_dtype", "dtype" })
            if (root.ContainsKey(key)) { root[key] = config.TorchDtype; anyDtype = true; }
        if (!anyDtype) root["torch_dtype"] = config.TorchDtype;
        if (config.MlpBias || root.ContainsKey("mlp_bias")) root["mlp_bias"] = config.MlpBias;
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }
}
