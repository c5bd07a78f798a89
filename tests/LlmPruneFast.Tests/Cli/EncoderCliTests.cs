using System.Text.Json;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Tests.Encoders;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Cli;

/// <summary><c>llmprune eval</c> and <c>fetch</c> on the MiniLM encoder, run as a separate process.</summary>
public sealed class EncoderCliTests
{
    private static readonly string[] PairLines =
    [
        "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.",
        "main-captions\tMSRvid\t2012test\t0004\t3.800\tA man is playing a large flute.\tA man is playing a flute.",
        "main-captions\tMSRvid\t2012test\t0005\t3.800\tA man is spreading shreded cheese on a pizza.\tA man is spreading shredded cheese on an uncooked pizza.",
        "main-captions\tMSRvid\t2012test\t0006\t2.600\tThree men are playing chess.\tTwo men are playing chess.",
        "main-captions\tMSRvid\t2012test\t0009\t4.250\tA man is playing the cello.\tA man seated is playing the cello.",
        "main-captions\tMSRvid\t2012test\t0011\t0.500\tA woman is slicing an onion.\tA man is driving a car.",
    ];

    private static JsonElement LastJson(string output) => JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;

    [Fact]
    public void Eval_sts_json_reports_spearman_and_pairs_equal_to_the_library()
    {
        using var tmp = new TempFolder();
        File.WriteAllLines(tmp["pairs.csv"], PairLines);
        var (code, output, err) = CliRunner.Run("eval", "--model", MiniLm.Folder, "--sts", tmp["pairs.csv"], "--json", "--threads", "1");
        Assert.True(code == 0, err);
        var json = LastJson(output);
        Assert.Equal(6, json.GetProperty("pairs").GetInt32());
        Assert.Equal("mean", json.GetProperty("pooling").GetString());
        using var encoder = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1 });
        var expected = EncoderEvaluation.Sts(encoder, StsBenchmark.Read(tmp["pairs.csv"]));
        Assert.Equal(expected.Spearman, json.GetProperty("sts_spearman").GetDouble(), 9);

        var (clsCode, clsOut, clsErr) = CliRunner.Run("eval", "--model", MiniLm.Folder, "--sts", tmp["pairs.csv"], "--pooling", "cls", "--json", "--threads", "1");
        Assert.True(clsCode == 0, clsErr);
        Assert.Equal("cls", LastJson(clsOut).GetProperty("pooling").GetString());
    }

    [Fact]
    public void Eval_text_on_an_encoder_reports_embedding_statistics_and_latency()
    {
        using var tmp = new TempFolder();
        File.WriteAllLines(tmp["s.txt"], ["A man is playing the cello.", "", "Three men are playing chess.", "A woman is slicing an onion."]);
        var (code, output, err) = CliRunner.Run("eval", "--model", MiniLm.Folder, "--text", tmp["s.txt"], "--latency", "--json", "--threads", "1");
        Assert.True(code == 0, err);
        var json = LastJson(output);
        Assert.Equal(3, json.GetProperty("sentences").GetInt32());
        Assert.Equal(384, json.GetProperty("dimension").GetInt32());
        Assert.True(json.GetProperty("mean_norm").GetDouble() > 0);
        Assert.Equal(128, json.GetProperty("latency_seq").GetInt32());
        Assert.True(json.GetProperty("latency_ms").GetDouble() > 0);
        Assert.False(json.TryGetProperty("perplexity", out _));
    }

    [Fact]
    public void Pooling_on_a_decoder_is_a_clean_bad_argument()
    {
        using var tmp = new TempFolder();
        TinyLlama.WriteFolder(tmp["llama"]);
        File.WriteAllText(tmp["t.txt"], "hello");
        var (code, output, err) = CliRunner.Run("eval", "--model", tmp["llama"], "--text", tmp["t.txt"], "--paragraphs", "1", "--pooling", "cls");
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains("--pooling", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        Assert.Equal("", output);
    }

    [Fact]
    public void Missing_vocab_and_malformed_sts_are_clean_errors_with_their_own_codes()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp["novocab"]);
        File.Copy(Path.Combine(MiniLm.Folder, "model.onnx"), tmp["novocab/model.onnx"]);
        File.WriteAllLines(tmp["pairs.csv"], PairLines);
        var (code, _, err) = CliRunner.Run("eval", "--model", tmp["novocab"], "--sts", tmp["pairs.csv"]);
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Equal($"error: encoder folder '{tmp["novocab"]}' has no vocab.txt (the WordPiece vocabulary an encoder needs)", err.TrimEnd());

        File.WriteAllLines(tmp["bad.tsv"], [PairLines[0], "only\ttwo"]);
        (code, _, err) = CliRunner.Run("eval", "--model", MiniLm.Folder, "--sts", tmp["bad.tsv"]);
        Assert.Equal(ExitCodes.BadData, code);
        Assert.StartsWith($"error: STS file '{tmp["bad.tsv"]}' line 2", err);
        Assert.Single(err.TrimEnd().Split('\n'));
    }

    [Fact]
    public void Fetch_writes_an_encoder_folder_and_refuses_a_non_empty_one()
    {
        using var tmp = new TempFolder();
        var (code, output, err) = CliRunner.Run("fetch", "--out", tmp["m"]);
        Assert.True(code == 0, err);
        Assert.Contains("model.onnx", output);
        Assert.True(EncoderFolder.IsEncoder(tmp["m"]));
        (code, _, err) = CliRunner.Run("fetch", "--out", tmp["m"]);
        Assert.Equal(ExitCodes.OutputConflict, code);
        Assert.StartsWith("error: ", err);
    }
}

/// <summary><c>llmprune demo-encoder</c>, the encoder half of ./build.sh demo.</summary>
public sealed class EncoderDemoCliTests
{
    [Fact]
    public void Demo_encoder_compares_dense_with_a_second_folder_made_by_copying_companions()
    {
        using var tmp = new TempFolder();
        // The output-folder step a pruned encoder needs: model.onnx plus the dense folder's vocab and configs.
        Directory.CreateDirectory(tmp["pruned"]);
        File.Copy(Path.Combine(MiniLm.Folder, "model.onnx"), tmp["pruned/model.onnx"]);
        EncoderFolder.CopyCompanions(EncoderFolder.Open(MiniLm.Folder), tmp["pruned"]);
        var (code, output, err) = CliRunner.Run("demo-encoder", "--model", MiniLm.Folder, "--pruned", tmp["pruned"],
            "--latency-batch", "1", "--latency-repeats", "1", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Contains("22,713,216 parameters", output);
        Assert.Contains("fidelity   mean cosine 1.0000 (min 1.0000) pruned vs dense on 12 sentences", output);
        Assert.Contains("latency    dense ", output);
    }
}
