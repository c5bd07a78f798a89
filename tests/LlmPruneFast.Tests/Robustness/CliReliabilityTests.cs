using LlmPruneFast.Cli;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>What a user sees when something goes wrong: one <c>error:</c> line, a documented exit code, nothing written.</summary>
public sealed class CliReliabilityTests
{
    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Theory]
    [InlineData("prune", "--model", "m", "--calib", "c", "--out", "o", "--ratio", "0,3")]
    [InlineData("prune", "--model", "m", "--calib", "c", "--out", "o", "--ratio=0,3")]
    [InlineData("eval", "--model", "m", "--text", "t", "--paragraphs", "1,000")]
    public void NumberWithCommaIsRefusedWhateverTheLocale(params string[] args)
    {
        var (code, stdout, stderr) = CliRunner.Run(args);
        Assert.Equal(ExitCodes.BadArgument, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(Lines(stderr));
        Assert.StartsWith("error: --", line);
        Assert.Contains("decimal point", line);
    }

    [Theory]
    [InlineData("eval", "--bogus")]
    [InlineData("prune", "--model")]
    [InlineData("frobnicate")]
    [InlineData("mi", "--input", "x", "--cols", "many")]
    public void ParserErrorsAreOneLineNotTheHelpScreen(params string[] args)
    {
        var (code, _, stderr) = CliRunner.Run(args);
        Assert.Equal(ExitCodes.BadArgument, code);
        var line = Assert.Single(Lines(stderr));
        Assert.StartsWith("error: ", line);
        Assert.Contains("--help", line);
    }

    [Fact]
    public void HelpAndVersionStillPrintTheirScreens()
    {
        var (code, _, stderr) = CliRunner.Run("prune", "--help");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("--ratio", stderr);
        Assert.True(Lines(stderr).Length > 20);
        (code, _, stderr) = CliRunner.Run("--version");
        Assert.Equal(ExitCodes.Ok, code);
        Assert.Contains("llmprune", stderr);
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, stderr) = CliRunner.Run("eval", "--model", "/nonexistent-llmprune", "--text", "/nonexistent-llmprune.txt", "--paragraphs", "1", "--verbose");
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains("   at ", stderr);
    }

    [Fact]
    public void EveryExceptionMapsToADocumentedCode()
    {
        Assert.Equal(ExitCodes.FileSystemFault, ErrorBoundary.Classify(new IOException("No space left on device : '/x'")).Code);
        Assert.Equal(ExitCodes.FileSystemFault, ErrorBoundary.Classify(new UnauthorizedAccessException("Access to the path '/x' is denied.")).Code);
        Assert.Equal(ExitCodes.MissingInput, ErrorBoundary.Classify(new FileNotFoundException("gone")).Code);
        Assert.Equal(ExitCodes.MemoryBudget, ErrorBoundary.Classify(new OutOfMemoryException()).Code);
        Assert.Equal(ExitCodes.Cancelled, ErrorBoundary.Classify(new OperationCanceledException()).Code);
        var (code, message) = ErrorBoundary.Classify(new InvalidOperationException("boom\nsecond line"));
        Assert.Equal(ExitCodes.Unexpected, code);
        Assert.Contains("--verbose", message);
        Assert.DoesNotContain('\n', message);
        // Wrapped typed errors keep their own code (Parallel.For wraps, cancellations of sibling tasks are skipped).
        var wrapped = new AggregateException(new OperationCanceledException(), new BadDataException("NaN in tensor 'x'"));
        Assert.Equal(ExitCodes.BadData, ErrorBoundary.Classify(ErrorBoundary.Unwrap(wrapped)).Code);
    }

    [Fact]
    public void FileSystemFaultHasItsOwnExitCode()
    {
        int[] codes = [ExitCodes.BadArgument, ExitCodes.BadModelFile, ExitCodes.UnsupportedArchitecture, ExitCodes.MissingInput,
            ExitCodes.OutputConflict, ExitCodes.MemoryBudget, ExitCodes.BadData, ExitCodes.Cancelled, ExitCodes.Terminated];
        Assert.DoesNotContain(new FileSystemFaultException("x").ExitCode, codes);
        Assert.Equal(143, ExitCodes.Terminated);
    }

    [SharedFact]
    public void FlagsThatWouldDoNothingAreRefusedAndExcessThreadsCapped()
    {
        using var dir = new TempFolder();
        Stories260K.WriteFolder(dir["model"]);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));
        File.WriteAllText(dir["eval.txt"], string.Join("\n\n", Stories260K.EvalParagraphs(2)));
        string[] prune = ["prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--samples", "256", "--quiet", "--out", dir["out"]];

        var r = CliRunner.Run([.. prune, "--ratio", "0.001"]);
        Assert.Equal(ExitCodes.BadArgument, r.Code);
        Assert.Contains("removes no neuron", Assert.Single(Lines(r.Err)));
        r = CliRunner.Run([.. prune, "--ratio", "0.3", "--estimator", "ksg"]); // mi-conditional does not use a pairwise estimator
        Assert.Equal(ExitCodes.BadArgument, r.Code);
        Assert.Contains("--estimator ksg has no effect", Assert.Single(Lines(r.Err)));
        r = CliRunner.Run([.. prune, "--ratio", "0.3", "--method", "flap", "--cost-for", "bias"]); // flap has no cost_for
        Assert.Equal(ExitCodes.BadArgument, r.Code);
        Assert.Contains("--cost-for applies to mi-weighted and mi-conditional", Assert.Single(Lines(r.Err)));
        r = CliRunner.Run([.. prune, "--ratio", "0.3", "--cost-for", "refit"]);
        Assert.Equal(ExitCodes.BadArgument, r.Code);
        Assert.Contains("'refit' is not kept, bias or none", Assert.Single(Lines(r.Err)));
        Assert.False(Directory.Exists(dir["out"]));
        r = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--samples", "256", "--quiet", "--ratio", "0.3",
            "--compensate", "bias", "--cost-for", "bias", "--plan-only", "--out", dir["plan.json"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("\"cost_for\": \"bias\"", File.ReadAllText(dir["plan.json"]));

        // mi-conditional's cost follows an explicit --compensate bias|none unless --cost-for says otherwise; the plan records it.
        foreach (var (comp, costFor, expected) in new (string, string?, string?)[] { ("none", null, "none"), ("bias", "kept", null), ("refit", null, null) })
        {
            string plan = dir[$"plan-{comp}-{costFor}.json"];
            string[] args = ["prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--samples", "256", "--quiet", "--ratio", "0.3",
                "--compensate", comp, "--plan-only", "--out", plan];
            r = CliRunner.Run(costFor == null ? args : [.. args, "--cost-for", costFor]);
            Assert.True(r.Code == 0, r.Err);
            if (expected == null) Assert.DoesNotContain("cost_for", File.ReadAllText(plan));
            else Assert.Contains($"\"cost_for\": \"{expected}\"", File.ReadAllText(plan));
        }

        r = CliRunner.Run("eval", "--model", dir["model"], "--text", dir["eval.txt"], "--paragraphs", "2", "--threads", "100000");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains($"note: --threads 100000 capped at the {Environment.ProcessorCount} processors", r.Err);

        r = CliRunner.Run("generate", "--model", dir["model"], "--prompt", "", "--steps", "8");
        Assert.True(r.Code == 0, r.Err); // an empty prompt generates from BOS
        Assert.NotEqual("", r.Out.Trim());
    }
    [SharedFact]
    public void ActivationsThatOverflowAreBadDataAtPrune_NothingWritten()
    {
        // Finite weights (so the weight check passes) whose products overflow float32: layer 2's gate rows at +-3e38.
        using var dir = new TempFolder();
        var tensors = new InMemoryTensorSource();
        foreach (var name in Stories260K.Tensors.Names) tensors.Add(name, Stories260K.Tensors.GetInfo(name).Shape, Stories260K.Tensors.ReadFloat32(name));
        var gate = tensors.GetData(LlamaTensorNames.Gate(2));
        for (int i = 0; i < gate.Length; i++) gate[i] = gate[i] >= 0 ? 3e38f : -3e38f;
        LlamaCheckpointWriter.Write(dir["model"], Stories260K.Config, tensors, SharedData.Stories260KTokenizer);
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(20_000));

        foreach (var method in new[] { "flap", "mi-conditional" })
        {
            var r = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--samples", "256", "--quiet", "--ratio", "0.3",
                "--method", method, "--out", dir["out"]);
            Assert.Equal(ExitCodes.BadData, r.Code);
            Assert.Contains("activations of layer 2", Assert.Single(Lines(r.Err)));
            Assert.False(Directory.Exists(dir["out"]));
        }
    }
}
