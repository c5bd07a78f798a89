using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Encoders;

public sealed class EncoderFolderTests
{
    private static void FakeEncoder(string dir)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "model.onnx"), [1]);
        File.WriteAllLines(Path.Combine(dir, "vocab.txt"), ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]);
    }

    [Fact]
    public void Defaults_without_configs_are_mean_pooling_512_tokens_and_the_vocab_decides_casing()
    {
        using var tmp = new TempFolder();
        FakeEncoder(tmp["m"]);
        Assert.True(EncoderFolder.IsEncoder(tmp["m"]));
        Assert.True(EncoderFolder.IsEncoder(tmp["m/model.onnx"]));
        var f = EncoderFolder.Open(tmp["m"]);
        Assert.Equal(Pooling.Mean, f.Pooling);
        Assert.Equal(512, f.MaxTokens);
        Assert.True(f.LowerCase);
        Assert.Empty(f.ConfigFiles);
        File.AppendAllLines(tmp["m/vocab.txt"], ["Hello"]);
        Assert.False(EncoderFolder.Open(tmp["m"]).LowerCase);
    }

    [Fact]
    public void MiniLm_vocabulary_reads_as_uncased() => Assert.True(EncoderFolder.Open(MiniLm.Folder).LowerCase);

    [Fact]
    public void Sentence_transformers_configs_set_pooling_length_and_casing()
    {
        using var tmp = new TempFolder();
        FakeEncoder(tmp["m"]);
        Directory.CreateDirectory(tmp["m/1_Pooling"]);
        File.WriteAllText(tmp["m/1_Pooling/config.json"], """{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}""");
        File.WriteAllText(tmp["m/sentence_bert_config.json"], """{"max_seq_length": 128, "do_lower_case": false}""");
        File.WriteAllText(tmp["m/tokenizer_config.json"], """{"do_lower_case": false}""");
        var f = EncoderFolder.Open(tmp["m"]);
        Assert.Equal(Pooling.Cls, f.Pooling);
        Assert.Equal(128, f.MaxTokens);
        Assert.False(f.LowerCase);

        FakeEncoder(tmp["out"]);
        File.Delete(tmp["out/vocab.txt"]);
        EncoderFolder.CopyCompanions(f, tmp["out"]);
        var copy = EncoderFolder.Open(tmp["out"]);
        Assert.Equal((f.Pooling, f.MaxTokens, f.LowerCase), (copy.Pooling, copy.MaxTokens, copy.LowerCase));
        Assert.Equal(File.ReadAllText(tmp["m/vocab.txt"]), File.ReadAllText(tmp["out/vocab.txt"]));
    }

    [Fact]
    public void Bad_folders_are_refused_with_the_file_named()
    {
        using var tmp = new TempFolder();
        FakeEncoder(tmp["m"]);
        File.Delete(tmp["m/vocab.txt"]);
        Assert.False(EncoderFolder.IsEncoder(tmp["m"]));
        Assert.Contains("vocab.txt", Assert.Throws<MissingInputException>(() => EncoderFolder.Open(tmp["m"])).Message);

        FakeEncoder(tmp["d"]);
        File.WriteAllBytes(tmp["d/tokenizer.model"], [1]);
        Assert.False(EncoderFolder.IsEncoder(tmp["d"]));
        Assert.Throws<UnsupportedArchitectureException>(() => EncoderFolder.Open(tmp["d"]));

        FakeEncoder(tmp["j"]);
        Directory.CreateDirectory(tmp["j/1_Pooling"]);
        File.WriteAllText(tmp["j/1_Pooling/config.json"], "{ not json");
        Assert.Contains("config.json", Assert.Throws<BadModelFileException>(() => EncoderFolder.Open(tmp["j"])).Message);
        File.WriteAllText(tmp["j/1_Pooling/config.json"], """{"pooling_mode_max_tokens": true}""");
        Assert.Throws<UnsupportedArchitectureException>(() => EncoderFolder.Open(tmp["j"]));
    }
}
