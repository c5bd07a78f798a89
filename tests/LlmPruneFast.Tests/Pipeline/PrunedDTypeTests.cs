using System.Text.Json;
using LlmPruneFast.Capture;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Pipeline;

/// <summary>
/// The pruned checkpoint keeps the input's dtype and sharding unless told otherwise (<c>--dtype</c>,
/// <c>--max-shard-mb</c>), on the real stories260K stored as BF16, F16 and F32.
/// </summary>
public sealed class PrunedDTypeTests
{
    private static readonly Lazy<PruneOutcome> Flap = new(() =>
        ModelPruner.Run(new LlamaModel(Stories260K.Config, Stories260K.Tensors, Stories260K.Tokenizer, "stories260K"), Stories260K.Calibration(20_000), "calib",
            new PruneSettings { Method = "flap", Ratio = 0.3, Calibration = new CalibrationOptions { Samples = 512 } }));

    /// <summary>stories260K written as <paramref name="dtype"/> (sharded over <paramref name="maxShardBytes"/>), opened.</summary>
    private static LlamaCheckpoint Source(TempFolder dir, TensorDType dtype, long? maxShardBytes = null)
    {
        LlamaCheckpointWriter.Write(dir["model"], Stories260K.Config, Stories260K.Tensors, SharedData.Stories260KTokenizer,
            new LlamaCheckpointWriteOptions { StoreAs = _ => dtype, MaxShardBytes = maxShardBytes });
        return LlamaCheckpoint.Open(dir["model"]);
    }

    /// <summary>The sliced FFN layers (computed in float32 on stories260K; flap's bias compensation adds down biases).</summary>
    private static IReadOnlyList<SlicedFfnLayer> Layers(LlamaCheckpoint source) => Flap.Value.Layers;

    private static float Round(TensorDType dtype, float value)
    {
        var bytes = new byte[FloatWidening.SizeOf(dtype)];
        FloatWidening.FromFloat32(dtype, [value], bytes);
        var one = new float[1];
        FloatWidening.ToFloat32(dtype, bytes, one);
        return one[0];
    }

