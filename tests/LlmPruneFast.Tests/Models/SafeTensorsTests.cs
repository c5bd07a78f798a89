using System.Runtime.InteropServices;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Models;

public sealed class SafeTensorsTests
{
    private static InMemoryTensorSource AwkwardTensors()
    {
        var random = new Random(1234);
        var tensors = new InMemoryTensorSource();
        tensors.Add("b.matrix", [3, 5], Enumerable.Range(0, 15).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray());
        tensors.Add("a.vector", [7], [0f, -0f, float.PositiveInfinity, float.NegativeInfinity, float.Epsilon, -float.MaxValue,
            BitConverter.UInt32BitsToSingle(0x7FC12345)]);
        tensors.Add("c.scalar", [], [42.5f]);
        tensors.Add("d.empty", [0, 4], []);
        return tensors;
    }

    private static uint[] Bits(float[] values) => MemoryMarshal.Cast<float, uint>(values).ToArray();

    [Fact]
    public void WriteThenRead_IsBitIdentical_InWrittenOrder()
    {
        using var dir = new TempFolder();
        var tensors = AwkwardTensors();
        SafeTensorsWriter.Write(dir["m.safetensors"], tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafeTensorsFile.Open(dir["m.safetensors"]);
        Assert.Equal(tensors.Names, file.Names);
        Assert.Equal("pt", file.Metadata["format"]);
        foreach (var name in tensors.Names)
        {
            Assert.Equal(tensors.GetInfo(name).Shape, file.GetInfo(name).Shape);
            Assert.Equal(TensorDType.F32, file.GetInfo(name).DType);
            Assert.Equal(Bits(tensors.GetData(name)), Bits(file.ReadFloat32(name)));
        }
        Assert.Equal(0, file.Header.DataStart % 8);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void Rewrite_FromReadFile_IsByteIdentical()
    {
        using var dir = new TempFolder();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "x" };
        SafeTensorsWriter.Write(dir["a.safetensors"], AwkwardTensors(), metadata);
        using (var a = SafeTensorsFile.Open(dir["a.safetensors"]))
            SafeTensorsWriter.Write(dir["b.safetensors"], a, a.Metadata.ToDictionary());
        Assert.Equal(File.ReadAllBytes(dir["a.safetensors"]), File.ReadAllBytes(dir["b.safetensors"]));
    }

    [Fact]
    public void Write_OverExistingFile_ReplacesIt()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["m.safetensors"], "old");
        SafeTensorsWriter.Write(dir["m.safetensors"], AwkwardTensors());
        using var file = SafeTensorsFile.Open(dir["m.safetensors"]);
        Assert.Equal(4, file.Names.Count);
    }

    [Fact]
    public void F16_WidensKnownBitPatternsExactly()
    {
        ushort[] bits = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x3555];
        float[] expected = [1f, -2f, 65504f, MathF.Pow(2, -24), 1023 * MathF.Pow(2, -24), -0f, float.PositiveInfinity, float.NegativeInfinity, 0.333251953125f];
        AssertWidening("F16", bits, expected, nanBits: 0x7E00);
    }

    [Fact]
    public void BF16_WidensKnownBitPatternsExactly()
    {
        ushort[] bits = [0x3F80, 0xC040, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x3EAB, 0xFF7F];
        float[] expected = [1f, -3f, BitConverter.UInt32BitsToSingle(0x00010000), -0f, float.PositiveInfinity, float.NegativeInfinity,
            0.333984375f, BitConverter.UInt32BitsToSingle(0xFF7F0000)];
        AssertWidening("BF16", bits, expected, nanBits: 0x7FC0);
    }

    private static void AssertWidening(string dtype, ushort[] bits, float[] expected, ushort nanBits)
    {
        using var dir = new TempFolder();
        ushort[] all = [.. bits, nanBits];
        var data = MemoryMarshal.AsBytes(all.AsSpan()).ToArray();
        string header = $"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":[{all.Length}],\"data_offsets\":[0,{data.Length}]}}}}";
        File.WriteAllBytes(dir["h.safetensors"], SafeTensorsBytes.Build(header, data));
        using var file = SafeTensorsFile.Open(dir["h.safetensors"]);
        Assert.Equal(Enum.Parse<TensorDType>(dtype), file.GetInfo("w").DType);
        var values = file.ReadFloat32("w");
        Assert.Equal(Bits(expected), Bits(values[..^1]));
        Assert.True(float.IsNaN(values[^1]));

        // Keeping the dtype on rewrite reproduces the stored bits exactly.
        SafeTensorsWriter.Write(dir["k.safetensors"], file, storeAs: SafeTensorsWriter.KeepDType);
        using var kept = SafeTensorsFile.Open(dir["k.safetensors"]);
        Assert.Equal(data, kept.RawBytes("w").ToArray());
    }

    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(1.00390625f, (ushort)0x3F80)]   // 1 + 2^-8: a tie, rounds to even 0x3F80
    [InlineData(1.01171875f, (ushort)0x3F82)]   // 1 + 3 * 2^-8: a tie, rounds to even 0x3F82
    [InlineData(1.0039064f, (ushort)0x3F81)]    // 1 + 2^-8 + 2^-23, just above the tie: rounds up
    [InlineData(-3.0f, (ushort)0xC040)]
    public void ToBFloat16Bits_RoundsToNearestEven(float value, ushort expected) =>
        Assert.Equal(expected, FloatWidening.ToBFloat16Bits(value));

    [SharedFact]
    public void Sharded_ReadsTheSameAsSingleFile()
    {
        using var dir = new TempFolder();
        var (_, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        Directory.CreateDirectory(dir["single"]);
        Directory.CreateDirectory(dir["sharded"]);
        SafeTensorsWriter.Write(Path.Combine(dir["single"], "model.safetensors"), tensors);
        var shards = SafeTensorsWriter.WriteSharded(dir["sharded"], tensors, maxShardBytes: 200_000);
        Assert.True(shards.Count >= 4, $"expected several shards, got {shards.Count}");

        using var single = SafeTensorsFolder.Open(dir["single"]);
        using var sharded = SafeTensorsFolder.Open(dir["sharded"]);
        Assert.IsType<SafeTensorsSharded>(sharded);
        Assert.Equal(single.Names.OrderBy(n => n, StringComparer.Ordinal), sharded.Names.OrderBy(n => n, StringComparer.Ordinal));
        foreach (var name in single.Names)
        {
            Assert.Equal(single.GetInfo(name), sharded.GetInfo(name), (a, b) => a.Name == b.Name && a.DType == b.DType && a.Shape.SequenceEqual(b.Shape));
            Assert.Equal(Bits(single.ReadFloat32(name)), Bits(sharded.ReadFloat32(name)));
        }
    }

    [Fact]
    public void Sharded_MissingShard_ThrowsMissingInput()
    {
        using var dir = new TempFolder();
        var shards = SafeTensorsWriter.WriteSharded(dir.Path, AwkwardTensors(), maxShardBytes: 16);
        Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"], shards);
        File.Delete(dir[shards[1]]);
        var ex = Assert.Throws<MissingInputException>(() => SafeTensorsFolder.Open(dir.Path));
        Assert.Contains(shards[1], ex.Message);
    }

    [Fact]
    public void Sharded_ShardPathLeavingFolder_IsRejected()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir[SafeTensorsSharded.IndexFileName], "{\"weight_map\":{\"w\":\"../x.safetensors\"}}");
        Assert.Throws<BadModelFileException>(() => SafeTensorsFolder.Open(dir.Path));
    }

    public static TheoryData<string, string, int, string> BadHeaders => new()
    {
        // header JSON, expected message fragment, data bytes, case
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", "out of range", 8, "offsets past the data" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,0]}}", "out of range", 8, "end before begin" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlap", 12, "overlap" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "needs 12 bytes", 8, "dtype x shape mismatch" },
        { "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", "unknown dtype 'Q4'", 8, "unknown dtype" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "not valid JSON", 8, "invalid JSON" },
        { "[1,2]", "must be a JSON object", 8, "not an object" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "non-negative", 8, "negative dim" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Open_BadHeader_ThrowsBadModelFileNamingTheProblem(string header, string fragment, int dataBytes, string what)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["bad.safetensors"], SafeTensorsBytes.Build(header, new byte[dataBytes]));
        var ex = Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(dir["bad.safetensors"]));
        Assert.Contains(fragment, ex.Message);
        Assert.Contains("bad.safetensors", ex.Message);
        Assert.False(string.IsNullOrEmpty(what));
    }

    [Theory]
    [InlineData(0UL, "invalid header length")]
    [InlineData(200_000_000UL, "invalid header length")]
    [InlineData(1000UL, "truncated")]
    public void Open_BadHeaderLength_ThrowsBadModelFile(ulong declared, string fragment)
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["bad.safetensors"], SafeTensorsBytes.Build("{}", [], declared));
        var ex = Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(dir["bad.safetensors"]));
        Assert.Contains(fragment, ex.Message);
    }

    [Fact]
    public void Open_TruncatedFile_ThrowsBadModelFile()
    {
        using var dir = new TempFolder();
        SafeTensorsWriter.Write(dir["m.safetensors"], AwkwardTensors());
        var bytes = File.ReadAllBytes(dir["m.safetensors"]);
        File.WriteAllBytes(dir["m.safetensors"], bytes[..^4]);
        var ex = Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(dir["m.safetensors"]));
        Assert.Contains("out of range", ex.Message);
        File.WriteAllBytes(dir["m.safetensors"], bytes[..5]);
        Assert.Contains("truncated", Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(dir["m.safetensors"])).Message);
    }

    [Fact]
    public void NonFloatTensor_IsValidatedButNotListed()
    {
        using var dir = new TempFolder();
        string header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]}}";
        File.WriteAllBytes(dir["m.safetensors"], SafeTensorsBytes.Build(header, new byte[20]));
        using var file = SafeTensorsFile.Open(dir["m.safetensors"]);
        Assert.Equal(["w"], file.Names);
        Assert.Equal("ids", Assert.Single(file.OtherTensors).Name);
        Assert.Contains("I64", Assert.Throws<BadModelFileException>(() => file.ReadFloat32("ids")).Message);
    }
}
