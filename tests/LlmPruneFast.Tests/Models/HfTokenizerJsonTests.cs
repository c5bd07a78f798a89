using System.Text.Json.Nodes;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

/// <summary>
/// tokenizer.json against Hugging Face tokenizers' own ids (computed once by perf/peers/run_tokenizer_ids_peer.sh):
/// the project's two tiny files (always run) and Meta's Llama 3 file (fetched into .cache); then what is refused.
/// </summary>
public sealed class HfTokenizerJsonTests
{
    private static void AssertIdsEqual(IModelTokenizer tokenizer, IReadOnlyList<TokenizerJsonData.Case> cases, string name)
    {
        Assert.True(cases.Count >= 50, $"{name}: only {cases.Count} reference texts");
        var wrong = cases.Where(c => !tokenizer.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{JsonValue.Create(c.Text).ToJsonString()}: expected [{string.Join(", ", c.Ids)}], got [{string.Join(", ", tokenizer.Encode(c.Text))}]").ToArray();
        Assert.True(wrong.Length == 0, $"{name}: {wrong.Length} of {cases.Count} texts differ from Hugging Face tokenizers:\n{string.Join("\n", wrong)}");
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny-llama3")]
    public void TinyFiles_EncodeExactlyAsHuggingFaceTokenizers(string name)
    {
        string path = name == "tiny" ? TokenizerJsonData.Tiny : TokenizerJsonData.TinyLlama3;
        Assert.Equal(TokenizerJsonData.Sha256(name), TokenizerJsonData.FileSha256(path));
        AssertIdsEqual(ModelTokenizer.Load(path), TokenizerJsonData.Cases(name), name);
    }

    [Fact]
    public void TinyQwen2Style_AddsNoBos_AndNormalizesToNfc()
    {
        var tokenizer = ModelTokenizer.Load(TokenizerJsonData.Tiny);
        Assert.IsType<HfJsonTokenizer>(tokenizer);
        Assert.Null(tokenizer.BosId);
        Assert.Empty(tokenizer.Encode(""));
        Assert.Equal(tokenizer.Encode("caf\u00e9"), tokenizer.Encode("cafe\u0301")); // NFC: both are the merged "café"
        Assert.Equal(279, tokenizer.VocabularySize); // 256 bytes + 21 merges + "Ġxyz" + <|endoftext|>
        Assert.Equal("the hello world, a café xyz", tokenizer.Decode(tokenizer.Encode("the hello world, a café xyz")));
    }

    [Fact]
    public void TinyLlama3Style_TemplateBos_IgnoreMerges_AndSpecialTokensLeftOutOfDecode()
    {
        var tokenizer = ModelTokenizer.Load(TokenizerJsonData.TinyLlama3);
        Assert.Equal(278, tokenizer.BosId);
        Assert.Equal([278], tokenizer.Encode(""));
        Assert.Equal([278, 277], tokenizer.Encode(" xyz")); // "Ġxyz" is reachable by no merge: only ignore_merges finds it
        var ids = tokenizer.Encode("a<|end_of_text|>b");
        Assert.Equal([278, 97, 279, 98], ids);
        Assert.Equal("ab", tokenizer.Decode(ids));
    }

    [Fact]
    public void TokenizerConfig_AddBosToken_AddsItsBosToken_WhenThereIsNoTemplate()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["t"]);
        string path = Path.Combine(dir["t"], "tokenizer.json");
        File.Copy(TokenizerJsonData.Tiny, path);
        File.WriteAllText(Path.Combine(dir["t"], "tokenizer_config.json"),
            """{"add_bos_token": true, "bos_token": {"content": "<|endoftext|>"}, "eos_token": "<|endoftext|>"}""");
        var tokenizer = ModelTokenizer.Load(path);
        Assert.Equal(278, tokenizer.BosId);
        Assert.Equal(278, tokenizer.EosId);
        Assert.Equal(278, tokenizer.Encode("x")[0]);

        File.WriteAllText(Path.Combine(dir["t"], "tokenizer_config.json"), """{"add_bos_token": true, "bos_token": "<s>"}""");
        var ex = Assert.Throws<BadModelFileException>(() => ModelTokenizer.Load(path));
        Assert.Contains("tokenizer_config.json", ex.Message);
        Assert.Contains("bos_token", ex.Message);
    }

    [Llama3Fact]
    public void Llama3_AsPublished_EncodesExactlyAsHuggingFaceTokenizers()
    {
        Assert.Equal(TokenizerJsonData.Sha256("llama3"), TokenizerJsonData.FileSha256(TokenizerJsonData.Llama3));
        var tokenizer = ModelTokenizer.Load(TokenizerJsonData.Llama3);
        Assert.Null(tokenizer.BosId); // this file's post-processor is ByteLevel only, and its tokenizer_config.json has no add_bos_token
        Assert.Equal(128001, tokenizer.EosId);
        Assert.Equal(128256, tokenizer.VocabularySize);
        AssertIdsEqual(tokenizer, TokenizerJsonData.Cases("llama3"), "llama3");
        foreach (var c in TokenizerJsonData.Cases("llama3").Where(c => !c.Text.Contains("<|")))
            Assert.Equal(c.Text, tokenizer.Decode(c.Ids));
    }

    [Llama3Fact]
    public void Llama3_WithTheLlama31BosTemplate_EncodesExactlyAsHuggingFaceTokenizers()
    {
        using var dir = new TempFolder();
        string path = TokenizerJsonData.WithBosTemplate(TokenizerJsonData.Llama3, dir["t"], 128000);
        var tokenizer = ModelTokenizer.Load(path);
        Assert.Equal(128000, tokenizer.BosId);
        AssertIdsEqual(tokenizer, TokenizerJsonData.Cases("llama3-bos"), "llama3-bos");
    }

