using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Streaming;

/// <summary>
/// The streaming prune moves each cut layer to a scratch file (<see cref="SlicedLayerSpill"/>): the pruned folder it
/// writes must be byte for byte the folder written from the layers held in memory, for float32 and BF16 inputs, on
/// the one-pass path (dense and sequential) and the two-pass one (global budget), on the real stories260K.
/// </summary>
public sealed class SpilledLayerTests
{
    private static readonly string Text = Stories260K.Calibration(30_000);

    private static PruneSettings Settings(string method, BudgetKind budget = BudgetKind.Uniform) => new()
    {
        Method = method, Ratio = 0.3, Seed = 1, Budget = budget,
        Calibration = new CalibrationOptions { Samples = 512, Seed = 1, Threads = 1 },
        Threads = 1,
    };

    private static PruneOutcome Streamed(LlamaCheckpoint source, PruneSettings settings, CaptureMode mode, bool spill, string? scratch = null)
    {
        var prepared = StreamingPruner.Prepare(new LlamaModel(source.Config, source.Tensors, Stories260K.Tokenizer), Text, "calib", settings with { ScratchFolder = scratch }, mode);
        return StreamingPruner.Run(prepared, new LlamaModel(source.Config, source.Tensors, name: "stories260K"), spillLayers: spill);
    }

    private static LlamaCheckpoint Source(TempFolder dir, TensorDType dtype)
    {
        LlamaCheckpointWriter.Write(dir["model"], Stories260K.Config, Stories260K.Tensors, SharedData.Stories260KTokenizer,
            new LlamaCheckpointWriteOptions { StoreAs = _ => dtype });
        return LlamaCheckpoint.Open(dir["model"]);
    }

    private static void AssertSameFolders(string expected, string actual)
    {
        var names = Directory.GetFiles(expected).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(names, Directory.GetFiles(actual).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray());
        foreach (var name in names)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, name!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(actual, name!))),
                $"{name} differs between the in-memory and the spilled write");
    }

    public static TheoryData<string, BudgetKind, CaptureMode, TensorDType> Cases() => new()
    {
        { "flap", BudgetKind.Uniform, CaptureMode.Dense, TensorDType.F32 },
        { "flap", BudgetKind.Uniform, CaptureMode.Dense, TensorDType.BF16 },
        { "wanda-sp", BudgetKind.Uniform, CaptureMode.Sequential, TensorDType.F16 },
        { "mi-conditional", BudgetKind.Global, CaptureMode.Dense, TensorDType.BF16 },
    };

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void SpilledLayers_WriteTheSameFolder_AsLayersInMemory(string method, BudgetKind budget, CaptureMode mode, TensorDType dtype)
    {
        using var dir = new TempFolder();
        using var source = Source(dir, dtype);
        var settings = Settings(method, budget);
        using var inMemory = Streamed(source, settings, mode, spill: false);
        using var spilled = Streamed(source, settings, mode, spill: true, scratch: dir.Path);
        Assert.Null(inMemory.Spill);
        Assert.NotNull(spilled.Spill);
        Assert.All(spilled.Layers, l => Assert.True(l.IsSpilled));
        Assert.All(inMemory.Layers, l => Assert.False(l.IsSpilled));
        Assert.Equal(PlanJson.Serialize(inMemory.Plan), PlanJson.Serialize(spilled.Plan));
        long expectedBytes = inMemory.Layers.Sum(l => 3L * l.Width * l.Hidden * sizeof(float));
        Assert.Equal(expectedBytes, spilled.Spill!.Bytes);
        // The scratch file was unlinked when opened: nothing of it shows in the folder it lives in.
        Assert.DoesNotContain(Directory.GetFiles(dir.Path), f => Path.GetFileName(f).StartsWith(".llmprune-sliced-", StringComparison.Ordinal));

        PrunedCheckpointWriter.Write(dir["a"], source, inMemory.Plan, inMemory.Layers);
        PrunedCheckpointWriter.Write(dir["b"], source, spilled.Plan, spilled.Layers);
        AssertSameFolders(dir["a"], dir["b"]);
    }

    [SharedTheory]
    [InlineData("flap", CaptureMode.Dense)]          // bias compensation: activations streamed again
    [InlineData("wanda-sp", CaptureMode.Sequential)]
    public void Apply_WithSpill_WritesTheSameFolder(string method, CaptureMode mode)
    {
        using var dir = new TempFolder();
        using var source = Source(dir, TensorDType.BF16);
        using var pruned = Streamed(source, Settings(method), mode, spill: false);
        File.WriteAllText(dir["calib.txt"], Text);
        var plan = pruned.Plan with { Calibration = pruned.Plan.Calibration! with { Text = dir["calib.txt"] } };
        var inMemory = ModelPruner.Apply(plan, new LlamaModel(source.Config, source.Tensors, Stories260K.Tokenizer, "stories260K"));
        using var spill = SlicedLayerSpill.Create(dir.Path);
        var spilled = ModelPruner.Apply(plan, new LlamaModel(source.Config, source.Tensors, Stories260K.Tokenizer, "stories260K"), spill: spill);
        Assert.All(spilled, l => Assert.True(l.IsSpilled));
        PrunedCheckpointWriter.Write(dir["a"], source, plan, inMemory);
        PrunedCheckpointWriter.Write(dir["b"], source, plan, spilled);
        AssertSameFolders(dir["a"], dir["b"]);
        PrunedCheckpointWriter.Write(dir["c"], source, plan, pruned.Layers);   // and the prune's own layers
        AssertSameFolders(dir["a"], dir["c"]);
    }

    [SharedFact]
    public void SpilledLayer_ReadsBackTheWeights_AndRefusesFloat64Down()
    {
        using var dir = new TempFolder();
        using var source = Source(dir, TensorDType.F32);
        using var inMemory = Streamed(source, Settings("flap"), CaptureMode.Dense, spill: false);
        using var spill = SlicedLayerSpill.Create(dir.Path);
        foreach (var layer in inMemory.Layers)
        {
            var spilled = spill.Add(layer);
            Assert.True(spilled.IsSpilled);
            Assert.Equal(layer.Gate, spilled.Gate);
            Assert.Equal(layer.Up, spilled.Up);
            Assert.Equal(layer.Down.Select(v => (float)v).ToArray(), spilled.DownFloat32());
            Assert.Equal(layer.DownFloat32(), spilled.DownFloat32());
            Assert.Equal(layer.DownBias, spilled.DownBias);
            Assert.Equal(layer.Kept, spilled.Kept);
            Assert.Equal((layer.Index, layer.Hidden, layer.HasDownBias), (spilled.Index, spilled.Hidden, spilled.HasDownBias));
            var e = Assert.Throws<InvalidOperationException>(() => spilled.Down);
            Assert.Contains("DownFloat32", e.Message);
            Assert.Throws<ArgumentException>(() => spill.Add(spilled));
        }
        var last = spill.Add(inMemory.Layers[0]);
        spill.Dispose();
        Assert.Throws<ObjectDisposedException>(() => last.Gate);
    }

    [Fact]
    public void UnwritableScratchFolder_IsAFileSystemFault()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["file"], "not a folder");
        var e = Assert.Throws<FileSystemFaultException>(() => SlicedLayerSpill.Create(dir["file"]));
        Assert.Contains("sliced-layer scratch file", e.Message);
    }
}
