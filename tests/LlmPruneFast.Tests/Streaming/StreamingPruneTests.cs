using LlmPruneFast.Capture;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>The layer-streaming pipeline against the whole-model one on the real stories260K.</summary>
public sealed class StreamingPruneTests
{
    private static readonly string Text = Stories260K.Calibration(30_000);

    private static PruneSettings Settings(string method, BudgetKind budget = BudgetKind.Uniform) => new()
    {
        Method = method, Ratio = 0.3, Seed = 1, Budget = budget,
        Calibration = new CalibrationOptions { Samples = 512, Seed = 1, Threads = 1 },
        Threads = 1,
    };

    private static PruneOutcome Streamed(PruneSettings settings, CaptureMode mode = CaptureMode.Dense)
    {
        var prepared = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Text, "calib", settings, mode);
        return StreamingPruner.Run(prepared, new LlamaModel(Stories260K.Config, Stories260K.Tensors, name: "stories260K"));
    }

    private static float[] Logits(IReadOnlyList<SlicedFfnLayer> layers)
    {
        var (config, tensors) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, layers);
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), new OnnxRunnerOptions { IntraOpThreads = 1 });
        return runner.Run(TokenBatch.Create(Stories260K.EvalSequences(4))).Logits;
    }

    public static TheoryData<string> Methods() => [.. PruningSelectors.Names];

    [SharedTheory]
    [MemberData(nameof(Methods))]
    public void Streaming_GivesTheWholeModelPlan_AndLogits(string method)
    {
        var settings = Settings(method);
        var whole = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Text, "calib", settings);
        var streamed = Streamed(settings);
        Assert.Equal(PlanJson.Serialize(whole.Plan), PlanJson.Serialize(streamed.Plan));
        Assert.Equal(whole.Calibration.Samples, streamed.Calibration.Samples);
        Assert.Equal(whole.Calibration.SequencesRun, streamed.Calibration.SequencesRun);
        var a = Logits(whole.Layers);
        var b = Logits(streamed.Layers);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        Assert.True(max <= 1e-5, $"{method}: pruned logits differ by {max}");
    }

    [SharedFact]
    public void GlobalBudget_StreamsTwice_SamePlan()
    {
        var settings = Settings("flap", BudgetKind.Global);
        var whole = ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Text, "calib", settings);
        Assert.Equal(PlanJson.Serialize(whole.Plan), PlanJson.Serialize(Streamed(settings).Plan));
    }
}

/// <summary>The streaming memory plan: what it counts, when the hidden states go to scratch, when it refuses.</summary>
public sealed class StreamingMemoryPlanTests
{
    [SharedFact]
    public void HiddenStatesGoToScratch_WhenOnlyThatFits_AndTheRefusalNamesWhatToLower()
    {
        // Paragraphs: every one runs, so the hidden states outweigh one batch's blocks (with windows they hold ~S tokens).
        var settings = new PruneSettings { Method = "flap", Ratio = 0.3, Calibration = new CalibrationOptions { Samples = 512, Seed = 1, Layout = CalibrationLayout.Paragraphs } };
        var roomy = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Stories260K.Calibration(30_000), "calib", settings, CaptureMode.Dense).Memory;
        Assert.False(roomy.HiddenInScratch);
        Assert.False(roomy.OverBudget);
        Assert.True(roomy.HiddenBytes > 0);
        Assert.Contains(roomy.Parts, p => p.Part.StartsWith("hidden states") && p.Bytes == roomy.HiddenBytes);

        // A budget just under the in-memory total: the hidden states move to the scratch file and the rest fits.
        long tight = roomy.TotalBytes - 1;
        var scratch = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Stories260K.Calibration(30_000), "calib",
            settings with { Calibration = settings.Calibration with { MemoryBudgetBytes = tight } }, CaptureMode.Dense).Memory;
        Assert.True(scratch.HiddenInScratch);
        Assert.False(scratch.OverBudget);
        Assert.Equal(0, scratch.StreamOptions.HiddenInMemoryLimitBytes);

        var refused = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Stories260K.Calibration(30_000), "calib",
            settings with { Calibration = settings.Calibration with { MemoryBudgetBytes = 1 << 20 } }, CaptureMode.Dense).Memory;
        Assert.True(refused.OverBudget);
        var e = Assert.Throws<MemoryBudgetException>(refused.ThrowIfOverBudget);
        Assert.Contains("--samples", e.Message);
        Assert.Equal(ExitCodes.MemoryBudget, e.ExitCode);
    }

    [SharedFact]
    public void TheWriteIsAStageOfItsOwn_BoundedByTheModelsSize()
    {
        var settings = new PruneSettings { Method = "flap", Ratio = 0.3, Calibration = new CalibrationOptions { Samples = 512, Seed = 1 } };
        var plan = StreamingPruner.Prepare(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer), Stories260K.Calibration(30_000), "calib", settings, CaptureMode.Dense).Memory;
        var c = Stories260K.Config;
        long modelBytes = 4L * LlamaTensorShapes.Expected(c).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        long largest = 4L * LlamaTensorShapes.Expected(c).Max(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(["runtime baseline", "the largest tensor read and its transposed copy", "dropped tensors before a collection"], plan.WriteParts.Select(p => p.Part));
        Assert.Equal(2 * largest, plan.WriteParts[1].Bytes);
        // A small model's write never drops more than its own tensors (read and transposed), whatever the collection budget.
        Assert.InRange(plan.WriteParts[2].Bytes, 1, 2 * (modelBytes + largest));
        Assert.Equal(Math.Max(plan.Parts.Sum(p => p.Bytes), plan.WriteParts.Sum(p => p.Bytes)), plan.TotalBytes);
        Assert.Contains("writing the pruned model afterwards", plan.Describe());
    }
}
