using System.Text.Json.Nodes;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

/// <summary>
/// config.json of the model families people prune, as published on the Hugging Face Hub (field values written out
/// from the published files), and the rope/bias/window variants around them.
/// </summary>
public sealed class HfConfigVariantTests
{
    /// <summary>meta-llama/Llama-3.2-1B config.json.</summary>
    public const string Llama32_1B = """
        {
          "architectures": ["LlamaForCausalLM"],
          "attention_bias": false,
          "attention_dropout": 0.0,
          "bos_token_id": 128000,
          "eos_token_id": 128001,
          "head_dim": 64,
          "hidden_act": "silu",
          "hidden_size": 2048,
          "initializer_range": 0.02,
          "intermediate_size": 8192,
          "max_position_embeddings": 131072,
          "mlp_bias": false,
          "model_type": "llama",
          "num_attention_heads": 32,
          "num_hidden_layers": 16,
          "num_key_value_heads": 8,
          "pretraining_tp": 1,
          "rms_norm_eps": 1e-05,
          "rope_scaling": {
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
            "rope_type": "llama3"
          },
          "rope_theta": 500000.0,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.45.0.dev0",
          "use_cache": true,
          "vocab_size": 128256
        }
        """;

    /// <summary>Qwen/Qwen2.5-0.5B config.json.</summary>
    public const string Qwen25_05B = """
        {
          "architectures": ["Qwen2ForCausalLM"],
          "attention_dropout": 0.0,
          "bos_token_id": 151643,
          "eos_token_id": 151643,
          "hidden_act": "silu",
          "hidden_size": 896,
          "initializer_range": 0.02,
          "intermediate_size": 4864,
          "max_position_embeddings": 32768,
          "max_window_layers": 24,
          "model_type": "qwen2",
          "num_attention_heads": 14,
          "num_hidden_layers": 24,
          "num_key_value_heads": 2,
          "rms_norm_eps": 1e-06,
          "rope_theta": 1000000.0,
          "sliding_window": 32768,
          "tie_word_embeddings": true,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.40.1",
          "use_cache": true,
          "use_mrope": false,
          "use_sliding_window": false,
          "vocab_size": 151936
        }
        """;

    /// <summary>mistralai/Mistral-7B-v0.1 config.json.</summary>
    public const string Mistral7B_v01 = """
        {
          "architectures": ["MistralForCausalLM"],
          "bos_token_id": 1,
          "eos_token_id": 2,
          "hidden_act": "silu",
          "hidden_size": 4096,
          "initializer_range": 0.02,
          "intermediate_size": 14336,
          "max_position_embeddings": 32768,
          "model_type": "mistral",
          "num_attention_heads": 32,
          "num_hidden_layers": 32,
          "num_key_value_heads": 8,
          "rms_norm_eps": 1e-05,
          "rope_theta": 10000.0,
          "sliding_window": 4096,
          "tie_word_embeddings": false,
          "torch_dtype": "bfloat16",
          "transformers_version": "4.34.0.dev0",
          "use_cache": true,
          "vocab_size": 32000
        }
        """;

