using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Cli;

/// <summary>
/// A llama2.c .bin as <c>--model</c> of prune, eval, generate, demo and study: read as import reads it, so it prunes and scores exactly as the
/// imported Hugging Face folder does, and the pruned model is written as a Hugging Face folder. Bad input fails
/// before anything is written.
/// </summary>
public sealed class Llama2cModelCliTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private string[] Snapshot() => Directory.GetFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories)
        .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length}" : p).Order(StringComparer.Ordinal).ToArray();

    private string[] Prune(string model, string outDir, params string[] extra) =>
        ["prune", "--model", model, "--calib", _dir["calib.txt"], "--samples", "256", "--method", "flap", "--ratio", "0.3", "--quiet", "--out", outDir, .. extra];

    [SharedFact]
    public void PruneFromBin_MakesTheImportedFolderPlan_AndWritesAHfFolder()
    {
        File.WriteAllText(_dir["calib.txt"], Stories260K.Calibration(20_000));
        Directory.CreateDirectory(_dir["bin"]);
        File.Copy(SharedData.Stories260KBin, _dir["bin/stories260K.bin"]);
        File.Copy(SharedData.Stories260KTokenizer, _dir["bin/tokenizer.model"]); // found beside the .bin
        Stories260K.WriteFolder(_dir["hf"]);

        var fromBin = CliRunner.Run(Prune(_dir["bin/stories260K.bin"], _dir["out-bin"]));
        Assert.True(fromBin.Code == 0, fromBin.Err);
        var fromFolder = CliRunner.Run(Prune(_dir["hf"], _dir["out-hf"]));
        Assert.True(fromFolder.Code == 0, fromFolder.Err);

        var a = PlanJson.Load(Path.Combine(_dir["out-bin"], PlanJson.FileName));
        var b = PlanJson.Load(Path.Combine(_dir["out-hf"], PlanJson.FileName));
        Assert.Equal(b.Model.FfnSha256, a.Model.FfnSha256);
        Assert.Equal(b.Layers.Select(l => l.Kept.ToArray()), a.Layers.Select(l => l.Kept.ToArray()));
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir["out-hf"], "model.safetensors")), File.ReadAllBytes(Path.Combine(_dir["out-bin"], "model.safetensors")));
        using var written = LlamaCheckpoint.Open(_dir["out-bin"]); // a Hugging Face folder
        Assert.Equal(b.Layers.Select(l => l.Kept.Count), Enumerable.Range(0, written.Config.NumHiddenLayers).Select(written.Config.FfnWidth));
    }

    [SharedFact]
    public void EvalFromBinWithTokenizer_ScoresAsTheImportedFolder()
    {
        File.WriteAllText(_dir["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(3)));
        Stories260K.WriteFolder(_dir["hf"]);
        double Perplexity(params string[] model)
        {
            var r = CliRunner.Run(["eval", .. model, "--text", _dir["eval.txt"], "--paragraphs", "3", "--json"]);
            Assert.True(r.Code == 0, r.Err);
            return JsonDocument.Parse(Lines(r.Out)[^1]).RootElement.GetProperty("perplexity").GetDouble();
        }
        Assert.Equal(Perplexity("--model", _dir["hf"]), Perplexity("--model", SharedData.Stories260KBin, "--tokenizer", SharedData.Stories260KTokenizer));

        // generate takes the same --tokenizer and continues as the imported folder does
        string Continue(params string[] model)
        {
            var r = CliRunner.Run(["generate", .. model, "--prompt", "Once upon a time", "--steps", "12"]);
            Assert.True(r.Code == 0, r.Err);
            return r.Out;
        }
        Assert.Equal(Continue("--model", _dir["hf"]), Continue("--model", SharedData.Stories260KBin, "--tokenizer", SharedData.Stories260KTokenizer));
    }

    [SharedFact]
    public void DemoAndStudyFromBinWithTokenizer_MeasureAsTheImportedFolder()
    {
        File.WriteAllText(_dir["text.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(80)));
        Stories260K.WriteFolder(_dir["hf"]);
        string[] bin = ["--model", SharedData.Stories260KBin, "--tokenizer", SharedData.Stories260KTokenizer];

        JsonElement Demo(string work, params string[] model)
        {
            var r = CliRunner.Run(["demo", .. model, "--text", _dir["text.txt"], "--work", _dir[work], "--paragraphs", "3", "--prune-paragraphs", "3",
                "--samples", "256", "--steps", "8"]);
            Assert.True(r.Code == 0, r.Err);
            return JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir[work], "dense.json"))).RootElement.Clone();
        }
        var a = Demo("demo-hf", "--model", _dir["hf"]);
        var b = Demo("demo-bin", bin);
        Assert.Equal(a.GetProperty("dense").GetProperty("perplexity").GetDouble(), b.GetProperty("dense").GetProperty("perplexity").GetDouble());
        Assert.Equal(a.GetProperty("greedy_ids").ToString(), b.GetProperty("greedy_ids").ToString());
        foreach (var key in new[] { "perplexity_after", "kl", "params_after" })
            Assert.Equal(a.GetProperty("pruned").GetProperty(key).GetDouble(), b.GetProperty("pruned").GetProperty(key).GetDouble());

        JsonElement StudyRow(string outDir, params string[] model)
        {
            var r = CliRunner.Run(["study", "--models", .. model, "--methods", "flap", "--ratios", "0.2", "--halves", _dir["text.txt"],
                "--eval-paragraphs", "3", "--samples", "256", "--quiet", "--out", _dir[outDir]]);
            Assert.True(r.Code == 0, r.Err);
            using var study = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir[outDir], "study.json")));
            return Assert.Single(study.RootElement.GetProperty("rows").EnumerateArray()).Clone();
        }
        var folderRow = StudyRow("study-hf", _dir["hf"]);
        var binRow = StudyRow("study-bin", [SharedData.Stories260KBin, "--tokenizer", SharedData.Stories260KTokenizer]);
        foreach (var key in new[] { "ppl_before", "ppl_after", "kl" })
            Assert.Equal(folderRow.GetProperty(key).GetDouble(), binRow.GetProperty(key).GetDouble());

        // --tokenizer with no .bin among --models is refused before any work, and nothing is written
        var before = Snapshot();
        var refused = CliRunner.Run(["study", "--models", _dir["hf"], "--tokenizer", SharedData.Stories260KTokenizer, "--methods", "flap", "--ratios", "0.2",
            "--halves", _dir["text.txt"], "--out", _dir["study-refused"]]);
        Assert.Equal(ExitCodes.BadArgument, refused.Code);
        Assert.StartsWith("error: --tokenizer applies to llama2.c .bin models only", Assert.Single(Lines(refused.Err)));
        Assert.Equal(before, Snapshot());
    }

    [SharedFact]
    public void BadBinInput_OneErrorLine_DistinctCode_NothingWritten()
    {
        File.WriteAllText(_dir["calib.txt"], Stories260K.Calibration(20_000));
        Directory.CreateDirectory(_dir["bad"]);
        File.WriteAllBytes(_dir["bad/model.bin"], new byte[10]); // shorter than the 7-int header
        File.Copy(SharedData.Stories260KTokenizer, _dir["bad/tokenizer.model"]);
        Directory.CreateDirectory(_dir["lone"]);
        File.Copy(SharedData.Stories260KBin, _dir["lone/stories260K.bin"]); // no tokenizer beside it
        Stories260K.WriteFolder(_dir["hf"]);

        void Fails(int code, string fragment, string[] args)
        {
            var before = Snapshot();
            var (exit, _, error) = CliRunner.Run(args);
            Assert.True(exit == code, $"exit {exit}, expected {code}; stderr: {error}");
            var line = Assert.Single(Lines(error));
            Assert.StartsWith("error: ", line);
            Assert.Contains(fragment, line);
            Assert.Equal(before, Snapshot());
        }
        Fails(ExitCodes.BadModelFile, "llama2.c checkpoint", Prune(_dir["bad/model.bin"], _dir["out"]));
        Fails(ExitCodes.MissingInput, "has no tokenizer beside it", Prune(_dir["lone/stories260K.bin"], _dir["out"]));
        Fails(ExitCodes.MissingInput, "does not exist", Prune(_dir["none.bin"], _dir["out"]));
        Fails(ExitCodes.BadArgument, "--tokenizer applies to a llama2.c .bin", Prune(_dir["hf"], _dir["out"], "--tokenizer", SharedData.Stories260KTokenizer));
    }
}
