using System.Text;
using System.Text.Json.Nodes;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Models.Onnx;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// Checkpoints whose tokenizer is a byte-level BPE tokenizer.json (no tokenizer.model), end to end through the CLI:
/// tiny random Llama 3 and Qwen2 shapes with the committed tiny tokenizers (always run), and a Llama 3 shape with
/// Meta's real 128,256-id tokenizer. `prune` and `eval` run; the pruned folder carries tokenizer.json and
/// tokenizer_config.json byte for byte, holds no tokenizer.model, and reloads with the same tokenizer.
/// </summary>
public sealed class TokenizerJsonPruneTests
{
    /// <summary>Seeded English-like paragraphs (blank-line separated) over a small word list, with accents and digits.</summary>
    private static string Text(int paragraphs, int seed)
    {
        string[] words = ["the", "hello", "world", "a", "café", "xyz", "cat", "ran", "over", "little", "Lily", "played", "outside", "it's", "42", "naïve", "and", "then"];
        var random = new Random(seed);
        var text = new StringBuilder();
        for (int p = 0; p < paragraphs; p++)
        {
            int n = random.Next(8, 16);
            for (int w = 0; w < n; w++) text.Append(w == 0 ? "" : " ").Append(words[random.Next(words.Length)]);
            text.Append(".\n\n");
        }
        return text.ToString();
    }

    private static string Setup(TempFolder folder, string variant, string tokenizerJson, string? tokenizerConfig, int vocab, int bos, int eos)
    {
        var config = LlamaVariants.Named(variant) with { VocabSize = vocab, BosTokenId = bos, EosTokenId = eos };
        LlamaVariants.WriteFolder(folder["model"], config, seed: 5, tokenizerJson);
        if (tokenizerConfig != null) File.WriteAllText(Path.Combine(folder["model"], HfTokenizerJson.ConfigFileName), tokenizerConfig);
        File.WriteAllText(folder["calib.txt"], Text(60, 1));
        File.WriteAllText(folder["eval.txt"], Text(12, 2));
        return folder["model"];
    }

