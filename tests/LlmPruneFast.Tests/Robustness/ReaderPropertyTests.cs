using System.Text;
using CsCheck;
using Google.Protobuf;
using LlmPruneFast.Information;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pruning;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>
/// Property: every reader, given any mutation of a valid file, either reads it or refuses it with a typed
/// <see cref="LlmPruneException"/>, never another exception (which the CLI could only report as a bug).
/// 10,000 generated cases per reader from CsCheck generators, drawn from a fixed PCG seed so every run checks the
/// same cases; a failure names the case index, which reproduces it.
/// </summary>
public static class ReaderCampaign
{
    public const int Cases = 10_000;
    private const ulong Seed = 20261129;

    /// <summary>One edit of a byte string: what, where (fraction of the length), how long, and a value.</summary>
    public readonly record struct Edit(int Kind, double At, int Length, int Value);

    /// <summary>1 to 4 edits: byte set, delete, insert, duplicate, truncate, or a number/token replaced by an extreme one.</summary>
    public static readonly Gen<Edit[]> Edits =
        Gen.Select(Gen.Int[0, 6], Gen.Double[0, 1], Gen.Int[1, 16], Gen.Int[0, 255], (k, at, len, v) => new Edit(k, at, len, v)).Array[1, 4];

    /// <summary>Extreme tokens swapped in for a number or string: the values the campaigns found crashes with.</summary>
    private static readonly string[] Extremes =
    [
        "-1", "0", "1e9", "1e400", "-2147483648", "2147483648", "9223372036854775808", "1.5", "[1.5]", "\"x\"", "null", "true", "[]", "{}",
        "\"\\u0000\"", "\"\\ud800\"", "NaN", "-0", "4294967296", "[0, 0]", "[\"0\", 8]", "{\"a\": 1, \"a\": 2}",
    ];

    public static byte[] Apply(byte[] seed, Edit[] edits)
    {
        var b = new List<byte>(seed);
        foreach (var e in edits)
        {
            int at = Math.Min(b.Count, (int)(e.At * b.Count));
            int len = Math.Min(e.Length, b.Count - at);
            switch (e.Kind)
            {
                case 0: if (at < b.Count) b[at] = (byte)e.Value; break;                       // set a byte
                case 1: b.RemoveRange(at, len); break;                                            // delete
                case 2: b.InsertRange(at, Enumerable.Range(0, e.Length).Select(i => (byte)(e.Value * 31 + i * 7))); break; // insert
                case 3: b.InsertRange(at, b.GetRange(at, len)); break;                            // duplicate
                case 4: if (e.Value < 32) b.RemoveRange(at, b.Count - at); break;                // truncate (rarely)
                case 5:                                                                           // a number run -> an extreme token
                {
                    int start = b.FindIndex(at, c => c is >= (byte)'0' and <= (byte)'9');
                    if (start < 0) break;
                    int end = start;
                    while (end < b.Count && (b[end] is >= (byte)'0' and <= (byte)'9' || b[end] is (byte)'.' or (byte)'e' or (byte)'-')) end++;
                    b.RemoveRange(start, end - start);
                    b.InsertRange(start, Encoding.UTF8.GetBytes(Extremes[e.Value % Extremes.Length]));
                    break;
                }
                case 6:                                                                           // a little-endian int32 -> an extreme
                {
                    int pos = at / 4 * 4;
                    if (pos + 4 > b.Count) break;
                    int[] ints = [int.MinValue, int.MaxValue, -1, 0, 1 << 30, 1_000_000_000, e.Value, -e.Value];
                    var v = BitConverter.GetBytes(ints[e.Length % ints.Length]);
                    for (int i = 0; i < 4; i++) b[pos + i] = v[i];
                    break;
                }
            }
        }
        return [.. b];
    }

    /// <summary>Runs <paramref name="read"/> on <see cref="Cases"/> mutations of <paramref name="seed"/>; returns (read, refused).</summary>
    public static (int Read, int Refused) Campaign(byte[] seed, Action<byte[]> read, uint stream, int cases = Cases)
    {
        var pcg = new PCG(stream, Seed);
        int ok = 0, refused = 0;
        read(seed); // the unmutated control must read
        for (int i = 0; i < cases; i++)
        {
            var input = Apply(seed, Edits.Generate(pcg, null, out _));
            try
            {
                read(input);
                ok++;
            }
            catch (LlmPruneException)
            {
                refused++;
            }
            catch (Exception ex)
            {
                Assert.Fail($"case {i} (stream {stream}): {ex.GetType().Name}: {ex.Message}\ninput (base64): {Convert.ToBase64String(input)}\n{ex.StackTrace}");
            }
        }
        return (ok, refused);
    }

    public static void AssertBoth((int Read, int Refused) r)
    {
        Assert.Equal(Cases, r.Read + r.Refused);
        Assert.True(r.Refused > Cases / 20, $"only {r.Refused} refusals: the mutations do not reach the checks"); // the property is not vacuous
    }

