using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Study;
using LlmPruneFast.Tests.Cli;
using LlmPruneFast.Tests.Encoders;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Study;

/// <summary>
/// `llmprune study` across families, run as a process: stories260K as a LLaMA checkpoint and as a decoder ONNX graph,
/// and all-MiniLM-L6-v2 (a sentence encoder); each row is what `prune` reports for the same flags on that model.
/// </summary>
public sealed class CrossFamilyStudyTests
{
    private static JsonElement LastJsonLine(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

    [SharedFact]
    public void Study_LlamaGraphAndEncoder_RowsMatchPrune_FamiliesKeptApart_ScopeSaidPlainly()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["stories260K"]);
        OnnxModelFile.Save(LlamaOnnxBuilder.Build(Stories260K.Config, Stories260K.Tensors), folder["graph/model.onnx"]);
        File.Copy(SharedData.Stories260KTokenizer, folder["graph/tokenizer.model"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(20_000));
        File.WriteAllText(folder["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(5)));
        File.WriteAllLines(folder["pairs.csv"], EncoderPruneCliTests.PairLines);
        string[] common = ["--calib", folder["calib.txt"], "--samples", "512"];

        var (code, stdout, stderr) = CliRunner.Run([
            "study", "--models", $"{folder["stories260K"]},{folder["graph"]},{MiniLm.Folder}", "--methods", "flap,magnitude", "--ratios", "0.2",
            .. common, "--eval", folder["eval.txt"], "--sts", folder["pairs.csv"], "--out", folder["study"], "--json", "--quiet"]);
        Assert.True(code == 0, stderr);
        Assert.Contains("ONNX sentence encoder (encoder)", stdout);
        Assert.False(LastJsonLine(stdout).GetProperty("claim_testable").GetBoolean());

        using var study = JsonDocument.Parse(File.ReadAllText(folder["study/study.json"]));
        var root = study.RootElement;
        var models = root.GetProperty("models").EnumerateArray().ToArray();
        Assert.Equal(["decoder", "decoder", "encoder"], models.Select(m => m.GetProperty("family").GetString()));
        Assert.Equal([StudyFormat.Checkpoint, StudyFormat.OnnxDecoder, StudyFormat.OnnxEncoder], models.Select(m => m.GetProperty("format").GetString()));
        Assert.Equal(22_713_216, models[2].GetProperty("params").GetInt64());
        Assert.Equal("1536", models[2].GetProperty("ffn_width").GetString());
        Assert.False(models[2].TryGetProperty("dense_perplexity", out _));
        // The same stories260K through the native and the graph path: the same dense perplexity up to float32 order.
        Assert.Equal(models[0].GetProperty("dense_perplexity").GetDouble(), models[1].GetProperty("dense_perplexity").GetDouble(), 1e-4);

        var rows = root.GetProperty("rows").EnumerateArray().ToArray();
        Assert.Equal(6, rows.Length);
        JsonElement Row(int model, string method) =>
            rows.Single(r => r.GetProperty("model").GetString() == models[model].GetProperty("name").GetString() && r.GetProperty("method").GetString() == method);
        foreach (var r in rows) // each row holds its own family's keys only: never a perplexity beside a cosine
        {
            bool enc = r.GetProperty("family").GetString() == "encoder";
            Assert.Equal(enc, r.TryGetProperty("fidelity", out _));
            Assert.Equal(!enc, r.TryGetProperty("ppl_after", out _));
        }

        // MiniLM's flap row is what `prune` reports on MiniLM for the same flags.
        var prune = CliRunner.Run(["prune", "--model", MiniLm.Folder, .. common, "--method", "flap", "--ratio", "0.2", "--compensate", "none",
            "--eval", folder["eval.txt"], "--sts", folder["pairs.csv"], "--out", folder["minilm-flap"], "--json", "--quiet"]);
        Assert.True(prune.Code == 0, prune.Err);
        var p = LastJsonLine(prune.Out);
        var row = Row(2, "flap");
        Assert.Equal(p.GetProperty("fidelity").GetDouble(), row.GetProperty("fidelity").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("fidelity_min").GetDouble(), row.GetProperty("fidelity_min").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("sts_before").GetDouble(), row.GetProperty("sts_before").GetDouble(), 1e-9);
        Assert.Equal(p.GetProperty("sts_after").GetDouble(), row.GetProperty("sts_after").GetDouble(), 1e-9);
        Assert.Equal(p.GetProperty("params_before").GetInt64(), row.GetProperty("params_before").GetInt64());
        Assert.Equal(p.GetProperty("params_after").GetInt64(), row.GetProperty("params_after").GetInt64());
        Assert.Equal(p.GetProperty("fidelity_sentences").GetInt32(), row.GetProperty("sentences").GetInt32());
        Assert.Equal(1 - row.GetProperty("fidelity").GetDouble(), row.GetProperty("cosine_distance").GetDouble(), 15);
        Assert.InRange(row.GetProperty("fidelity").GetDouble(), 0.3, 0.99999); // pruned, so changed

        // The decoder graph's flap row is what `prune` reports on the graph.
        prune = CliRunner.Run(["prune", "--model", folder["graph"], .. common, "--method", "flap", "--ratio", "0.2", "--compensate", "none",
            "--eval", folder["eval.txt"], "--out", folder["graph-flap"], "--json", "--quiet"]);
        Assert.True(prune.Code == 0, prune.Err);
        p = LastJsonLine(prune.Out);
        row = Row(1, "flap");
        Assert.Equal(p.GetProperty("perplexity_before").GetDouble(), row.GetProperty("ppl_before").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("perplexity_after").GetDouble(), row.GetProperty("ppl_after").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("kl").GetDouble(), row.GetProperty("kl").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("params_after").GetInt64(), row.GetProperty("params_after").GetInt64());

        // Sensitivity in each family's own measure and keys.
        var sens = root.GetProperty("sensitivity").EnumerateArray().ToArray();
        Assert.Equal(3, sens.Length);
        var encSens = sens.Single(s => s.GetProperty("family").GetString() == "encoder");
        Assert.False(encSens.TryGetProperty("std_delta_nll", out _));
        double[] d = [1 - Row(2, "flap").GetProperty("fidelity").GetDouble(), 1 - Row(2, "magnitude").GetProperty("fidelity").GetDouble()];
        Assert.Equal(Sensitivity.SampleStd(d), encSens.GetProperty("std_cosine_distance").GetDouble(), 12);
        Assert.All(sens.Where(s => s.GetProperty("family").GetString() == "decoder"), s => Assert.False(s.TryGetProperty("std_cosine_distance", out _)));

        // csv: the other family's columns are empty; md, html and json say what the sizes can and cannot show.
        var csv = File.ReadAllLines(folder["study/results.csv"]);
        var header = csv[0].Split(',').ToList();
        var encLine = csv.Skip(1).Select(l => l.Split(',')).First(f => f[header.IndexOf("family")] == "encoder");
        var decLine = csv.Skip(1).Select(l => l.Split(',')).First(f => f[header.IndexOf("family")] == "decoder");
        Assert.Equal("", encLine[header.IndexOf("ppl_after")]);
        Assert.Equal("", decLine[header.IndexOf("fidelity")]);
        Assert.NotEqual("", encLine[header.IndexOf("sts_after")]);
        string md = File.ReadAllText(folder["study/results.md"]);
        string html = File.ReadAllText(folder["study/study.html"]);
        foreach (var text in new[] { md, html })
        {
            Assert.Contains(StudyScope.Heading, text);
            Assert.Contains("Across families the comparison is confounded", text);
            Assert.Contains("cannot confirm or refute the claim", text);
        }
        Assert.Contains("## Sensitivity of decoders", md);
        Assert.Contains("## Sensitivity of encoders", md);
        Assert.Contains("## Encoder fidelity at 20% FFN sparsity, compensation none", md);
        Assert.Contains(root.GetProperty("scope").EnumerateArray(), s => s.GetString()!.Contains("confounded"));
    }

    [Fact]
    public void Study_FolderOfNeitherFamily_StsWithOnlyDecoders_MalformedSts_AreRefusedBeforeAnyWork()
    {
        using var folder = new TempFolder();
        TinyLlama.WriteFolder(folder["tiny"]);
        Directory.CreateDirectory(folder["notes"]);
        File.WriteAllText(folder["notes/readme.txt"], "not a model");
        File.WriteAllText(folder["calib.txt"], "one two three\n\nfour five six\n");
        File.WriteAllText(folder["eval.txt"], "seven eight\n\nnine ten\n");
        File.WriteAllLines(folder["pairs.csv"], EncoderPruneCliTests.PairLines);
        File.WriteAllText(folder["bad.tsv"], "this is not\tan sts file\n");
        (int Code, string Err) Study(string models, params string[] extra)
        {
            var (code, stdout, err) = CliRunner.Run(["study", "--models", models, "--methods", "flap", "--ratios", "0.5", "--calib", folder["calib.txt"],
                "--eval", folder["eval.txt"], "--out", folder["out"], .. extra]);
            Assert.DoesNotContain("runs", stdout);
            Assert.False(Directory.Exists(folder["out"]));
            Assert.StartsWith("error: ", err.Trim());
            Assert.Single(err.Trim().Split('\n'));
            return (code, err);
        }

        var (code, err) = Study(folder["notes"]);
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Contains("neither a LLaMA checkpoint", err);
        Assert.Contains(folder["notes"], err);

        (code, err) = Study(folder["tiny"], "--sts", folder["pairs.csv"]);
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.Contains("--sts applies to encoder models", err);
        Assert.Contains("'tiny'", err);

        (code, err) = Study($"{folder["tiny"]},{MiniLm.Folder}", "--sts", folder["bad.tsv"]);
        Assert.Equal(ExitCodes.BadData, code);
        Assert.Contains("bad.tsv", err);
        Assert.Equal(["bad.tsv", "calib.txt", "eval.txt", "notes", "pairs.csv", "tiny"],
            Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