    private static void PruneEvalAndReload(TempFolder folder, string model, int? expectedBos)
    {
        using (var source = LlamaCheckpoint.Open(model))
        {
            Assert.Equal(Path.Combine(source.Directory, "tokenizer.json"), source.TokenizerPath);
            Assert.False(File.Exists(Path.Combine(model, LlamaCheckpoint.TokenizerModelFileName)));
        }
        var (code, _, stderr) = CliRunner.Run("prune", "--model", model, "--calib", folder["calib.txt"], "--ratio", "0.25", "--samples", "256",
            "--threads", "1", "--out", folder["pruned"], "--quiet");
        Assert.True(code == 0, stderr);

        string pruned = folder["pruned"];
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "tokenizer.json")), File.ReadAllBytes(Path.Combine(pruned, "tokenizer.json")));
        string config = Path.Combine(model, HfTokenizerJson.ConfigFileName);
        if (File.Exists(config)) Assert.Equal(File.ReadAllBytes(config), File.ReadAllBytes(Path.Combine(pruned, HfTokenizerJson.ConfigFileName)));
        else Assert.False(File.Exists(Path.Combine(pruned, HfTokenizerJson.ConfigFileName))); // none made up: it could change the BOS rule
        Assert.False(File.Exists(Path.Combine(pruned, LlamaCheckpoint.TokenizerModelFileName)));

        using (var reloaded = LlamaCheckpoint.Open(pruned))
        {
            Assert.Equal(15, reloaded.Config.IntermediateSize);
            var before = ModelTokenizer.Load(Path.Combine(model, "tokenizer.json"));
            var after = ModelTokenizer.Load(reloaded.TokenizerPath);
            Assert.Equal(expectedBos, after.BosId);
            string sample = File.ReadAllText(folder["eval.txt"]);
            Assert.Equal(before.Encode(sample), after.Encode(sample));
        }

        foreach (var m in new[] { model, pruned })
        {
            var (evalCode, stdout, evalErr) = CliRunner.Run("eval", "--model", m, "--text", folder["eval.txt"], "--paragraphs", "12", "--threads", "1", "--json");
            Assert.True(evalCode == 0, evalErr);
            var json = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
            double perplexity = json["perplexity"]!.GetValue<double>();
            Assert.True(double.IsFinite(perplexity) && perplexity > 1, $"{m}: perplexity {perplexity}");
            Assert.True(json["tokens"]!.GetValue<long>() > 100, stdout);
        }
    }

    [Fact]
    public void Llama3Shape_TinyTokenizerJsonWithBosTemplate_PrunesEvaluatesAndReloads()
    {
        using var folder = new TempFolder();
        string model = Setup(folder, "llama3", TokenizerJsonData.TinyLlama3,
            """{"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "tokenizer_class": "PreTrainedTokenizerFast"}""", vocab: 280, bos: 278, eos: 279);
        PruneEvalAndReload(folder, model, expectedBos: 278);
    }

    [Fact]
    public void Qwen2Shape_TinyTokenizerJsonWithoutBos_PrunesEvaluatesAndReloads()
    {
        using var folder = new TempFolder();
        string model = Setup(folder, "qwen2_tied", TokenizerJsonData.Tiny, tokenizerConfig: null, vocab: 279, bos: 278, eos: 278);
        PruneEvalAndReload(folder, model, expectedBos: null);
    }

    [Llama3Fact]
    public void Llama3Shape_MetasTokenizerJson_PrunesEvaluatesAndReloads()
    {
        using var folder = new TempFolder();
        string tokenizer = TokenizerJsonData.WithBosTemplate(TokenizerJsonData.Llama3, folder["tok"], 128000);
        string model = Setup(folder, "llama3", tokenizer, File.ReadAllText(Path.Combine(Path.GetDirectoryName(TokenizerJsonData.Llama3)!, HfTokenizerJson.ConfigFileName)),
            vocab: 128256, bos: 128000, eos: 128001);
        PruneEvalAndReload(folder, model, expectedBos: 128000);
    }

    [Fact]
    public void ImportHfAndGenerate_KeepTheTokenizerJson()
    {
        using var folder = new TempFolder();
        string model = Setup(folder, "qwen2_tied", TokenizerJsonData.Tiny, tokenizerConfig: null, vocab: 279, bos: 278, eos: 278);
        var (code, _, stderr) = CliRunner.Run("import", "--from", "hf", "--model", model, "--out", folder["imported"]);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(Path.Combine(model, "tokenizer.json")), File.ReadAllBytes(folder["imported/tokenizer.json"]));
        Assert.False(File.Exists(folder["imported/tokenizer.model"]));
        Assert.False(File.Exists(folder["imported/" + HfTokenizerJson.ConfigFileName]));

        (code, var stdout, stderr) = CliRunner.Run("generate", "--model", folder["imported"], "--prompt", "the hello world", "--steps", "5", "--threads", "1");
        Assert.True(code == 0, stderr);
        Assert.False(string.IsNullOrEmpty(stdout.Trim('\n')));
    }

    /// <summary>A decoder ONNX graph beside a tokenizer.json (no config.json) goes through the generic graph path.</summary>
    [Fact]
    public void DecoderGraphWithTokenizerJson_PrunesAndEvaluates()
    {
        using var folder = new TempFolder();
        // 512 positions: the graph path cuts sequences at 512 tokens whatever the graph's position table holds.
        var config = LlamaVariants.Named("qwen2_tied") with { VocabSize = 279, BosTokenId = 278, EosTokenId = 278, MaxPositionEmbeddings = 512 };
        using (var tensors = RandomLlama.Tensors(config, 5))
            OnnxModelFile.Save(LlamaOnnxBuilder.Build(config, tensors), folder["graph/model.onnx"]);
        File.Copy(TokenizerJsonData.Tiny, folder["graph/tokenizer.json"]);
        File.WriteAllText(folder["calib.txt"], Text(60, 1));
        File.WriteAllText(folder["eval.txt"], Text(12, 2));
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", folder["graph"], "--calib", folder["calib.txt"], "--method", "flap", "--ratio", "0.25",
            "--samples", "256", "--out", folder["pruned"], "--eval", folder["eval.txt"], "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, stderr);
        var json = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.True(double.IsFinite(json["perplexity_after"]!.GetValue<double>()), stdout);
        Assert.True(json["eval_tokens"]!.GetValue<long>() > 100, stdout);
        Assert.Equal(File.ReadAllBytes(TokenizerJsonData.Tiny), File.ReadAllBytes(folder["pruned/tokenizer.json"]));
    }
}
