using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>Slicing plans into checkpoints and graphs on the real stories260K: exactness and reproducibility.</summary>
public sealed class SlicingTests
{
    private static PruneOutcome Run(PruneSettings settings, string calibName = "calib") =>
        ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Stories260K.Calibration(30_000), calibName,
            settings with { Calibration = new CalibrationOptions { Samples = 1024 } });

    private static float[] Logits(LlamaConfig config, ITensorSource tensors, int[][] sequences)
    {
        using var runner = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors));
        return runner.Run(TokenBatch.Create(sequences)).Logits;
    }

    [SharedFact]
    public void PlanRemovingNothing_ReproducesTheOriginalLogitsExactly()
    {
        // ratio 0.002: round(0.002 * 172) = 0 removals in every layer, with the method's partner compensation
        var outcome = Run(new PruneSettings { Method = "mi-weighted", Ratio = 0.002 });
        Assert.All(outcome.Plan.Layers, l => Assert.Empty(l.Removed));
        var (config, tensors) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, outcome.Layers);
        Assert.False(config.MlpBias);
        Assert.Null(config.IntermediateSizes);
        var sequences = Stories260K.EvalSequences(6);
        Assert.Equal(Logits(Stories260K.Config, Stories260K.Tensors, sequences), Logits(config, tensors, sequences));
    }

    [SharedFact]
    public void ApplyPlanWithEmptyRemovedLists_ReproducesTheOriginalLogitsExactly()
    {
        var fingerprint = CheckpointLayerSource.Fingerprint("stories260K", Stories260K.Config, Stories260K.Tensors);
        var plan = new PruningPlan
        {
            Model = fingerprint, Method = "magnitude", Budget = new BudgetInfo("uniform", 0.05), Ratio = 0.1, Seed = 0,
            Compensation = new CompensationInfo("refit", new PlanParameters().Set("ridge", 0.01)),
            Layers = Enumerable.Range(0, 5).Select(l => new LayerPlan(l, Enumerable.Range(0, 172).ToArray(), [])).ToArray(),
        };
        var layers = Pruner.ApplyPlan(plan, new CheckpointLayerSource(Stories260K.Config, Stories260K.Tensors)).ToArray();
        var (config, tensors) = PrunedModel.Build(Stories260K.Config, Stories260K.Tensors, layers);
        var sequences = Stories260K.EvalSequences(4);
        Assert.Equal(Logits(Stories260K.Config, Stories260K.Tensors, sequences), Logits(config, tensors, sequences));
    }

    [SharedFact]
    public void PrunedGraph_AndPrunedCheckpointThroughTheReference_GiveTheSameLogits()
    {
        // global budget: per-layer widths differ; bias compensation: mlp_bias with a non-zero down bias
        var outcome = Run(new PruneSettings { Method = "flap", Ratio = 0.3, Budget = BudgetKind.Global, Compensation = CompensationKind.Bias });
        using var folder = new TempFolder();
        using (var source = OpenSourceFolder(folder))
            PrunedCheckpointWriter.Write(folder["pruned"], source, outcome.Plan, outcome.Layers);
        using var pruned = LlamaCheckpoint.Open(folder["pruned"]);
        Assert.True(pruned.Config.MlpBias);
        Assert.NotNull(pruned.Config.IntermediateSizes);
        Assert.Equal(pruned.Config.IntermediateSizes!.Max(), pruned.Config.IntermediateSize);
        Assert.Equal(outcome.Layers.Select(l => l.Width), pruned.Config.IntermediateSizes);
        var ids = Stories260K.EvalSequences(1)[0][..40];
        var reference = ReferenceLlamaForward.Logits(pruned.Config, pruned.Tensors, ids);
        using var runner = OnnxLlamaRunner.Create(Path.Combine(folder["pruned"], "model.onnx"));
        var result = runner.Run(ids.Select(i => (long)i).ToArray(), Enumerable.Repeat(1L, ids.Length).ToArray(), 1, ids.Length);
        double worst = 0;
        for (int p = 0; p < ids.Length; p++)
            for (int v = 0; v < runner.Vocab; v++) worst = Math.Max(worst, Math.Abs(result.LogitsAt(0, p)[v] - reference[p, v]));
        Assert.True(worst < 1e-4, $"largest logit difference {worst}");
    }

    [SharedFact]
    public void FixedSeed_GivesByteIdenticalPlans_AndWritingOnePlanTwice_ByteIdenticalFiles()
    {
        using var folder = new TempFolder();
        // apply recaptures from the plan's recorded calibration text, S and seed
        File.WriteAllText(folder["calib.txt"], Stories260K.Calibration(30_000));
        var settings = new PruneSettings { Method = "mi-weighted", Ratio = 0.2, Seed = 5 };
        var a = Run(settings, folder["calib.txt"]);
        var b = Run(settings, folder["calib.txt"]);
        Assert.Equal(PlanJson.Serialize(a.Plan), PlanJson.Serialize(b.Plan));
        using var source = OpenSourceFolder(folder);
        PrunedCheckpointWriter.Write(folder["one"], source, a.Plan, a.Layers);
        var again = ModelPruner.Apply(a.Plan, new LlamaModel(source.Config, source.Tensors, Stories260K.Tokenizer, source.Directory));
        PrunedCheckpointWriter.Write(folder["two"], source, a.Plan, again);
        var names = Directory.GetFiles(folder["one"]).Select(Path.GetFileName).Order().ToArray();
        Assert.Contains("pruning-plan.json", names);
        Assert.Contains("model.onnx", names);
        Assert.Equal(names, Directory.GetFiles(folder["two"]).Select(Path.GetFileName).Order().ToArray());
        foreach (var n in names)
            Assert.True(File.ReadAllBytes(Path.Combine(folder["one"], n!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(folder["two"], n!))), $"{n} differs");
    }

    [SharedFact]
    public void PlanForAnotherModel_IsRefused()
    {
        var outcome = Run(new PruneSettings { Method = "magnitude", Ratio = 0.2 });
        var wide = FfnWidener.Widen(Stories260K.Config, Stories260K.Tensors, 10, 2.0);
        Assert.Throws<BadArgumentException>(() => ModelPruner.Apply(outcome.Plan, new LlamaModel(wide.Config, wide.Tensors, Stories260K.Tokenizer, "wide")));
        // same shapes, other weights
        var other = new InMemoryTensorSource();
        foreach (var name in Stories260K.Tensors.Names) other.Add(name, Stories260K.Tensors.GetInfo(name).Shape, Stories260K.Tensors.ReadFloat32(name));
        var down = other.GetData(LlamaTensorNames.Down(3));
        down[7] += 1e-3f;
        var e = Assert.Throws<BadArgumentException>(() => ModelPruner.Apply(outcome.Plan, new LlamaModel(Stories260K.Config, other, Stories260K.Tokenizer, "other")));
        Assert.Contains("another model", e.Message);
    }

    [SharedFact]
    public void BadRequests_FailBeforeAnyWork()
    {
        var config = new LlamaModel(Stories260K.Config, Stories260K.Tensors);
        Assert.Throws<BadArgumentException>(() => ModelPruner.Options(new PruneSettings { Method = "nope", Ratio = 0.2 }, config));
        Assert.Throws<BadArgumentException>(() => ModelPruner.Options(new PruneSettings { Method = "mi-weighted", Estimator = "nope", Ratio = 0.2 }, config));
        Assert.Throws<BadArgumentException>(() => ModelPruner.Options(new PruneSettings { Method = "flap", Ratio = 1.0 }, config));
        Assert.Throws<BadArgumentException>(() => ModelPruner.Options(new PruneSettings { Method = "flap", Ratio = 0 }, config));
        var e = Assert.Throws<BadArgumentException>(() => ModelPruner.Options(new PruneSettings { Method = "flap", Ratio = 0.998 }, config));
        Assert.Contains("empty layer", e.Message);
    }

    private static LlamaCheckpoint OpenSourceFolder(TempFolder folder)
    {
        Stories260K.WriteFolder(folder["model"]);
        return LlamaCheckpoint.Open(folder["model"]);
    }
}
