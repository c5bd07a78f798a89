using System.Text.Json.Nodes;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Models.Onnx;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// `llmprune prune` on the tiny Llama 3 / Qwen2 / Mistral / attention-bias checkpoints (real tokenizer and text):
/// the pruned config.json keeps the input's keys, order, values and model_type (only intermediate_size, and mlp_bias
/// where compensation adds FFN biases, change), the folder reloads, and its model.onnx matches the reference forward
/// of the reloaded weights.
/// </summary>
public sealed class VariantPruneTests
{
    public static TheoryData<string> Variants => [.. LlamaVariants.Names];

    private static (TempFolder Folder, string Model, string Calib) Setup(string name)
    {
        var folder = new TempFolder();
        var config = LlamaVariants.Named(name) with { VocabSize = 512 }; // tok512's vocabulary
        LlamaVariants.WriteFolder(folder["model"], config, seed: 11, SharedData.Stories260KTokenizer);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(8_000));
        return (folder, folder["model"], folder["calib.txt"]);
    }

    [SharedTheory]
    [MemberData(nameof(Variants))]
    public void Prune_KeepsModelTypeAndEveryConfigKey_AndReloads(string name)
    {
        var (folder, model, calib) = Setup(name);
        using var _ = folder;
        var (code, _, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.25", "--samples", "256",
            "--threads", "1", "--out", folder["pruned"], "--quiet");
        Assert.True(code == 0, stderr);

        var before = JsonNode.Parse(File.ReadAllText(Path.Combine(model, HfConfig.FileName)))!.AsObject();
        var after = JsonNode.Parse(File.ReadAllText(Path.Combine(folder["pruned"], HfConfig.FileName)))!.AsObject();
        bool llama = before["model_type"]!.GetValue<string>() == "llama";
        // the default method compensates with partner merges (FFN biases) on llama, with none on mistral and qwen2
        var expectedKeys = before.Select(kv => kv.Key).ToList();
        Assert.Equal(expectedKeys, after.Select(kv => kv.Key));
        foreach (var (key, value) in before)
        {
            if (key == "intermediate_size" || (llama && key == "mlp_bias")) continue;
            Assert.True(JsonNode.DeepEquals(value, after[key]), $"{name}: {key} {value?.ToJsonString()} became {after[key]?.ToJsonString()}");
        }
        Assert.Equal(15, after["intermediate_size"]!.GetValue<int>()); // 20 - 25%
        Assert.Equal(llama, after["mlp_bias"]?.GetValue<bool>() ?? false);

        using var source = LlamaCheckpoint.Open(model);
        using var pruned = LlamaCheckpoint.Open(folder["pruned"]);
        Assert.Equal(source.Config with { IntermediateSize = 15, MlpBias = llama }, pruned.Config);
        using var runner = OnnxLlamaRunner.Create(Path.Combine(folder["pruned"], "model.onnx"), new OnnxRunnerOptions { IntraOpThreads = 1 });
        int[] ids = RandomLlama.Ids(12, 512, 5);
        var logits = runner.Run(TokenBatch.Create([ids], PadSide.Right));
        var expected = ReferenceLlamaForward.Logits(pruned.Config, pruned.Tensors, ids);
        for (int t = 0; t < ids.Length; t++)
            for (int v = 0; v < 512; v++)
                Assert.True(Math.Abs(logits.LogitsAt(0, t)[v] - expected[t, v]) < 1e-4, $"{name} pos {t} vocab {v}");
    }

    [SharedTheory]
    [InlineData("qwen2_tied", "bias")]
    [InlineData("mistral_window", "refit")]
    [InlineData("qwen2_untied", "partner")]
    public void CompensationWithFfnBiases_OnQwen2OrMistral_IsRefusedWithExit4(string name, string compensation)
    {
        var (folder, model, calib) = Setup(name);
        using var _ = folder;
        var (code, _, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.25", "--samples", "256",
            "--compensate", compensation, "--out", folder["pruned"], "--quiet");
        Assert.Equal(ExitCodes.UnsupportedArchitecture, code);
        Assert.StartsWith("error:", stderr.Trim());
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.Contains($"--compensate {compensation}", stderr);
        Assert.Contains("--compensate none", stderr);
        Assert.False(Directory.Exists(folder["pruned"]));
    }

    /// <summary>Qwen2 with use_sliding_window on some layers: calibration paragraphs longer than the window are refused (exit 2).</summary>
    [SharedFact]
    public void Qwen2WithWindowedLayers_SequencesLongerThanTheWindow_AreRefusedWithExit2()
    {
        var (folder, model, calib) = Setup("qwen2_tied");
        using var _ = folder;
        string configPath = Path.Combine(model, HfConfig.FileName);
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["use_sliding_window"] = true;
        config["sliding_window"] = 8;
        config["max_window_layers"] = 1;
        File.WriteAllText(configPath, config.ToJsonString());
        var (code, _, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.25", "--samples", "256",
            "--out", folder["pruned"], "--quiet");
        Assert.Equal(ExitCodes.BadArgument, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error:", line);
        Assert.Contains("sliding_window 8", line);
        Assert.False(Directory.Exists(folder["pruned"]));
    }

    [SharedFact]
    public void FolderWithUnigramTokenizerJson_IsRefusedWithOneLine_Exit3()
    {
        var (folder, model, calib) = Setup("llama3");
        using var _ = folder;
        File.Delete(Path.Combine(model, LlamaCheckpoint.TokenizerModelFileName));
        File.WriteAllText(Path.Combine(model, "tokenizer.json"), "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}");
        var (code, _, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.25", "--out", folder["pruned"], "--quiet");
        Assert.Equal(ExitCodes.BadModelFile, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error:", line);
        Assert.Contains("tokenizer.json': field model.type is 'Unigram'", line);
        Assert.False(Directory.Exists(folder["pruned"]));
    }
}
