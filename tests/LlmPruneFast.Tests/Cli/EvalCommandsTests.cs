using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Cli;

/// <summary>Runs the llmprune CLI (a separate process) on an imported stories260K folder.</summary>
public sealed class EvalCommandsTests : IClassFixture<EvalCommandsTests.ImportedStories>
{
    /// <summary>stories260K imported once into an HF folder for the tests of this class.</summary>
    public sealed class ImportedStories : IDisposable
    {
        public TempFolder Folder { get; } = new();
        public string Model => Folder["model"];

        public ImportedStories()
        {
            if (SharedData.Root == null) return;
            var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
            using (tensors) LlamaCheckpointWriter.Write(Model, config, tensors, SharedData.Stories260KTokenizer);
        }

        public void Dispose() => Folder.Dispose();
    }

    private readonly ImportedStories _stories;

    public EvalCommandsTests(ImportedStories stories) => _stories = stories;

    private static (int Code, string Out, string Err) Cli(params string[] args) => CliRunner.Run(args);

    [SharedFact]
    public void Eval_Json_LastLineHoldsReferenceNll()
    {
        var (code, output, err) = Cli("eval", "--model", _stories.Model, "--text", SharedData.TinyStories, "--paragraphs", "40", "--json", "--threads", "1");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
        var root = json.RootElement;
        Assert.Equal(4059, root.GetProperty("tokens").GetInt64());
        Assert.Equal(40, root.GetProperty("paragraphs").GetInt32());
        Assert.True(Math.Abs(root.GetProperty("mean_nll").GetDouble() - 1.356505) < 1e-4);
        Assert.Equal(Math.Exp(root.GetProperty("mean_nll").GetDouble()), root.GetProperty("perplexity").GetDouble(), 9);
    }

    [SharedFact]
    public void Generate_PrintsTheReferenceContinuation()
    {
        var reference = Stories260KReference.Load();
        string expected = JsonDocument.Parse(File.ReadAllText(SharedData.Stories260KReference)).RootElement.GetProperty("greedy_text").GetString()!;
        var (code, output, err) = Cli("generate", "--model", _stories.Model, "--prompt", "Once upon a time, there was a dog named", "--steps", reference.GreedyIds.Length.ToString());
        Assert.True(code == 0, err);
        Assert.Equal(expected + "\n", output);
    }

    [SharedFact]
    public void Demo_EvaluatesGeneratesAndWritesSummaryAndOnnx()
    {
        string work = _stories.Folder["demo"];
        var (code, output, err) = Cli("demo", "--model", _stories.Model, "--text", SharedData.TinyStories, "--work", work, "--steps", "8");
        Assert.True(code == 0, err);
        Assert.Contains("mean NLL 1.35650", output);
        Assert.True(File.Exists(Path.Combine(work, "model.onnx")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(work, "dense.json")));
        Assert.Equal(4059, json.RootElement.GetProperty("dense").GetProperty("tokens").GetInt64());
        // The pruning half (mi-conditional 30%, the second half's first 60 paragraphs), pinned as for prune (MeasurementPinTests).
        var pruned = json.RootElement.GetProperty("pruned");
        MeasurementPinTests.Pin(4.202898433038802, pruned.GetProperty("perplexity_before").GetDouble(), "demo perplexity_before");
        MeasurementPinTests.Pin(8.263304422553876, pruned.GetProperty("perplexity_after").GetDouble(), "demo perplexity_after");
        MeasurementPinTests.Pin(0.7228389152831645, pruned.GetProperty("kl").GetDouble(), "demo kl");
        MeasurementPinTests.Pin(0.5985869208018403, pruned.GetProperty("top1_agreement").GetDouble(), "demo top1_agreement");
        Assert.Equal(211_632, pruned.GetProperty("params_after").GetInt64());
    }

    [SharedTheory]
    [InlineData(ExitCodes.BadArgument, "give exactly one", "--paragraphs", "4", "--window", "64")]
    [InlineData(ExitCodes.BadArgument, "give exactly one")]
    [InlineData(ExitCodes.BadArgument, "exceeds the model's max_position_embeddings 512", "--window", "513")]
    [InlineData(ExitCodes.BadArgument, "--stride must be", "--window", "64", "--stride", "65")]
    public void Eval_BadFlags_ExitWithBadArgument(int exitCode, string message, params string[] flags)
    {
        var (code, _, err) = Cli(["eval", "--model", _stories.Model, "--text", SharedData.TinyStories, .. flags]);
        Assert.Equal(exitCode, code);
        Assert.Contains(message, err);
        Assert.StartsWith("error: ", err);
    }

    [SharedFact]
    public void MissingModelOrText_ExitWithMissingInput()
    {
        var (code, _, err) = Cli("eval", "--model", _stories.Folder["nope"], "--text", SharedData.TinyStories, "--paragraphs", "4");
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Contains("nope", err);
        (code, _, err) = Cli("generate", "--model", _stories.Model, "--prompt", "x", "--steps", "1");
        Assert.Equal(0, code);
        (code, _, err) = Cli("eval", "--model", _stories.Model, "--text", _stories.Folder["missing.txt"], "--paragraphs", "4");
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.Contains("missing.txt", err);
    }
}
