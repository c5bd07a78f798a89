using System.Text;
using LlmPruneFast.Information;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Pruning;

namespace LlmPruneFast.Tests.Robustness;

/// <summary>Each malformed input of issue 9's campaigns is refused by its reader with a typed error naming it.</summary>
public sealed class ReaderRefusalTests
{
    private const string F32x2 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

    private static string Write(TempFolder dir, string name, byte[] bytes)
    {
        File.WriteAllBytes(dir[name], bytes);
        return dir[name];
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}", "integers")]                  // non-number offsets
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "the data section has 8 bytes")] // gap at the end
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "belong to no tensor")]         // gap at the start
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "overlap")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}", "not valid JSON")] // nested duplicate
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "")]
    public void SafeTensorsHeaderFollowsTheFormatRules(string header, string expected)
    {
        using var dir = new TempFolder();
        string path = Write(dir, "m.safetensors", SafeTensorsBytes.Build(header, new byte[8]));
        var ex = Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.Contains(expected, ex.Message);
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void SafeTensorsInvalidUtf8AndLengthPrefixOffByOneAreRefused()
    {
        using var dir = new TempFolder();
        var bytes = SafeTensorsBytes.Build(F32x2, new byte[8]);
        bytes[10] = 0xC3; // "{"\xC3..." : a lead byte without its continuation inside the tensor name
        Assert.Contains("UTF-8", Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(Write(dir, "u.safetensors", bytes))).Message);
        int n = Encoding.UTF8.GetByteCount(F32x2);
        foreach (int delta in new[] { -1, 1 })
        {
            var shifted = SafeTensorsBytes.Build(F32x2 + " ", new byte[8], declaredHeaderLength: (ulong)(n + 1 + delta));
            Assert.Throws<BadModelFileException>(() => SafeTensorsFile.Open(Write(dir, $"p{delta}.safetensors", shifted)));
        }
        // The control: the same file with the right prefix (and a space of padding) opens.
        using var ok = SafeTensorsFile.Open(Write(dir, "ok.safetensors", SafeTensorsBytes.Build(F32x2 + " ", new byte[8])));
        Assert.Equal(2, ok.ReadFloat32("a").Length);
    }

    [Fact]
    public void HuggingFaceCacheLayoutWithSymlinkedBlobsLoads()
    {
        using var dir = new TempFolder();
        TinyLlama.WriteFolder(dir["real"]);
        // snapshots/REV/* are links into blobs/, exactly as huggingface_hub lays out its cache.
        Directory.CreateDirectory(dir["blobs"]);
        Directory.CreateDirectory(dir["snapshots/rev"]);
        foreach (var f in Directory.GetFiles(dir["real"]))
        {
            string blob = dir["blobs/" + Guid.NewGuid().ToString("N")];
            File.Move(f, blob);
            File.CreateSymbolicLink(dir["snapshots/rev/" + Path.GetFileName(f)], Path.GetRelativePath(dir["snapshots/rev"], blob));
        }
        using var model = LlamaCheckpoint.Open(dir["snapshots/rev"]);
        Assert.Equal(TinyLlama.Config().NumHiddenLayers, model.Config.NumHiddenLayers);
        Assert.Equal(TinyLlama.Tensors(TinyLlama.Config()).ReadFloat32(LlamaTensorNames.Embedding), model.Tensors.ReadFloat32(LlamaTensorNames.Embedding));
    }

    private static string Config(string replace, string with)
    {
        string json = HfConfig.ToJson(TinyLlama.Config());
        Assert.Contains(replace, json);
        return json.Replace(replace, with);
    }

    [Theory]
    [InlineData("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1000000000", "num_hidden_layers")]
    [InlineData("\"max_position_embeddings\": 32", "\"max_position_embeddings\": 1e9", "max_position_embeddings")]
    [InlineData("\"bos_token_id\": 1", "\"bos_token_id\": [1.5]", "bos_token_id")]
    [InlineData("\"bos_token_id\": 1", "\"bos_token_id\": 99", "bos_token_id")]
    [InlineData("\"rope_theta\": 10000", "\"rope_theta\": 0", "rope_theta")]
    [InlineData("\"vocab_size\": 16", "\"vocab_size\": 16, \"vocab_size\": 17", "")]
    [InlineData("\"hidden_size\": 8", "\"hidden_size\": 131073", "hidden_size")]
    public void ConfigFieldsAreRangeCheckedBeforeAllocation(string replace, string with, string named)
    {
        var ex = Assert.Throws<BadModelFileException>(() => HfConfig.Parse(Config(replace, with), "config.json"));
        Assert.Contains(named, ex.Message);
    }

    [Fact]
    public void WeightsMustMatchTheConfig()
    {
        using var dir = new TempFolder();
        var five = TinyLlama.Config() with { NumHiddenLayers = 3 };
        TinyLlama.WriteFolder(dir["m"], five);
        File.WriteAllText(dir["m/config.json"], HfConfig.ToJson(five with { NumHiddenLayers = 2 }));
        var ex = Assert.Throws<BadModelFileException>(() => LlamaCheckpoint.Open(dir["m"]));
        Assert.Contains("layer 2", ex.Message);
    }

    [Fact]
    public void NonFiniteWeightsAreBadData()
    {
        using var dir = new TempFolder();
        var config = TinyLlama.Config();
        var tensors = TinyLlama.Tensors(config);
        tensors.GetData(LlamaTensorNames.Down(1))[5] = float.NaN;
        string tok = dir["tok.model"];
        File.WriteAllBytes(tok, [1, 2, 3]);
        LlamaCheckpointWriter.Write(dir["m"], config, tensors, tok);
        var ex = Assert.Throws<BadDataException>(() => LlamaCheckpoint.Open(dir["m"]));
        Assert.Contains(LlamaTensorNames.Down(1), ex.Message);
        Assert.Equal(ExitCodes.BadData, ex.ExitCode);
    }

    [Theory]
    [InlineData(int.MinValue)]
    [InlineData(1 << 30)]
    public void Llama2cHeaderFieldsAreRangeChecked(int vocab)
    {
        using var dir = new TempFolder();
        var bytes = new byte[28 + 64];
        int[] header = [4, 6, 1, 2, 1, vocab, 3];
        Buffer.BlockCopy(header, 0, bytes, 0, 28);
        string path = Write(dir, "m.bin", bytes);
        Assert.Throws<BadModelFileException>(() => Llama2cCheckpoint.Read(path));
    }

    [Fact]
    public void EmptyOrDamagedTokenizerIsABadModelFile()
    {
        using var dir = new TempFolder();
        Assert.Contains("empty", Assert.Throws<BadModelFileException>(() => LlamaTokenizerLoader.Load(Write(dir, "t.model", []))).Message);
        Assert.Throws<BadModelFileException>(() => LlamaTokenizerLoader.Load(Write(dir, "u.model", [0x0A, 0x02, 0x0A, 0x00])));
    }

    [Fact]
    public void PlanReaderRefusesShortHashesNumbersForEntriesAndHugeTokenCounts()
    {
        var (plan, _, _, _) = PlanJsonTests.TwoLayerPlan();
        string json = Encoding.UTF8.GetString(PlanJson.Serialize(plan));
        string hash = plan.Model.FfnSha256;
        Assert.Contains("ffn_sha256", Assert.Throws<BadModelFileException>(() => PlanJson.Parse(json.Replace(hash, "abc"))).Message);
        int removed = json.IndexOf("\"removed\": [", StringComparison.Ordinal) + "\"removed\": [".Length;
        Assert.Throws<BadModelFileException>(() => PlanJson.Parse(json.Insert(removed, "7, ")));
        Assert.Contains("tokens", Assert.Throws<BadModelFileException>(() => PlanJson.Parse(json.Replace("\"tokens\": 400", "\"tokens\": 2147483648"))).Message);
        var bad = Encoding.UTF8.GetBytes(json);
        bad[json.IndexOf("mi-greedy", StringComparison.Ordinal)] = 0xFF;
        Assert.Contains("UTF-8", Assert.Throws<BadModelFileException>(() => PlanJson.Parse(bad)).Message);
    }

    [Theory]
    [InlineData("(x, 4)")]
    [InlineData("(200L, 4L)")]
    [InlineData("(-1, 4)")]
    public void NpyShapesAreParsedStrictly(string shape)
    {
        using var dir = new TempFolder();
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        var header = Encoding.ASCII.GetBytes(dict.PadRight(118) + "\n");
        var bytes = new byte[10 + header.Length + 16];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BitConverter.GetBytes((ushort)header.Length).CopyTo(bytes, 8);
        header.CopyTo(bytes, 10);
        string path = Write(dir, "z.npy", bytes);
        Assert.Throws<BadDataException>(() => ActivationFiles.Read(path, 4));
    }

    [Fact]
    public void TinyRatiosThatRemoveNothingAreRefused()
    {
        var ex = Assert.Throws<BadArgumentException>(() => new PruningBudget(BudgetKind.Uniform, 0.001, 0.05).RequireSomeRemoval([172, 172]));
        Assert.Contains("removes no neuron", ex.Message);
        Assert.Throws<BadArgumentException>(() => new PruningBudget(BudgetKind.Global, 0.001, 0.05).RequireSomeRemoval([172, 172]));
        new PruningBudget(BudgetKind.Uniform, 0.003, 0.05).RequireSomeRemoval([172, 172]); // removes one per layer: accepted
    }
}