    [Fact]
    public void Llama32_1B_ReadsLlama3RopeScaling()
    {
        var c = HfConfig.Parse(Llama32_1B, "Llama-3.2-1B/config.json");
        Assert.Equal("llama", c.ModelType);
        Assert.Equal(new RopeScaling("llama3", 32.0, 1.0, 4.0, 8192), c.RopeScaling);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal((2048, 8192, 16, 32, 8, 64, 128256), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize));
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.QkvBias || c.OutputBias || c.MlpBias);
        Assert.Null(c.SlidingWindow);
    }

    [Fact]
    public void Qwen25_05B_HasQkvBiasesTiedHeadAndNoWindow()
    {
        var c = HfConfig.Parse(Qwen25_05B, "Qwen2.5-0.5B/config.json");
        Assert.Equal("qwen2", c.ModelType);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal((896, 4864, 24, 14, 2, 64), (c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(1000000.0, c.RopeTheta);
        Assert.Null(c.SlidingWindow);
        Assert.Null(c.UnbuiltWindowLimit); // use_sliding_window false
        Assert.Null(c.RopeScaling);
        var shapes = LlamaTensorShapes.Expected(c).ToDictionary(e => e.Name, e => e.Shape);
        Assert.Equal([896L], shapes["model.layers.0.self_attn.q_proj.bias"]);
        Assert.Equal([128L], shapes["model.layers.23.self_attn.k_proj.bias"]);
        Assert.Equal([128L], shapes["model.layers.23.self_attn.v_proj.bias"]);
        Assert.False(shapes.ContainsKey("model.layers.0.self_attn.o_proj.bias"));
        Assert.False(shapes.ContainsKey(LlamaTensorNames.LmHead));
    }

    [Fact]
    public void Qwen2_UntiedAndWindowed_AreRead()
    {
        var untied = HfConfig.Parse(Qwen25_05B.Replace("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"), "t");
        Assert.False(untied.TieWordEmbeddings);
        Assert.Contains(LlamaTensorShapes.Expected(untied), e => e.Name == LlamaTensorNames.LmHead);
        var windowed = HfConfig.Parse(Qwen25_05B.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true")
            .Replace("\"max_window_layers\": 24", "\"max_window_layers\": 20").Replace("\"sliding_window\": 32768", "\"sliding_window\": 4096"), "t");
        Assert.Equal(4096, windowed.UnbuiltWindowLimit);
        // every layer below max_window_layers: the window is never used
        var unused = HfConfig.Parse(Qwen25_05B.Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true"), "t");
        Assert.Null(unused.UnbuiltWindowLimit);
    }

    [Fact]
    public void Mistral7B_v01_ReadsSlidingWindow_AbsentMeansTransformersDefault()
    {
        var c = HfConfig.Parse(Mistral7B_v01, "Mistral-7B-v0.1/config.json");
        Assert.Equal("mistral", c.ModelType);
        Assert.Equal(4096, c.SlidingWindow);
        Assert.Equal(14336, c.IntermediateSize);
        Assert.False(c.TieWordEmbeddings || c.QkvBias || c.OutputBias);
        Assert.Equal(4096, HfConfig.Parse(Mistral7B_v01.Replace("\"sliding_window\": 4096,", ""), "t").SlidingWindow);
        Assert.Null(HfConfig.Parse(Mistral7B_v01.Replace("\"sliding_window\": 4096", "\"sliding_window\": null"), "t").SlidingWindow);
    }

    [Fact]
    public void LinearScaling_TypeKey_AndTransformers5RopeParameters_AreRead()
    {
        var linear = HfConfig.Parse(Llama32_1B.Replace("\"rope_type\": \"llama3\"", "\"type\": \"linear\""), "t");
        Assert.Equal(new RopeScaling("linear", 32.0), linear.RopeScaling);
        string v5 = Llama32_1B.Replace("\"rope_scaling\"", "\"rope_parameters\"").Replace("\"rope_theta\": 500000.0,", "")
            .Replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"llama3\", \"rope_theta\": 250000.0");
        var c = HfConfig.Parse(v5, "t");
        Assert.Equal(250000.0, c.RopeTheta);
        Assert.Equal(RopeScaling.Llama3, c.RopeScaling!.Type);
        Assert.Null(HfConfig.Parse(Llama32_1B.Replace("\"rope_type\": \"llama3\"", "\"rope_type\": \"default\""), "t").RopeScaling);
    }

    [Theory]
    [InlineData("\"rope_type\": \"llama3\"", "\"rope_type\": \"yarn\"", "rope_scaling type 'yarn'")]
    [InlineData("\"rope_type\": \"llama3\"", "\"rope_type\": \"dynamic\"", "rope_scaling type 'dynamic'")]
    [InlineData("\"rope_type\": \"llama3\"", "\"rope_type\": \"longrope\"", "rope_scaling type 'longrope'")]
    [InlineData("\"rope_type\": \"llama3\"", "\"kind\": \"llama3\"", "has no rope_type")]
    public void UnknownRopeType_IsUnsupported_NamingTheField(string find, string replace, string fragment)
    {
        var ex = Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.Parse(Llama32_1B.Replace(find, replace), "cfg.json"));
        Assert.Contains(fragment, ex.Message);
        Assert.Contains("cfg.json", ex.Message);
        Assert.Equal(ExitCodes.UnsupportedArchitecture, ex.ExitCode);
        string v5 = Llama32_1B.Replace(find, replace).Replace("\"rope_scaling\"", "\"rope_parameters\"");
        Assert.Contains("rope_parameters", Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.Parse(v5, "cfg.json")).Message);
    }

    [Theory]
    [InlineData("\"low_freq_factor\": 1.0,", "", "low_freq_factor")]
    [InlineData("\"factor\": 32.0", "\"factor\": 0", "factor")]
    [InlineData("\"high_freq_factor\": 4.0", "\"high_freq_factor\": 0.5", "must exceed low_freq_factor")]
    public void MalformedLlama3Scaling_IsBadModelFile(string find, string replace, string fragment)
    {
        var ex = Assert.Throws<BadModelFileException>(() => HfConfig.Parse(Llama32_1B.Replace(find, replace), "cfg.json"));
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void LlamaAttentionBias_SetsQkvAndOutputBiases()
    {
        var c = HfConfig.Parse(Llama32_1B.Replace("\"attention_bias\": false", "\"attention_bias\": true"), "t");
        Assert.True(c.QkvBias && c.OutputBias);
        Assert.Contains(LlamaTensorShapes.Expected(c), e => e.Name == LlamaTensorNames.OBias(15) && e.Shape.SequenceEqual(new long[] { 2048 }));
    }

    [Fact]
    public void MlpBiasOnQwen2OrMistral_IsUnsupported()
    {
        var ex = Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.Parse(Qwen25_05B.Replace("\"use_cache\"", "\"mlp_bias\": true, \"use_cache\""), "q.json"));
        Assert.Contains("mlp_bias true", ex.Message);
        Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.Parse(Mistral7B_v01.Replace("\"use_cache\"", "\"mlp_bias\": true, \"use_cache\""), "m.json"));
    }

    [Theory]
    [InlineData(nameof(Llama32_1B))]
    [InlineData(nameof(Qwen25_05B))]
    [InlineData(nameof(Mistral7B_v01))]
    public void WrittenOverItsSource_KeepsEveryKeyButWidthsAndDtype(string name)
    {
        string json = name switch { nameof(Llama32_1B) => Llama32_1B, nameof(Qwen25_05B) => Qwen25_05B, _ => Mistral7B_v01 };
        var source = HfConfig.Parse(json, name);
        var pruned = source with { IntermediateSize = 100, IntermediateSizes = Enumerable.Range(0, source.NumHiddenLayers).Select(i => 90 + i % 11).ToArray(), TorchDtype = "float32" };
        string written = HfConfig.ToJson(pruned, json);
        var before = JsonNode.Parse(json)!.AsObject();
        var after = JsonNode.Parse(written)!.AsObject();
        Assert.Equal(before.Select(kv => kv.Key).Append("intermediate_sizes"), after.Select(kv => kv.Key)); // same keys, same order
        foreach (var (key, value) in before)
        {
            if (key is "intermediate_size" or "torch_dtype") continue;
            Assert.True(JsonNode.DeepEquals(value, after[key]), $"{key}: {value?.ToJsonString()} became {after[key]?.ToJsonString()}");
        }
        Assert.Equal(100, after["intermediate_size"]!.GetValue<int>());
        Assert.Equal("float32", after["torch_dtype"]!.GetValue<string>());
        var back = HfConfig.Parse(written, "t");
        Assert.Equal(pruned.IntermediateSizes, back.IntermediateSizes);
        Assert.Equal(pruned with { IntermediateSizes = null }, back with { IntermediateSizes = null });
    }

    [Fact]
    public void WrittenOverQwen2OrMistral_RefusesFfnBiases()
    {
        var source = HfConfig.Parse(Qwen25_05B, "t");
        var ex = Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.ToJson(source with { MlpBias = true }, Qwen25_05B));
        Assert.Contains("qwen2", ex.Message);
        // a llama source may gain them
        var llama = HfConfig.Parse(Llama32_1B, "t");
        Assert.True(JsonNode.Parse(HfConfig.ToJson(llama with { MlpBias = true }, Llama32_1B))!["mlp_bias"]!.GetValue<bool>());
    }

    [Fact]
    public void WrittenOver_RefusesAConfigThatChangedElsewhere() =>
        Assert.Throws<ArgumentException>(() => HfConfig.ToJson(HfConfig.Parse(Llama32_1B, "t") with { HiddenSize = 1024 }, Llama32_1B));

    [Fact]
    public void WrittenFromScratch_RoundTripsEachVariant()
    {
        foreach (var json in new[] { Llama32_1B, Qwen25_05B, Mistral7B_v01, Llama32_1B.Replace("\"attention_bias\": false", "\"attention_bias\": true") })
        {
            var c = HfConfig.Parse(json, "t");
            Assert.Equal(c, HfConfig.Parse(HfConfig.ToJson(c), "t"));
        }
    }

    [Fact]
    public void WrittenOver_Transformers5DtypeKey_IsUpdatedInPlace_AndNoTorchDtypeAdded()
    {
        string v5 = Mistral7B_v01.Replace("\"torch_dtype\"", "\"dtype\"");
        var written = JsonNode.Parse(HfConfig.ToJson(HfConfig.Parse(v5, "t") with { TorchDtype = "float16", IntermediateSize = 7 }, v5))!.AsObject();
        Assert.Equal("float16", written["dtype"]!.GetValue<string>());
        Assert.False(written.ContainsKey("torch_dtype"));
        Assert.False(written.ContainsKey("mlp_bias"));
        Assert.Equal(7, written["intermediate_size"]!.GetValue<int>());
    }

    /// <summary>
    /// Llama-3.2-1B's numbers: f_i = 500000^(-i/32); wavelength 2 pi / f_i is under 8192/4 = 2048 for i &lt;= 14 (kept),
    /// over 8192/1 for i &gt;= 18 (divided by 32), in between for i = 15..17 (blended, strictly between the two).
    /// </summary>
    [Fact]
    public void Llama32_1B_InverseFrequencies_KeepHighDivideLowBlendBetween()
    {
        var c = HfConfig.Parse(Llama32_1B, "t");
        var scaled = RopeScaling.InverseFrequencies(c.HeadDim, c.RopeTheta, c.RopeScaling);
        Assert.Equal(32, scaled.Length);
        for (int i = 0; i < 32; i++)
        {
            double f = Math.Pow(500000.0, -i / 32.0);
            if (i <= 14) Assert.Equal(f, scaled[i], 15);
            else if (i >= 18) Assert.Equal(f / 32, scaled[i], 15);
            else Assert.InRange(scaled[i], f / 32 * 1.0001, f * 0.9999);
        }
        Assert.True(scaled[15] / Math.Pow(500000.0, -15 / 32.0) > scaled[16] / Math.Pow(500000.0, -16 / 32.0)); // the blend falls towards 1/32
    }
}
