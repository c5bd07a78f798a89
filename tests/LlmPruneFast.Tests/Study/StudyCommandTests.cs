using System.Globalization;
using System.Text.Json;
using LlmPruneFast.Study;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Study;

/// <summary>`llmprune widen` and `llmprune study` as processes, on the real stories260K.</summary>
public sealed class StudyCommandTests
{
    private static (TempFolder Folder, string Model, string Calib, string Eval) Setup()
    {
        var folder = new TempFolder();
        Stories260K.WriteFolder(folder["stories260K"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        File.WriteAllText(folder["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(8)));
        return (folder, folder["stories260K"], folder["calib.txt"], folder["eval.txt"]);
    }

    private static JsonElement LastJsonLine(string stdout) => JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

    [SharedFact]
    public void Study_TwoModelsTwoMethods_WritesEveryFile_RowsMatchThePruneVerb()
    {
        var (folder, model, calib, eval) = Setup();
        using var _ = folder;
        var widen = CliRunner.Run("widen", "--model", model, "--copies", "43", "--scale", "2", "--seed", "3", "--out", folder["wide"]);
        Assert.True(widen.Code == 0, widen.Err);
        Assert.Equal(Provenance.Constructed, StudyModelFile.Read(folder["wide"]).Provenance);

        var (code, stdout, stderr) = CliRunner.Run("study", "--models", $"{model},{folder["wide"]}", "--provenance", "pretrained,constructed",
            "--methods", "flap,magnitude", "--ratios", "0.2", "--calib", calib, "--eval", eval, "--eval-paragraphs", "6",
            "--samples", "512", "--out", folder["study"], "--json");
        Assert.True(code == 0, stderr);
        Assert.Equal(StudyWriter.FileNames, Directory.GetFiles(folder["study"]).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var csv = File.ReadAllLines(folder["study/results.csv"]);
        Assert.Equal(1 + 2 * 2 * 1, csv.Length);
        Assert.Equal(2, LastJsonLine(stdout).GetProperty("sensitivity").GetArrayLength());
        Assert.Contains("sensitivity: spread over criteria", stdout);

        using var study = JsonDocument.Parse(File.ReadAllText(folder["study/study.json"]));
        var rows = study.RootElement.GetProperty("rows").EnumerateArray().ToArray();
        var models = study.RootElement.GetProperty("models").EnumerateArray().ToArray();
        Assert.Equal("windows", study.RootElement.GetProperty("request").GetProperty("calibration_layout").GetString()); // as prune's default
        Assert.Equal(["pretrained", "constructed"], models.Select(m => m.GetProperty("provenance").GetString()));
        Assert.Equal(260_032, models[0].GetProperty("params").GetInt64());
        Assert.Equal("215", models[1].GetProperty("ffn_width").GetString());
        // Planted copies leave the function unchanged: same dense perplexity up to float32 summation order.
        Assert.Equal(models[0].GetProperty("dense_perplexity").GetDouble(), models[1].GetProperty("dense_perplexity").GetDouble(), 1e-4);

        // The study's flap row on stories260K is what `prune` reports for the same flags.
        var prune = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "flap", "--ratio", "0.2", "--compensate", "none",
            "--samples", "512", "--eval", eval, "--eval-paragraphs", "6", "--plan-only", "--out", folder["flap.json"], "--json");
        Assert.True(prune.Code == 0, prune.Err);
        var p = LastJsonLine(prune.Out);
        var row = rows.Single(r => r.GetProperty("model").GetString() == "stories260K" && r.GetProperty("method").GetString() == "flap");
        Assert.Equal(p.GetProperty("perplexity_before").GetDouble(), row.GetProperty("ppl_before").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("perplexity_after").GetDouble(), row.GetProperty("ppl_after").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("kl").GetDouble(), row.GetProperty("kl").GetDouble(), 1e-12);
        Assert.Equal(p.GetProperty("params_after").GetInt64(), row.GetProperty("params_after").GetInt64());
        Assert.Equal(Math.Log(row.GetProperty("ppl_after").GetDouble() / row.GetProperty("ppl_before").GetDouble()), row.GetProperty("delta_nll").GetDouble(), 12);
        Assert.Equal("none", row.GetProperty("compensation").GetString());
    }

    [SharedTheory]
    [InlineData(2, "--methods", "flap,nope")]
    [InlineData(2, "--ratios", "0.2,1.5")]
    [InlineData(2, "--ratios", "0")]
    [InlineData(2, "--ratios", "0.2,0.001")] // removes no neuron of stories260K's 172: refused, as prune does
    [InlineData(2, "--compensate", "sometimes")]
    [InlineData(2, "--provenance", "constructed")]
    [InlineData(5, "--models", "MISSING")]
    [InlineData(6, "--out", "BUSY")]
    public void BadStudyInput_ClearErrorAndExitCode_NothingWritten(int expected, string flag, string value)
    {
        var (folder, model, calib, eval) = Setup();
        using var _ = folder;
        Directory.CreateDirectory(folder["busy"]);
        File.WriteAllText(folder["busy/x"], "x");
        // A study-model.json saying pretrained: --provenance constructed contradicts it.
        new StudyModelFile(null, Provenance.Pretrained, null).Write(model);
        value = value.Replace("MISSING", folder["nope"]).Replace("BUSY", folder["busy"]);
        var args = new List<string> { "study", "--models", model, "--methods", "flap", "--ratios", "0.2", "--calib", calib, "--eval", eval,
            "--eval-paragraphs", "2", "--samples", "256", "--out", folder["out"] };
        int i = args.IndexOf(flag);
        if (i >= 0) args[i + 1] = value; else args.AddRange([flag, value]);
        var (code, stdout, err) = CliRunner.Run([.. args]);
        Assert.Equal(expected, code);
        Assert.StartsWith("error: ", err.Trim());
        Assert.DoesNotContain("runs", stdout);
        Assert.False(Directory.Exists(folder["out"]));
        Assert.Equal(["x"], Directory.GetFiles(folder["busy"]).Select(Path.GetFileName));
        Assert.Equal(["busy", "calib.txt", "eval.txt", "stories260K"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }
}
