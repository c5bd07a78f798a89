using System.Text.Json;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>`prune --calib-seqs N --calib-len L` end to end: the plan records N, L and the layout, and apply recaptures the same rows.</summary>
public sealed class CalibSeqsCommandTests
{
    [SharedFact]
    public void Prune_WithSequences_RecordsThem_AndApplyReproducesTheModelByteForByte()
    {
        using var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        var r = CliRunner.Run("prune", "--model", folder["model"], "--calib", folder["calib.txt"], "--method", "magnitude", "--compensate", "refit",
            "--ratio", "0.2", "--samples", "300", "--calib-seqs", "10", "--calib-len", "64", "--out", folder["pruned"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("of 10 windows (at most 64 tokens)", r.Out);
        var plan = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder["pruned"], "pruning-plan.json"))).RootElement.GetProperty("calibration");
        Assert.Equal(10, plan.GetProperty("sequences").GetInt32());
        Assert.Equal(64, plan.GetProperty("sequence_length").GetInt32());
        Assert.Equal("windows", plan.GetProperty("layout").GetString());
        var apply = CliRunner.Run("apply", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--model", folder["model"], "--out", folder["applied"]);
        Assert.True(apply.Code == 0, apply.Err);
        Assert.Equal(File.ReadAllBytes(Path.Combine(folder["pruned"], "model.safetensors")), File.ReadAllBytes(Path.Combine(folder["applied"], "model.safetensors")));

        var paragraphs = CliRunner.Run("prune", "--model", folder["model"], "--calib", folder["calib.txt"], "--method", "magnitude", "--ratio", "0.2",
            "--samples", "300", "--calib-paragraphs", "--plan-only", "--out", folder["plan.json"]);
        Assert.True(paragraphs.Code == 0, paragraphs.Err);
        Assert.Matches(@"of \d+ paragraphs of", paragraphs.Out);
        var paragraphsPlan = JsonDocument.Parse(File.ReadAllText(folder["plan.json"])).RootElement.GetProperty("calibration");
        Assert.False(paragraphsPlan.TryGetProperty("layout", out _));
        Assert.False(paragraphsPlan.TryGetProperty("sequences", out _));

        var bad = CliRunner.Run("prune", "--model", folder["model"], "--calib", folder["calib.txt"], "--ratio", "0.2", "--samples", "300",
            "--calib-seqs", "2", "--calib-len", "16", "--out", folder["bad"]);
        Assert.Equal(2, bad.Code);
        Assert.StartsWith("error:", bad.Err.Trim());
        Assert.Contains("--calib-seqs", bad.Err);
        Assert.False(Directory.Exists(folder["bad"]));
    }
}