    [SharedFact]
    public void SentencePieceWrapper_GivesTheLoaderIds()
    {
        var library = LlamaTokenizerLoader.Load(SharedData.Stories260KTokenizer);
        var wrapped = ModelTokenizer.Load(SharedData.Stories260KTokenizer);
        Assert.IsType<SentencePieceModelTokenizer>(wrapped);
        Assert.Equal(library.BeginningOfSentenceId, wrapped.BosId);
        Assert.Equal(512, wrapped.VocabularySize);
        foreach (var c in TokenizerJsonData.Cases("tiny"))
            Assert.Equal(library.Encode(c.Text), wrapped.Encode(c.Text));
    }

    // ---- refusals: one BadModelFileException naming the file and the field ----

    private static string Edited(TempFolder dir, Action<JsonObject> edit, string source = "tiny")
    {
        var root = JsonNode.Parse(File.ReadAllText(source == "tiny" ? TokenizerJsonData.Tiny : TokenizerJsonData.TinyLlama3))!.AsObject();
        edit(root);
        Directory.CreateDirectory(dir["t"]);
        string path = Path.Combine(dir["t"], "tokenizer.json");
        File.WriteAllText(path, root.ToJsonString());
        return path;
    }

    public static TheoryData<string, string> Refusals => new()
    {
        { """{"model": {"type": "WordPiece", "vocab": {"a": 0}}}""", "field model.type is 'WordPiece'" },
        { """{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}""", "field model.type is 'Unigram'" },
        { """{"model": {"type": "BPE"}}""", "field model.vocab" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}}""", "field model.merges[0]" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""", "field pre_tokenizer is missing" },
        { """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}}""", "field pre_tokenizer.type is 'Metaspace'" },
        { "not json", "is not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void UnsupportedOrMalformedFiles_AreRefused_NamingTheField(string json, string expected)
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["t"]);
        string path = Path.Combine(dir["t"], "tokenizer.json");
        File.WriteAllText(path, json);
        var ex = Assert.Throws<BadModelFileException>(() => ModelTokenizer.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    public static TheoryData<string, string> EditedRefusals => new()
    {
        { "normalizer-lowercase", "field normalizer.type is 'Lowercase'" },
        { "normalizer-sequence-replace", "field normalizer.normalizers[1].type is 'Replace'" },
        { "split-behavior", "field pre_tokenizer.pretokenizers[0].behavior is 'MergedWithPrevious'" },
        { "split-invert", "field pre_tokenizer.pretokenizers[0].invert" },
        { "prefix-space", "field pre_tokenizer.pretokenizers[1].add_prefix_space" },
        { "bad-regex", "field pre_tokenizer.pretokenizers[0].pattern.Regex" },
        { "template-eos", "field post_processor.processors[1].single puts tokens after the text" },
        { "bert-post", "field post_processor.type is 'BertProcessing'" },
        { "decoder", "field decoder.type is 'Metaspace'" },
        { "added-lstrip", "field added_tokens[0].lstrip" },
        { "dropout", "field model.dropout" },
        { "added-gap", "field added_tokens[0].id is 300" },
    };

    [Theory]
    [MemberData(nameof(EditedRefusals))]
    public void UnsupportedParts_AreRefused_NamingTheField(string edit, string expected)
    {
        using var dir = new TempFolder();
        string path = Edited(dir, root =>
        {
            var split = root["pre_tokenizer"]!["pretokenizers"]![0]!.AsObject();
            switch (edit)
            {
                case "normalizer-lowercase": root["normalizer"] = JsonNode.Parse("""{"type": "Lowercase"}"""); break;
                case "normalizer-sequence-replace": root["normalizer"] = JsonNode.Parse("""{"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Replace"}]}"""); break;
                case "split-behavior": split["behavior"] = "MergedWithPrevious"; break;
                case "split-invert": split["invert"] = true; break;
                case "prefix-space": root["pre_tokenizer"]!["pretokenizers"]![1]!["add_prefix_space"] = true; break;
                case "bad-regex": split["pattern"] = JsonNode.Parse("""{"Regex": "(unclosed"}"""); break;
                case "template-eos":
                    root["post_processor"]!["processors"]![1]!["single"]!.AsArray().Add(JsonNode.Parse("""{"SpecialToken": {"id": "<|end_of_text|>", "type_id": 0}}"""));
                    break;
                case "bert-post": root["post_processor"] = JsonNode.Parse("""{"type": "BertProcessing"}"""); break;
                case "decoder": root["decoder"] = JsonNode.Parse("""{"type": "Metaspace"}"""); break;
                case "added-lstrip": root["added_tokens"]![0]!["lstrip"] = true; break;
                case "dropout": root["model"]!["dropout"] = 0.1; break;
                case "added-gap": root["added_tokens"]![0]!["id"] = 300; break;
            }
        }, edit == "template-eos" ? "tiny-llama3" : "tiny");
        var ex = Assert.Throws<BadModelFileException>(() => ModelTokenizer.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void MergesAsPairs_ReadAsStrings()
    {
        using var dir = new TempFolder();
        string path = Edited(dir, root =>
        {
            var merges = root["model"]!["merges"]!.AsArray().Select(m => m!.GetValue<string>().Split(' ')).ToArray();
            root["model"]!["merges"] = new JsonArray([.. merges.Select(m => (JsonNode)new JsonArray(m[0], m[1]))]);
        });
        AssertIdsEqual(ModelTokenizer.Load(path), TokenizerJsonData.Cases("tiny"), "tiny with [a, b] merges");
    }

    [Fact]
    public void MissingFile_IsAMissingInput()
    {
        Assert.Throws<MissingInputException>(() => ModelTokenizer.Load("/nonexistent/tokenizer.json"));
    }
}
