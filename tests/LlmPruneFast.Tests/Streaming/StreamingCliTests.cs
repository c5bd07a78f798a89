using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>`prune` on the layer-streaming path as a process: the memory plan, its refusal, and --sequential.</summary>
public sealed class StreamingCliTests
{
    private static (TempFolder Folder, string Model, string Calib) Setup()
    {
        var folder = new TempFolder();
        Stories260K.WriteFolder(folder["model"]);
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        return (folder, folder["model"], folder["calib.txt"]);
    }

    [SharedFact]
    public void OverTheMemoryBudget_Exit7_AfterThePlan_BeforeAnyOutput()
    {
        var (folder, model, calib) = Setup();
        using var _ = folder;
        var (code, stdout, stderr) = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.3", "--samples", "512",
            "--memory-mb", "64", "--out", folder["out"]);
        Assert.Equal(7, code);
        Assert.StartsWith("error: ", stderr.Trim());
        Assert.Contains("--memory-mb 64", stderr);
        Assert.Contains("lower --samples", stderr);
        Assert.Contains("--calib-seqs", stderr);
        Assert.Contains("peak memory about", stdout);   // the plan was printed first
        Assert.DoesNotContain("seconds", stdout);       // and nothing ran
        Assert.False(Directory.Exists(folder["out"]));
        Assert.Equal(["calib.txt", "model"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName).Order());
    }

    [SharedFact]
    public void Sequential_IsRecordedInThePlan_DiffersAfterLayer0_AndApplyReproducesIt()
    {
        var (folder, model, calib) = Setup();
        using var _ = folder;
        string[] common = ["prune", "--model", model, "--calib", calib, "--method", "wanda-sp", "--compensate", "bias", "--ratio", "0.3", "--samples", "512", "--json"];
        var dense = CliRunner.Run([.. common, "--out", folder["dense"]]);
        Assert.True(dense.Code == 0, dense.Err);
        var sequential = CliRunner.Run([.. common, "--sequential", "--out", folder["sequential"]]);
        Assert.True(sequential.Code == 0, sequential.Err);
        Assert.Equal("sequential", JsonDocument.Parse(sequential.Out.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("capture").GetString());
        Assert.Equal("dense", JsonDocument.Parse(dense.Out.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("capture").GetString());

        var a = PlanJson.Load(folder["dense/pruning-plan.json"]);
        var b = PlanJson.Load(folder["sequential/pruning-plan.json"]);
        Assert.Equal(CaptureMode.Dense, a.Calibration!.Capture);
        Assert.Equal(CaptureMode.Sequential, b.Calibration!.Capture);
        // Layer 0 sees the embeddings either way; later layers see the pruned layers' outputs, so some choices move.
        Assert.Equal(a.Layers[0].Kept, b.Layers[0].Kept);
        Assert.Contains(Enumerable.Range(1, a.Layers.Count - 1), l => !a.Layers[l].Kept.SequenceEqual(b.Layers[l].Kept));
        Assert.All(b.Layers, l => Assert.Equal(a.Layers[l.Index].Kept.Count, l.Kept.Count));

        var apply = CliRunner.Run("apply", "--plan", folder["sequential/pruning-plan.json"], "--model", model, "--out", folder["applied"]);
        Assert.True(apply.Code == 0, apply.Err);
        foreach (var f in Directory.GetFiles(folder["sequential"]))
            Assert.True(File.ReadAllBytes(f).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder["applied"], Path.GetFileName(f)))), $"{Path.GetFileName(f)} differs");
    }

    [SharedFact]
    public void Sequential_WithAGlobalBudget_IsRefused_Exit2()
    {
        var (folder, model, calib) = Setup();
        using var _ = folder;
        var r = CliRunner.Run("prune", "--model", model, "--calib", calib, "--ratio", "0.3", "--samples", "512", "--sequential", "--budget", "global", "--out", folder["out"]);
        Assert.Equal(2, r.Code);
        Assert.Contains("--sequential", r.Err);
        Assert.False(Directory.Exists(folder["out"]));
    }

    [Fact]
    public void Help_DocumentsSequentialAndTheMemoryBudget()
    {
        var r = CliRunner.Run("prune", "--help");
        string help = string.Join(' ', (r.Out + r.Err).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)); // wrapping varies with the option column
        Assert.Contains("--sequential", help);
        Assert.Contains("80% of physical", help);
        Assert.Contains("SparseGPT", help);
    }
}