    /// <summary>A valid single-file checkpoint of the tiny model, as bytes.</summary>
    public static byte[] SafeTensorsSeed()
    {
        using var dir = new TempFolder();
        TinyLlama.WriteFolder(dir.Path + "/m");
        return File.ReadAllBytes(dir.Path + "/m/model.safetensors");
    }

    /// <summary>The safetensors reader on bytes: length prefix, then header against the file length.</summary>
    public static void ReadSafeTensors(byte[] file)
    {
        var prefix = new byte[8];
        file.AsSpan(0, Math.Min(8, file.Length)).CopyTo(prefix);
        long n = SafeTensorsHeader.ReadHeaderLength(prefix, file.Length, "fuzz.safetensors");
        var header = SafeTensorsHeader.Parse(file.AsSpan(8, (int)n), file.Length, "fuzz.safetensors");
        foreach (var e in header.Entries) _ = e.ByteLength;
    }


    public static byte[] ConfigSeed() => Encoding.UTF8.GetBytes(HfConfig.ToJson(TinyLlama.Config(widths: [12, 10])));

    public static void ReadConfig(byte[] json)
    {
        var config = HfConfig.Parse(Encoding.UTF8.GetString(json), "config.json");
        _ = LlamaTensorShapes.Expected(config).Count; // what is allocated from a config right after parsing
    }


    public static byte[] Llama2cSeed()
    {
        string path = Path.Combine(Path.GetTempPath(), $"llmprune-seed-{Guid.NewGuid():N}.bin");
        try
        {
            Llama2cCheckpointTests.WriteTinyCheckpoint(path, truncateBy: 0);
            return File.ReadAllBytes(path);
        }
        finally { File.Delete(path); }
    }


    /// <summary>The llama2.c reader on bytes, then the finiteness check import runs.</summary>
    public static void ReadLlama2c(byte[] bytes)
    {
        var (_, tensors) = Llama2cCheckpoint.Read(new MemoryStream(bytes, writable: false), "fuzz.bin");
        FiniteWeights.Check(tensors, "fuzz.bin");
    }

    /// <summary>The activation-matrix reader (.npy when the magic is there, else raw float32) on bytes, 3 columns.</summary>
    public static void ReadNpy(byte[] bytes) => ActivationFiles.Read(new MemoryStream(bytes, writable: false), "fuzz.npy", 3);

    /// <summary>The ONNX reader on bytes; external data resolved beside <paramref name="path"/> (m.onnx.data, 64 bytes).</summary>
    public static void ReadOnnx(byte[] bytes, string path) => OnnxModelFile.Load(new MemoryStream(bytes, writable: false), path);

    public static byte[] PlanSeed() => PlanJson.Serialize(PlanJsonTests.TwoLayerPlan("mi-random-pairs").Plan);


    public static byte[] NpySeed()
    {
        using var dir = new TempFolder();
        var values = Enumerable.Range(0, 12 * 3).Select(i => (float)Math.Sin(i)).ToArray();
        ActivationFiles.WriteMatrix(dir["z.npy"], values, 12, 3);
        return File.ReadAllBytes(dir["z.npy"]);
    }


    /// <summary>A small ONNX model with one inline and one external initializer (the external data path is the risky one).</summary>
    public static byte[] OnnxSeed()
    {
        var graph = new GraphProto { Name = "g" };
        var inline = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(new byte[16]) };
        inline.Dims.Add(4);
        var external = new TensorProto { Name = "x", DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        external.Dims.Add(2);
        external.Dims.Add(3);
        external.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "m.onnx.data" });
        external.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "8" });
        external.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "24" });
        graph.Initializer.Add(inline);
        graph.Initializer.Add(external);
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        return model.ToByteArray();
    }

}

/// <summary>The property of <see cref="ReaderCampaign"/> over every reader, in the regular test run.</summary>
public sealed class ReaderPropertyTests
{
    [Fact]
    public void SafeTensorsHeader_NeverCrashes() => ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.SafeTensorsSeed(), ReaderCampaign.ReadSafeTensors, 1));

    [Fact]
    public void Config_NeverCrashes() => ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.ConfigSeed(), ReaderCampaign.ReadConfig, 2));

    [Fact]
    public void Llama2c_NeverCrashes()
    {
        ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.Llama2cSeed(), ReaderCampaign.ReadLlama2c, 3));
    }

    [Fact]
    public void Plan_NeverCrashes() => ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.PlanSeed(), bytes => PlanJson.Parse(bytes, "plan.json"), 4));

    [Fact]
    public void Npy_NeverCrashes()
    {
        ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.NpySeed(), ReaderCampaign.ReadNpy, 5));
    }

    [Fact]
    public void Onnx_NeverCrashes()
    {
        using var dir = new TempFolder();
        File.WriteAllBytes(dir["m.onnx.data"], new byte[64]);
        ReaderCampaign.AssertBoth(ReaderCampaign.Campaign(ReaderCampaign.OnnxSeed(), bytes => ReaderCampaign.ReadOnnx(bytes, dir["m.onnx"]), 6));
    }
}
