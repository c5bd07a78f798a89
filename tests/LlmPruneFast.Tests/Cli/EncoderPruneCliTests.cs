using System.Text.Json;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.OnnxGraph;
using LlmPruneFast.Tests.Encoders;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Cli;

/// <summary><c>llmprune prune</c> on the MiniLM encoder folder, run as a separate process: issue 8's prune interface.</summary>
public sealed class EncoderPruneCliTests
{
    internal static readonly string[] PairLines =
    [
        "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.",
        "main-captions\tMSRvid\t2012test\t0004\t3.800\tA man is playing a large flute.\tA man is playing a flute.",
        "main-captions\tMSRvid\t2012test\t0006\t2.600\tThree men are playing chess.\tTwo men are playing chess.",
        "main-captions\tMSRvid\t2012test\t0009\t4.250\tA man is playing the cello.\tA man seated is playing the cello.",
        "main-captions\tMSRvid\t2012test\t0011\t0.500\tA woman is slicing an onion.\tA man is driving a car.",
        "main-captions\tMSRvid\t2012test\t0012\t1.000\tA dog is running.\tThe stock market fell sharply.",
    ];

    /// <summary>The project's own calibration sentences (the demo's, used when ../shared is absent).</summary>
    internal static string Calibration => Path.Combine(MiniLm.RepoRoot(), "src", "LlmPruneFast.Cli", "Demo", "encoder-calibration.txt");

    private static JsonElement LastJson(string output) => JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]).RootElement;

    [Fact]
    public void Prune_with_sts_reports_params_fidelity_and_sts_before_after_that_match_the_written_model()
    {
        using var tmp = new TempFolder();
        File.WriteAllLines(tmp["pairs.csv"], PairLines);
        var (code, output, err) = CliRunner.Run("prune", "--model", MiniLm.Folder, "--calib", Calibration, "--samples", "512",
            "--method", "flap", "--ratio", "0.3", "--sts", tmp["pairs.csv"], "--out", tmp["pruned"], "--json", "--quiet", "--threads", "1");
        Assert.True(code == 0, err);
        var json = LastJson(output);
        long before = json.GetProperty("params_before").GetInt64(), after = json.GetProperty("params_after").GetInt64();
        Assert.Equal(22_713_216, before); // all-MiniLM-L6-v2's float initializers
        Assert.Equal(before - 6L * 461 * (2 * 384 + 1), after); // 461 of 1536 neurons per block, each an up row, its bias and a down column

        // The pruned folder is an encoder with the dense folder's tokenizer and inputs, and smaller blocks.
        var pruned = OnnxGraphModel.Open(tmp["pruned"]);
        var dense = OnnxGraphModel.Open(MiniLm.Folder);
        Assert.Equal(dense.Inputs.Select(i => i.Name), pruned.Inputs.Select(i => i.Name));
        Assert.All(pruned.Blocks, b => Assert.Equal(1075, b.Width));
        Assert.True(EncoderFolder.IsEncoder(tmp["pruned"]));

        // Fidelity and STS recomputed here from the two folders' embeddings.
        using var d = SentenceEncoder.Open(MiniLm.Folder, new SentenceEncoderOptions { IntraOpThreads = 1 });
        using var p = SentenceEncoder.Open(tmp["pruned"], new SentenceEncoderOptions { IntraOpThreads = 1 });
        var pairs = StsBenchmark.Read(tmp["pairs.csv"]);
        var sentences = pairs.SelectMany(x => new[] { x.Sentence1, x.Sentence2 }).Distinct().ToArray();
        var (a, b2) = (d.Embed(sentences), p.Embed(sentences));
        double mean = a.Zip(b2, (x, y) => Cos(x, y)).Average();
        Assert.Equal(mean, json.GetProperty("fidelity").GetDouble(), 6);
        Assert.InRange(mean, 0.5, 0.99999); // changed, yet still close
        Assert.Equal(sentences.Length, json.GetProperty("fidelity_sentences").GetInt32());
        Assert.Equal(EncoderEvaluation.Sts(d, pairs).Spearman, json.GetProperty("sts_before").GetDouble(), 9);
        Assert.Equal(EncoderEvaluation.Sts(p, pairs).Spearman, json.GetProperty("sts_after").GetDouble(), 9);
        Assert.Equal(6, json.GetProperty("pairs").GetInt32());
    }

    [Fact]
    public void Sts_on_a_decoder_checkpoint_is_refused_before_any_work()
    {
        using var tmp = new TempFolder();
        TinyLlama.WriteFolder(tmp["model"]);
        File.WriteAllLines(tmp["pairs.csv"], PairLines);
        File.WriteAllText(tmp["calib.txt"], "one two three\n\nfour five six\n");
        var (code, _, err) = CliRunner.Run("prune", "--model", tmp["model"], "--calib", tmp["calib.txt"], "--ratio", "0.3",
            "--sts", tmp["pairs.csv"], "--out", tmp["out"]);
        Assert.Equal(2, code);
        Assert.Contains("--sts", err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void A_malformed_sts_file_or_plan_only_with_sts_is_refused_and_nothing_is_written()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["bad.tsv"], "this is not\tan sts file\n");
        var (code, _, err) = CliRunner.Run("prune", "--model", MiniLm.Folder, "--calib", Calibration, "--ratio", "0.3",
            "--sts", tmp["bad.tsv"], "--out", tmp["out"]);
        Assert.NotEqual(0, code);
        Assert.StartsWith("error:", err.Trim());
        Assert.Contains("bad.tsv", err);
        Assert.False(Directory.Exists(tmp["out"]));

        File.WriteAllLines(tmp["pairs.csv"], PairLines);
        (code, _, err) = CliRunner.Run("prune", "--model", MiniLm.Folder, "--calib", Calibration, "--ratio", "0.3",
            "--sts", tmp["pairs.csv"], "--plan-only", "--out", tmp["plan.json"]);
        Assert.Equal(2, code);
        Assert.Contains("--plan-only", err);
        Assert.False(File.Exists(tmp["plan.json"]));
    }

    private static double Cos(float[] x, float[] y)
    {
        double dot = 0, nx = 0, ny = 0;
        for (int i = 0; i < x.Length; i++) { dot += x[i] * (double)y[i]; nx += x[i] * (double)x[i]; ny += y[i] * (double)y[i]; }
        return dot / Math.Sqrt(nx * ny);
    }
}
