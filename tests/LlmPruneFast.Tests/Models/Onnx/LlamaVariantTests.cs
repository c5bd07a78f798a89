using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>
/// Llama 3 (llama3 and linear rope scaling), Qwen2 (q/k/v biases, tied or untied head), Mistral (sliding window
/// shorter than the sequence) and LLaMA attention_bias: tiny random checkpoints written as safetensors folders, opened
/// like any model, and the ONNX Runtime logits checked against the float64 reference forward.
/// </summary>
public sealed class LlamaVariantTests
{
    public static TheoryData<string> Variants => [.. LlamaVariants.Names];

    private static LlamaConfig Named(string name) => LlamaVariants.Named(name);

    [Theory]
    [MemberData(nameof(Variants))]
    public void SafetensorsFolder_OnnxLogitsEqualReference_WithPadding(string name)
    {
        using var dir = new TempFolder();
        var config = Named(name);
        LlamaVariants.WriteFolder(dir["model"], config, seed: name.Length);
        using var checkpoint = LlamaCheckpoint.Open(dir["model"]);
        Assert.Equal(config with { TorchDtype = "float32", BosTokenId = 1, EosTokenId = 2 }, checkpoint.Config);

        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(checkpoint.Config, checkpoint.Tensors), new OnnxRunnerOptions { IntraOpThreads = 1 });
        int[][] seqs = [RandomLlama.Ids(12, config.VocabSize, 1), RandomLlama.Ids(7, config.VocabSize, 2)];
        foreach (var side in new[] { PadSide.Right, PadSide.Left })
        {
            var batch = TokenBatch.Create(seqs, side, padId: 0);
            var result = runner.Run(batch);
            for (int r = 0; r < seqs.Length; r++)
            {
                var expected = ReferenceLlamaForward.Logits(checkpoint.Config, checkpoint.Tensors, seqs[r]);
                for (int t = 0; t < seqs[r].Length; t++)
                {
                    var actual = result.LogitsAt(r, batch.Column(r, t));
                    for (int v = 0; v < config.VocabSize; v++)
                        Assert.True(Math.Abs(actual[v] - expected[t, v]) < 1e-4, $"{name} {side} row {r} pos {t} vocab {v}: {actual[v]} vs {expected[t, v]}");
                }
            }
        }
    }

    /// <summary>The variant part matters: without it the same weights give other logits (so the check above can fail).</summary>
    [Theory]
    [InlineData("llama3")]
    [InlineData("linear")]
    [InlineData("mistral_window")]
    public void WithoutTheVariantPart_LogitsDiffer(string name)
    {
        var config = Named(name);
        using var tensors = RandomLlama.Tensors(config, seed: 3);
        var plain = config with { RopeScaling = null, SlidingWindow = null };
        int[] ids = RandomLlama.Ids(12, config.VocabSize, 4);
        var a = ReferenceLlamaForward.Logits(config, tensors, ids);
        var b = ReferenceLlamaForward.Logits(plain, tensors, ids);
        double maxDiff = 0;
        for (int v = 0; v < config.VocabSize; v++) maxDiff = Math.Max(maxDiff, Math.Abs(a[11, v] - b[11, v]));
        Assert.True(maxDiff > 1e-3, $"{name}: last-position logits differ by only {maxDiff}");
        // and within the window (mistral) or at position 0 (rope) nothing changes
        for (int v = 0; v < config.VocabSize; v++) Assert.Equal(a[0, v], b[0, v]);
    }

    [Fact]
    public void Qwen2WithUseSlidingWindow_RunsWithinTheWindow_RefusesLongerSequencesWithExit2()
    {
        var config = Named("qwen2_tied") with { UnbuiltWindowLimit = 6 };
        using var tensors = RandomLlama.Tensors(config, seed: 9);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), new OnnxRunnerOptions { IntraOpThreads = 1 });
        int[] shortIds = RandomLlama.Ids(6, config.VocabSize, 1);
        var result = runner.Run(TokenBatch.Create([shortIds], PadSide.Right));
        var expected = ReferenceLlamaForward.Logits(config, tensors, shortIds);
        for (int v = 0; v < config.VocabSize; v++) Assert.True(Math.Abs(result.LogitsAt(0, 5)[v] - expected[5, v]) < 1e-4);
        var ex = Assert.Throws<BadArgumentException>(() => runner.Run(TokenBatch.Create([RandomLlama.Ids(7, config.VocabSize, 1)], PadSide.Right)));
        Assert.Equal(ExitCodes.BadArgument, ex.ExitCode);
        Assert.Contains("sliding_window 6", ex.Message);
    }
}

/// <summary>The tiny variant configs and checkpoint folders shared by the variant graph and prune tests.</summary>
public static class LlamaVariants
{
    public static readonly string[] Names = ["llama3", "linear", "qwen2_tied", "qwen2_untied", "mistral_window", "llama_attention_bias"];

    /// <summary>head_dim 8 with theta 10000 gives wavelengths 6.3, 63, 628 and 6283: with original 64 positions, low 1
    /// and high 4, one frequency is kept, one blended and two divided by the factor (every llama3 branch).</summary>
    public static LlamaConfig Named(string name)
    {
        var baseConfig = RandomLlama.Config(hidden: 16, heads: 4, kvHeads: 2, headDim: 8, layers: 2, ffn: 20, vocab: 48, positions: 32);
        return name switch
        {
            "llama3" => baseConfig with { RopeScaling = new RopeScaling(RopeScaling.Llama3, 8, 1, 4, 64) },
            "linear" => baseConfig with { RopeScaling = new RopeScaling(RopeScaling.Linear, 4) },
            "qwen2_tied" => baseConfig with { ModelType = "qwen2", QkvBias = true, RopeTheta = 1000000, RmsNormEps = 1e-6 },
            "qwen2_untied" => baseConfig with { ModelType = "qwen2", QkvBias = true, TieWordEmbeddings = false, NumKeyValueHeads = 1 },
            "mistral_window" => baseConfig with { ModelType = "mistral", SlidingWindow = 3, TieWordEmbeddings = false },
            "llama_attention_bias" => baseConfig with { QkvBias = true, OutputBias = true },
            _ => throw new ArgumentException(name),
        };
    }

    /// <summary>A checkpoint folder for <paramref name="config"/> with random weights and a placeholder tokenizer.model.</summary>
    public static void WriteFolder(string dir, LlamaConfig config, int seed, string? tokenizerModel = null)
    {
        using var tensors = RandomLlama.Tensors(config, seed);
        string tokenizer = tokenizerModel ?? dir + ".tokenizer.model";
        if (tokenizerModel == null) File.WriteAllBytes(tokenizer, [1, 2, 3]);
        LlamaCheckpointWriter.Write(dir, config, tensors, tokenizer);
    }
}