    [SharedTheory]
    [InlineData(TensorDType.BF16)]
    [InlineData(TensorDType.F16)]
    public void Pruning_KeepsTheStoredDType_AndTheValuesAreTheFloat32PathRounded(TensorDType dtype)
    {
        using var dir = new TempFolder();
        using var source = Source(dir, dtype);
        var layers = Layers(source);
        var (config, _) = PrunedCheckpointWriter.Write(dir["pruned"], source, Flap.Value.Plan, layers);
        using var pruned = LlamaCheckpoint.Open(dir["pruned"]);
        Assert.Equal(dtype == TensorDType.BF16 ? "bfloat16" : "float16", pruned.Config.TorchDtype);
        Assert.Equal(config.IntermediateSizes ?? [], pruned.Config.IntermediateSizes ?? []);
        // The float32 path: the same slice held in float32 (PrunedModel.Build), then rounded once to the dtype.
        var (_, float32) = PrunedModel.Build(source.Config, source.Tensors, layers);
        foreach (var name in pruned.Tensors.Names)
        {
            Assert.Equal(dtype, pruned.Tensors.GetInfo(name).DType);
            var expected = float32.GetData(name);
            var actual = pruned.Tensors.ReadFloat32(name);
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < actual.Length; i++)
                if (BitConverter.SingleToInt32Bits(Round(dtype, expected[i])) != BitConverter.SingleToInt32Bits(actual[i]))
                    Assert.Fail($"{name}[{i}]: stored {actual[i]}, float32 path {expected[i]} rounds to {Round(dtype, expected[i])}");
            if (!name.Contains(".mlp.")) // untouched tensors: the input's bytes
                Assert.Equal(((SafeTensorsFile)source.Tensors).RawBytes(name).ToArray(), ((SafeTensorsFile)pruned.Tensors).RawBytes(name).ToArray());
        }
        // model.onnx computes what the checkpoint holds, rounding included.
        var ids = Stories260K.EvalSequences(1)[0][..32];
        using var fromFile = OnnxLlamaRunner.Create(Path.Combine(dir["pruned"], "model.onnx"));
        using var fromCheckpoint = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(pruned.Config, pruned.Tensors));
        Assert.Equal(fromCheckpoint.Run(TokenBatch.Create([ids])).Logits, fromFile.Run(TokenBatch.Create([ids])).Logits);
    }

    [SharedFact]
    public void DTypeOption_ConvertsEveryTensor()
    {
        using var dir = new TempFolder();
        using var source = Source(dir, TensorDType.BF16);
        var layers = Layers(source);
        PrunedCheckpointWriter.Write(dir["f32"], source, Flap.Value.Plan, layers, output: new PrunedOutputOptions(TensorDType.F32));
        PrunedCheckpointWriter.Write(dir["f16"], source, Flap.Value.Plan, layers, output: new PrunedOutputOptions(TensorDType.F16));
        using var f32 = LlamaCheckpoint.Open(dir["f32"]);
        using var f16 = LlamaCheckpoint.Open(dir["f16"]);
        Assert.Equal("float32", f32.Config.TorchDtype);
        Assert.Equal("float16", f16.Config.TorchDtype);
        Assert.All(f32.Tensors.Names, n => Assert.Equal(TensorDType.F32, f32.Tensors.GetInfo(n).DType));
        Assert.All(f16.Tensors.Names, n => Assert.Equal(TensorDType.F16, f16.Tensors.GetInfo(n).DType));
        // BF16 -> F32 is exact for untouched tensors; F32 -> F16 rounds each value once.
        string q = LlamaTensorNames.Q(2), down = LlamaTensorNames.Down(2);
        Assert.Equal(source.Tensors.ReadFloat32(q), f32.Tensors.ReadFloat32(q));
        Assert.Equal(f32.Tensors.ReadFloat32(down).Select(v => Round(TensorDType.F16, v)), f16.Tensors.ReadFloat32(down));
    }

    [SharedFact]
    public void TinyShardLimit_WritesSeveralShardsAndAValidIndex_ThatReloadWithTheSameLogits()
    {
        using var dir = new TempFolder();
        using var source = Source(dir, TensorDType.F32);
        var layers = Layers(source);
        PrunedCheckpointWriter.Write(dir["single"], source, Flap.Value.Plan, layers);
        PrunedCheckpointWriter.Write(dir["sharded"], source, Flap.Value.Plan, layers, output: new PrunedOutputOptions(MaxShardBytes: 150_000));
        Assert.True(File.Exists(Path.Combine(dir["single"], "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(dir["single"], SafeTensorsSharded.IndexFileName)));
        Assert.False(File.Exists(Path.Combine(dir["sharded"], "model.safetensors")));

        var shards = Directory.GetFiles(dir["sharded"], "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.True(shards.Length >= 4, $"expected several shards, got {shards.Length}");
        Assert.Equal(Enumerable.Range(1, shards.Length).Select(i => $"model-{i:D5}-of-{shards.Length:D5}.safetensors"), shards);
        using var index = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir["sharded"], SafeTensorsSharded.IndexFileName)));
        using var single = LlamaCheckpoint.Open(dir["single"]);
        long total = single.Tensors.Names.Sum(n => single.Tensors.GetInfo(n).ElementCount * 4);
        Assert.Equal(total, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        var map = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(single.Tensors.Names.Order(StringComparer.Ordinal), map.Keys.Order(StringComparer.Ordinal));
        foreach (var shard in shards)
        {
            // each shard is a valid safetensors file on its own (SafeTensorsHeader's checks) within the limit
            using var file = SafeTensorsFile.Open(Path.Combine(dir["sharded"], shard!));
            Assert.True(file.Header.Entries.Sum(e => e.ByteLength) <= 150_000 || file.Header.Entries.Count == 1);
            Assert.All(file.Names, n => Assert.Equal(shard, map[n]));
        }

        using var sharded = LlamaCheckpoint.Open(dir["sharded"]);
        Assert.IsType<SafeTensorsSharded>(sharded.Tensors);
        var ids = Stories260K.EvalSequences(2);
        using var a = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(single.Config, single.Tensors));
        using var b = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(sharded.Config, sharded.Tensors));
        Assert.Equal(a.Run(TokenBatch.Create(ids)).Logits, b.Run(TokenBatch.Create(ids)).Logits);
    }

    [SharedFact]
    public void ShardedInput_GivesAShardedOutput_InItsDType()
    {
        using var dir = new TempFolder();
        using var source = Source(dir, TensorDType.BF16, maxShardBytes: 100_000);
        Assert.IsType<SafeTensorsSharded>(source.Tensors);
        PrunedCheckpointWriter.Write(dir["pruned"], source, Flap.Value.Plan, Layers(source));
        Assert.True(File.Exists(Path.Combine(dir["pruned"], SafeTensorsSharded.IndexFileName)));
        using var pruned = LlamaCheckpoint.Open(dir["pruned"]);
        Assert.IsType<SafeTensorsSharded>(pruned.Tensors);
        Assert.All(pruned.Tensors.Names, n => Assert.Equal(TensorDType.BF16, pruned.Tensors.GetInfo(n).DType));
    }

    [SharedFact]
    public void Cli_PruneAndApply_HonourDType_AndRefuseAnUnknownOne()
    {
        using var dir = new TempFolder();
        using (Source(dir, TensorDType.BF16)) { }
        File.WriteAllText(dir["calib.txt"], Stories260K.Calibration(10_000));
        var bad = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--method", "flap", "--ratio", "0.3",
            "--samples", "256", "--out", dir["bad"], "--dtype", "f8", "--quiet");
        Assert.True(bad.Code == ExitCodes.BadArgument, bad.Err);
        Assert.StartsWith("error: --dtype f8", Assert.Single(bad.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
        Assert.False(Directory.Exists(dir["bad"]));

        var kept = CliRunner.Run("prune", "--model", dir["model"], "--calib", dir["calib.txt"], "--method", "flap", "--ratio", "0.3",
            "--samples", "256", "--out", dir["kept"], "--quiet");
        Assert.True(kept.Code == 0, kept.Err);
        using (var c = LlamaCheckpoint.Open(dir["kept"]))
            Assert.All(c.Tensors.Names, n => Assert.Equal(TensorDType.BF16, c.Tensors.GetInfo(n).DType));

        var applied = CliRunner.Run("apply", "--plan", Path.Combine(dir["kept"], "pruning-plan.json"), "--model", dir["model"],
            "--out", dir["applied"], "--dtype", "f32", "--max-shard-mb", "0.2", "--quiet");
        Assert.True(applied.Code == 0, applied.Err);
        Assert.True(File.Exists(Path.Combine(dir["applied"], SafeTensorsSharded.IndexFileName)));
        using var f32 = LlamaCheckpoint.Open(dir["applied"]);
        Assert.All(f32.Tensors.Names, n => Assert.Equal(TensorDType.F32, f32.Tensors.GetInfo(n).DType));

        var badShard = CliRunner.Run("apply", "--plan", Path.Combine(dir["kept"], "pruning-plan.json"), "--model", dir["model"],
            "--out", dir["bad2"], "--max-shard-mb", "0", "--quiet");
        Assert.True(badShard.Code == ExitCodes.BadArgument, badShard.Err);
        Assert.Contains("--max-shard-mb", badShard.Err);
    }
}
