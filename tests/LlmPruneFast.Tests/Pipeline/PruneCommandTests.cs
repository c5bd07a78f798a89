using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>`llmprune prune` and `llmprune apply` as processes, on the real stories260K.</summary>
public sealed class PruneCommandTests
{
    /// <summary>stories260K, 30,000 characters of calibration and 12 evaluation paragraphs (also <see cref="MeasurementPinTests"/>' files).</summary>
    internal static (TempFolder Folder, string Model, string Calib, string Eval) Setup()
    {
        var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        File.WriteAllText(folder["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(12)));
        return (folder, folder["model"], folder["calib.txt"], folder["eval.txt"]);
    }

    [SharedFact]
    public void Prune_WritesAModelThatReloads_JsonLastLine_ApplyReproducesItByteForByte()
    {
        var (folder, model, calib, eval) = Setup();
        using var _ = folder;
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "mi-weighted", "--ratio", "0.25",
            "--compensate", "refit", "--samples", "512", "--out", folder["pruned"], "--eval", eval, "--eval-paragraphs", "8", "--json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;
        Assert.Equal("mi-weighted", json.GetProperty("method").GetString());
        Assert.Equal(0.25, json.GetProperty("ratio").GetDouble());
        long before = json.GetProperty("params_before").GetInt64(), after = json.GetProperty("params_after").GetInt64();
        Assert.Equal(260_032, before);
        // 43 of 172 neurons gone per layer: 3 x 64 weights each, plus mlp biases (43 + 129 gate/up + 64 down... per layer)
        Assert.Equal(before - 5 * 43 * 3 * 64 + 5 * (129 + 129 + 64), after);
        Assert.True(json.GetProperty("perplexity_after").GetDouble() > json.GetProperty("perplexity_before").GetDouble());
        Assert.True(json.GetProperty("kl").GetDouble() > 0);
        Assert.InRange(json.GetProperty("top1_agreement").GetDouble(), 0.3, 1.0);
        Assert.True(json.GetProperty("seconds").GetProperty("capture").GetDouble() > 0);
        Assert.Contains("FFN width, layer 4", stdout);

        using (var reloaded = LlamaCheckpoint.Open(folder["pruned"]))
            Assert.Equal(129, reloaded.Config.IntermediateSize);
        var evalRun = CliRunner.Run("eval", "--model", folder["pruned"], "--text", eval, "--paragraphs", "8", "--json");
        Assert.True(evalRun.Code == 0, evalRun.Err);
        double ppl = JsonDocument.Parse(evalRun.Out.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("perplexity").GetDouble();
        Assert.Equal(json.GetProperty("perplexity_after").GetDouble(), ppl, 1e-9);

        var apply = CliRunner.Run("apply", "--plan", Path.Combine(folder["pruned"], "pruning-plan.json"), "--model", model, "--out", folder["applied"]);
        Assert.True(apply.Code == 0, apply.Err);
        var names = Directory.GetFiles(folder["pruned"]).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(names, Directory.GetFiles(folder["applied"]).Select(Path.GetFileName).Order().ToArray());
        foreach (var n in names)
            Assert.True(File.ReadAllBytes(Path.Combine(folder["pruned"], n!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder["applied"], n!))), $"{n} differs");
    }

    [SharedFact]
    public void PlanOnly_WritesJustThePlan_ToAJsonPathOrAFolder()
    {
        var (folder, model, calib, _) = Setup();
        using var _ = folder;
        var r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "flap", "--ratio", "0.1", "--samples", "256", "--plan-only", "--out", folder["p.json"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(folder["p.json"]));
        r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "flap", "--ratio", "0.1", "--samples", "256", "--plan-only", "--out", folder["plan"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(["pruning-plan.json"], Directory.GetFiles(folder["plan"]).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(folder["p.json"]), File.ReadAllBytes(folder["plan/pruning-plan.json"]));
    }

    [SharedTheory]
    [InlineData(2, "--ratio", "1.5")]
    [InlineData(2, "--ratio", "0")]
    [InlineData(2, "--ratio", "0.998")]
    [InlineData(2, "--method", "nope")]
    [InlineData(2, "--estimator", "nope")]
    [InlineData(2, "--compensate", "nope")]
    [InlineData(2, "--samples", "100000")]
    [InlineData(7, "--memory-mb", "1")]
    public void BadPruneInput_ClearErrorDistinctExitCode_NothingWritten(int expected, string flag, string value)
    {
        var (folder, model, calib, _) = Setup();
        using var _ = folder;
        var args = new List<string> { "prune", "--model", model, "--calib", calib, "--out", folder["out"], "--samples", "512", "--ratio", "0.2" };
        int i = args.IndexOf(flag);
        if (i >= 0) args[i + 1] = value; else args.AddRange([flag, value]);
        var (code, _, err) = CliRunner.Run([.. args]);
        Assert.Equal(expected, code);
        Assert.StartsWith("error: ", err.Trim());
        Assert.False(Directory.Exists(folder["out"]));
        Assert.Equal(["calib.txt", "eval.txt", "model"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order());
    }

    [SharedFact]
    public void OutputConflicts_AndPlansForAnotherModel_AreRefused()
    {
        var (folder, model, calib, _) = Setup();
        using var _ = folder;
        Directory.CreateDirectory(folder["busy"]);
        File.WriteAllText(folder["busy/x"], "x");
        var r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.2", "--samples", "256", "--out", folder["busy"]);
        Assert.Equal(6, r.Code);
        r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.2", "--samples", "256", "--out", model);
        Assert.Equal(6, r.Code);
        r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.2", "--samples", "256", "--out", Path.Combine(model, "inside"));
        Assert.Equal(6, r.Code);

        r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--method", "magnitude", "--ratio", "0.2", "--samples", "256", "--plan-only", "--out", folder["plan.json"]);
        Assert.True(r.Code == 0, r.Err);
        TinyLlama.WriteFolder(folder["other"], TinyLlama.Config(), SharedData.Stories260KTokenizer);
        r = CliRunner.Run("apply", "--plan", folder["plan.json"], "--model", folder["other"], "--out", folder["applied"]);
        Assert.Equal(2, r.Code);
        Assert.Contains("another model", r.Err);
        Assert.False(Directory.Exists(folder["applied"]));
    }
}
