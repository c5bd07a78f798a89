using System.Runtime.InteropServices;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

public sealed class LlamaCheckpointTests
{
    private static uint[] Bits(float[] values) => MemoryMarshal.Cast<float, uint>(values).ToArray();

    [Theory]
    [InlineData(true, false, null)]
    [InlineData(false, false, null)]
    [InlineData(true, true, new[] { 12, 5, 9 })]
    public void WriteThenOpen_ReadsBackEveryTensorAndTheConfig(bool tied, bool mlpBias, int[]? widths)
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Config(tied, mlpBias, widths);
        var tensors = TinyLlama.Tensors(config);
        File.WriteAllBytes(dir["tok.model"], [9, 9]);
        var files = LlamaCheckpointWriter.Write(dir["out"], config, tensors, dir["tok.model"]);
        Assert.Contains(dir["out/model.safetensors"], files);

        using var checkpoint = LlamaCheckpoint.Open(dir["out"]);
        Assert.Equal(config with { IntermediateSizes = null }, checkpoint.Config with { IntermediateSizes = null });
        Assert.Equal(widths, checkpoint.Config.IntermediateSizes);
        Assert.Equal(tied, !checkpoint.Tensors.Contains(LlamaTensorNames.LmHead));
        Assert.Equal(LlamaTensorShapes.Expected(config).Select(e => e.Name), checkpoint.Tensors.Names);
        foreach (var name in tensors.Names)
            Assert.Equal(Bits(tensors.GetData(name)), Bits(checkpoint.Tensors.ReadFloat32(name)));
        Assert.Equal([9, 9], File.ReadAllBytes(checkpoint.TokenizerPath));
    }

    [Fact]
    public void Rewrite_CarriesTokenizerFilesAndUnknownConfigKeys_AndShardedReadsTheSame()
    {
        using var dir = new TempFolder();
        TinyLlama.WriteFolder(dir["a"]);
        File.WriteAllText(dir["a/special_tokens_map.json"], "{\"bos_token\":\"<s>\"}");
        File.WriteAllText(dir["a/config.json"], File.ReadAllText(dir["a/config.json"]).Replace("\"model_type\"", "\"my_key\": 5, \"model_type\""));
        using (var a = LlamaCheckpoint.Open(dir["a"]))
            LlamaCheckpointWriter.Write(dir["b"], a.Config, a.Tensors, a.TokenizerPath,
                LlamaCheckpointWriteOptions.CarryFrom(a) with { MaxShardBytes = 1000 });
        Assert.Equal("{\"bos_token\":\"<s>\"}", File.ReadAllText(dir["b/special_tokens_map.json"]));
        Assert.Contains("\"my_key\": 5", File.ReadAllText(dir["b/config.json"]));
        Assert.True(File.Exists(dir["b/model.safetensors.index.json"]));
        using var first = LlamaCheckpoint.Open(dir["a"]);
        using var second = LlamaCheckpoint.Open(dir["b"]);
        Assert.IsType<SafeTensorsSharded>(second.Tensors);
        foreach (var name in first.Tensors.Names)
            Assert.Equal(Bits(first.Tensors.ReadFloat32(name)), Bits(second.Tensors.ReadFloat32(name)));
    }

    [Fact]
    public void Open_TensorWithWrongShape_ThrowsNamingTensorAndShapes()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.WriteFolder(dir["m"]);
        var tensors = TinyLlama.Tensors(config);
        tensors.Add(LlamaTensorNames.Up(1), [11, 8], new float[88]);
        SafeTensorsWriter.Write(dir["m/model.safetensors"], tensors);
        var ex = Assert.Throws<BadModelFileException>(() => LlamaCheckpoint.Open(dir["m"]));
        Assert.Contains(LlamaTensorNames.Up(1), ex.Message);
        Assert.Contains("[11, 8], expected [12, 8]", ex.Message);
    }

    [Fact]
    public void Open_MissingTensor_ThrowsNamingIt()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.WriteFolder(dir["m"], TinyLlama.Config(tied: false));
        var tensors = TinyLlama.Tensors(config);
        SafeTensorsWriter.Write(dir["m/model.safetensors"], tensors, names: tensors.Names.Where(n => n != LlamaTensorNames.LmHead));
        Assert.Contains(LlamaTensorNames.LmHead, Assert.Throws<BadModelFileException>(() => LlamaCheckpoint.Open(dir["m"])).Message);
    }

    [Fact]
    public void Write_FailingMidway_LeavesNothingBehind()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Config();
        File.WriteAllBytes(dir["tok.model"], [1]);
        using var failing = new FailingSource(TinyLlama.Tensors(config), LlamaTensorNames.Down(1));
        Assert.Throws<IOException>(() => LlamaCheckpointWriter.Write(dir["deep/er/out"], config, failing, dir["tok.model"]));
        Assert.Equal([dir["tok.model"]], Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void AtomicOutputFolder_RefusesConflicts()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["in"]);
        File.WriteAllText(dir["in/x"], "x");
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in"], [dir["in"]]));
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in/"], [dir["in"]]));
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in/sub"], [dir["in"]]));
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in"], [dir["other"]]));
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in/x"], [dir["other"]]));
        Directory.CreateDirectory(dir["empty"]);
        Assert.Equal(dir["empty"], AtomicOutputFolder.CheckOutput(dir["empty"], [dir["in"]]));
        Assert.Equal(dir["new"], AtomicOutputFolder.CheckOutput(dir["new"], [dir["in/x"]]));
    }

    [Fact]
    public void AtomicOutputFolder_SeesThroughSymbolicLinks()
    {
        using var dir = new TempFolder();
        Directory.CreateDirectory(dir["in"]);
        File.WriteAllText(dir["in/x"], "x");
        Directory.CreateSymbolicLink(dir["link"], dir["in"]);
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["link/sub"], [dir["in"]]));
        Assert.Throws<OutputConflictException>(() => AtomicOutputFolder.CheckOutput(dir["in/sub"], [dir["link"]]));
    }

    private sealed class FailingSource(InMemoryTensorSource inner, string failOn) : ITensorSource
    {
        public IReadOnlyCollection<string> Names => inner.Names;
        public bool Contains(string name) => inner.Contains(name);
        public TensorInfo GetInfo(string name) => inner.GetInfo(name);
        public float[] ReadFloat32(string name) => name == failOn ? throw new IOException("disk on fire") : inner.ReadFloat32(name);
        public void Dispose() { }
    }
}
