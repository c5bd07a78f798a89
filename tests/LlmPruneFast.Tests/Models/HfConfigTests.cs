using System.Text.Json.Nodes;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

public sealed class HfConfigTests
{
    private const string Llama = """
        {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192,
         "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "hidden_act": "silu",
         "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "rope_scaling": null, "tie_word_embeddings": true, "vocab_size": 128256,
         "max_position_embeddings": 131072, "mlp_bias": false, "torch_dtype": "bfloat16", "bos_token_id": 128000,
         "eos_token_id": [128001, 128008], "pad_token_id": null, "custom_field": {"a": 1}}
        """;

    [Fact]
    public void Parse_ReadsEveryKey()
    {
        var c = HfConfig.Parse(Llama, "test");
        Assert.Equal(2048, c.HiddenSize);
        Assert.Equal(8192, c.IntermediateSize);
        Assert.Equal(16, c.NumHiddenLayers);
        Assert.Equal(32, c.NumAttentionHeads);
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(64, c.HeadDim);
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(128256, c.VocabSize);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.False(c.MlpBias);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal(128001, c.EosTokenId);
        Assert.Null(c.IntermediateSizes);
    }

    [Fact]
    public void Parse_AppliesTransformersDefaults()
    {
        var c = HfConfig.Parse("""{"model_type":"llama","hidden_size":64,"intermediate_size":172,"num_hidden_layers":2,"num_attention_heads":8,"vocab_size":512}""", "t");
        Assert.Equal(8, c.NumKeyValueHeads);
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.Equal("float32", c.TorchDtype);
    }

    [Fact]
    public void ToJson_ThenParse_RoundTrips_WithPerLayerWidthsAndUnknownKeysKept()
    {
        var config = HfConfig.Parse(Llama, "t") with { IntermediateSizes = Enumerable.Range(0, 16).Select(i => 8192 - i).ToArray(), MlpBias = true };
        string json = HfConfig.ToJson(config, Llama);
        var back = HfConfig.Parse(json, "t");
        Assert.Equal(config.IntermediateSizes, back.IntermediateSizes);
        Assert.Equal(config with { IntermediateSizes = null, EosTokenId = 128001 }, back with { IntermediateSizes = null });
        var node = JsonNode.Parse(json)!.AsObject();
        Assert.Equal(1, node["custom_field"]!["a"]!.GetValue<int>());
        Assert.True(node.ContainsKey("pad_token_id"));
        Assert.Equal(8192 - 15, node["intermediate_sizes"]!.AsArray()[15]!.GetValue<int>());
    }

    [Fact]
    public void ToJson_UniformWidths_OmitsIntermediateSizes()
    {
        var config = HfConfig.Parse(Llama, "t") with { IntermediateSizes = Enumerable.Repeat(8192, 16).ToArray() };
        Assert.False(JsonNode.Parse(HfConfig.ToJson(config))!.AsObject().ContainsKey("intermediate_sizes"));
    }

    [Fact]
    public void Parse_MistralWithoutSlidingWindow_IsAccepted() =>
        Assert.Equal(4096, HfConfig.Parse(Llama.Replace("\"llama\"", "\"mistral\"").Replace("LlamaForCausalLM", "MistralForCausalLM")
            .Replace("\"mlp_bias\"", "\"sliding_window\": null, \"mlp_bias\"").Replace("2048", "4096"), "t").HiddenSize);

    [Theory]
    [InlineData("\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"", "model_type 'gpt2'")]
    [InlineData("\"rope_scaling\": null", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 32.0}", "rope_scaling type 'yarn'")]
    [InlineData("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", "hidden_act 'gelu'")]
    [InlineData("[\"LlamaForCausalLM\"]", "[\"LlamaForSequenceClassification\"]", "LlamaForSequenceClassification")]
    public void Parse_Unsupported_ThrowsNamingTheFeature(string find, string replace, string fragment)
    {
        var ex = Assert.Throws<UnsupportedArchitectureException>(() => HfConfig.Parse(Llama.Replace(find, replace), "cfg.json"));
        Assert.Contains(fragment, ex.Message);
        Assert.Contains("cfg.json", ex.Message);
    }

    [Theory]
    [InlineData("\"hidden_size\": 2048,", "", "missing 'hidden_size'")]
    [InlineData("\"vocab_size\": 128256", "\"vocab_size\": \"big\"", "'vocab_size' must be an integer")]
    [InlineData("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5", "num_key_value_heads 5")]
    [InlineData("{", "[", "not valid JSON")]
    public void Parse_Malformed_ThrowsBadModelFile(string find, string replace, string fragment)
    {
        var ex = Assert.Throws<BadModelFileException>(() => HfConfig.Parse(Llama.Replace(find, replace), "cfg.json"));
        Assert.Contains(fragment, ex.Message);
    }
}
