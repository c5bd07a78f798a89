using LlmPruneFast.Cli.Commands;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>
/// Every data-loss case of issue 9: the command is refused before any work with one <c>error:</c> line and exit 6,
/// and the user's file or folder is byte-for-byte what it was.
/// </summary>
public sealed class DataLossTests
{
    private static void AssertRefused((int Code, string Out, string Err) r, int code = 6)
    {
        Assert.True(r.Code == code, $"rc {r.Code}: {r.Err}");
        Assert.StartsWith("error: ", r.Err);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>A model folder (placeholder tokenizer: these refusals happen before it is read), calibration text, eval text.</summary>
    private static TempFolder Setup()
    {
        var dir = new TempFolder();
        TinyLlama.WriteFolder(dir["model"]);
        File.WriteAllText(dir["calib.txt"], "One day a cat sat.\n\nThe dog ran home.\n");
        File.WriteAllText(dir["eval.txt"], "A bird sang.\n");
        return dir;
    }

    private static (int, string, string) Prune(TempFolder dir, params string[] extra) =>
        CliRunner.Run(["prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--ratio", "0.3", .. extra]);

    [Theory]
    [InlineData("model/tokenizer.model")]   // --report over the model's tokenizer
    [InlineData("calib.txt")]               // --report over the calibration text
    [InlineData("model/x.html")]            // --report into the model folder
    [InlineData("mine.html")]               // --report over a page the user wrote
    public void PruneReportNeverOverwritesUserFiles(string report)
    {
        using var dir = Setup();
        File.WriteAllText(dir["mine.html"], "<html>my own notes</html>");
        var model = FileSnapshot.Of(dir["model"]);
        var calib = FileSnapshot.Of(dir["calib.txt"]);
        var mine = FileSnapshot.Of(dir["mine.html"]);
        AssertRefused(Prune(dir, "--out", dir["pruned"], "--report", dir[report]));
        FileSnapshot.AssertUnchanged(model, dir["model"]);
        FileSnapshot.AssertUnchanged(calib, dir["calib.txt"]);
        FileSnapshot.AssertUnchanged(mine, dir["mine.html"]);
        Assert.False(Directory.Exists(dir["pruned"]));
    }

    [Theory]
    [InlineData("model/plan.json")]
    [InlineData("model/plans")]
    [InlineData("calib.txt.json")]
    public void PlanOnlyNeverWritesIntoTheModelFolder(string target)
    {
        using var dir = Setup();
        File.WriteAllText(dir["calib.txt.json"], "{\"mine\": true}");
        var model = FileSnapshot.Of(dir["model"]);
        var mine = FileSnapshot.Of(dir["calib.txt.json"]);
        AssertRefused(Prune(dir, "--plan-only", "--out", dir[target]));
        FileSnapshot.AssertUnchanged(model, dir["model"]);
        FileSnapshot.AssertUnchanged(mine, dir["calib.txt.json"]);
    }

    [Fact]
    public void PruneThroughASymlinkedModelFolderStillSeesTheInput()
    {
        using var dir = Setup();
        Directory.CreateSymbolicLink(dir["link"], dir["model"]);
        var model = FileSnapshot.Of(dir["model"]);
        AssertRefused(Prune(dir, "--out", dir["pruned"], "--report", dir["link/tokenizer.html"]));
        AssertRefused(CliRunner.Run("prune", "--model", dir["link"], "--calib", dir["calib.txt"], "--ratio", "0.3", "--out", dir["model/inner"]));
        FileSnapshot.AssertUnchanged(model, dir["model"]);
    }

    [Fact]
    public void BadEvalTextFailsBeforeAnythingIsWritten()
    {
        using var dir = Setup();
        File.WriteAllText(dir["empty.txt"], "\n\n  \n");
        AssertRefused(Prune(dir, "--out", dir["pruned"], "--eval", dir["empty.txt"]), code: 8);
        Assert.False(Directory.Exists(dir["pruned"]));
        AssertRefused(Prune(dir, "--out", dir["pruned"], "--report", dir["nofolder/r.html"]), code: 5);
        Assert.False(Directory.Exists(dir["pruned"]));
    }

    [Fact]
    public void MiOutNeverOverwritesItsInput()
    {
        using var dir = new TempFolder();
        var values = new float[64 * 4];
        for (int i = 0; i < values.Length; i++) values[i] = MathF.Sin(i * 0.37f);
        File.WriteAllBytes(dir["z.f32"], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        File.WriteAllText(dir["notes.bin"], "not a matrix");
        var input = FileSnapshot.Of(dir["z.f32"]);
        var notes = FileSnapshot.Of(dir["notes.bin"]);
        AssertRefused(CliRunner.Run("mi", "--input", dir["z.f32"], "--cols", "4", "--all-pairs", "--estimator", "plugin", "--out", dir["z.f32"]));
        AssertRefused(CliRunner.Run("mi", "--input", dir["z.f32"], "--cols", "4", "--all-pairs", "--estimator", "plugin", "--out", dir["notes.bin"]));
        FileSnapshot.AssertUnchanged(input, dir["z.f32"]);
        FileSnapshot.AssertUnchanged(notes, dir["notes.bin"]);
        // What mi itself wrote may be replaced, and --force replaces anything that is not an input.
        Assert.Equal(0, CliRunner.Run("mi", "--input", dir["z.f32"], "--cols", "4", "--all-pairs", "--estimator", "plugin", "--out", dir["m.npy"]).Code);
        Assert.Equal(0, CliRunner.Run("mi", "--input", dir["z.f32"], "--cols", "4", "--all-pairs", "--estimator", "plugin", "--out", dir["m.npy"]).Code);
        Assert.Equal(0, CliRunner.Run("mi", "--input", dir["z.f32"], "--cols", "4", "--all-pairs", "--estimator", "plugin", "--out", dir["notes.bin"], "--force").Code);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void DemoRefusesAFolderItDidNotMake()
    {
        using var dir = Setup();
        // A pruned folder (its model.onnx was overwritten before) and a folder of the user's own.
        Directory.CreateDirectory(dir["work/pruned"]);
        File.WriteAllText(dir["work/pruned/model.onnx"], "the user's graph");
        File.WriteAllText(dir["work/keep.txt"], "mine");
        var work = FileSnapshot.Of(dir["work"]);
        AssertRefused(CliRunner.Run("demo", "--model", dir["model"], "--text", dir["eval.txt"], "--work", dir["work"]));
        AssertRefused(CliRunner.Run("demo", "--model", dir["model"], "--text", dir["eval.txt"], "--work", dir["work/pruned"]));
        AssertRefused(CliRunner.Run("demo", "--model", dir["model"], "--text", dir["eval.txt"], "--work", dir["model"]));
        FileSnapshot.AssertUnchanged(work, dir["work"]);

        // The demo's own folder (marker) is reused; so is one of an earlier demo run (dense.json, model.onnx, pruned/).
        Assert.Equal(dir["new"], DemoCommand.PrepareWork(dir["new"], [dir["model"]], force: false));
        Assert.True(File.Exists(dir["new/" + DemoCommand.MarkerFileName]));
        File.WriteAllText(dir["new/model.onnx"], "x");
        DemoCommand.PrepareWork(dir["new"], [dir["model"]], force: false);
        Directory.CreateDirectory(dir["old/pruned"]);
        File.WriteAllText(dir["old/dense.json"], "{\"greedy_ids\": [1]}");
        DemoCommand.PrepareWork(dir["old"], [dir["model"]], force: false);
        Assert.Throws<OutputConflictException>(() => DemoCommand.PrepareWork(dir["work"], [dir["model"]], force: false));
        DemoCommand.PrepareWork(dir["work"], [dir["model"]], force: true);
    }

    [SharedFact]
    public void ReportOutNeverWritesIntoTheModelFolder()
    {
        using var dir = new TempFolder();
        Stories260K.WriteFolder(dir["model"]);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));
        var r = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--method", "magnitude", "--ratio", "0.2",
            "--samples", "256", "--plan-only", "--out", dir["plan.json"]);
        Assert.True(r.Code == 0, r.Err);
        var model = FileSnapshot.Of(dir["model"]);
        var plan = FileSnapshot.Of(dir["plan.json"]);
        AssertRefused(CliRunner.Run("report", "--plan", dir["plan.json"], "--out", dir["model/x.html"]));
        AssertRefused(CliRunner.Run("report", "--plan", dir["plan.json"], "--out", dir["plan.html"])); // plan.json is the input
        FileSnapshot.AssertUnchanged(model, dir["model"]);
        FileSnapshot.AssertUnchanged(plan, dir["plan.json"]);
    }
}
