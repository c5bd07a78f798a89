using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Tests.Reference;

namespace LlmPruneFast.Tests.Models;

/// <summary><c>llmprune import</c> run as a process: exit codes, messages, and nothing written on failure.</summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly TempFolder _dir = new();

    public void Dispose() => _dir.Dispose();

    private static (int Code, string Out, string Error) RunCli(params string[] args) => CliRunner.Run(args);

    /// <summary>Every file and folder under the temp folder with its size, to prove a failed command wrote nothing.</summary>
    private string[] Snapshot() => Directory.GetFileSystemEntries(_dir.Path, "*", SearchOption.AllDirectories)
        .Select(p => File.Exists(p) ? $"{p} {new FileInfo(p).Length}" : p).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Runs the CLI, expecting failure with <paramref name="code"/>, one `error:` line containing <paramref name="fragment"/>, and no change on disk.</summary>
    private void AssertFails(int code, string fragment, params string[] args)
    {
        var before = Snapshot();
        var (exit, _, error) = RunCli(args);
        Assert.True(exit == code, $"exit {exit}, expected {code}; stderr: {error}");
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains(fragment, line);
        Assert.Equal(before, Snapshot());
    }

    /// <summary>A valid tiny HF folder at <c>in/</c>, then <paramref name="damage"/> applied to it.</summary>
    private string HfInput(Action<string>? damage = null)
    {
        string input = _dir["in"];
        TinyLlama.WriteFolder(input);
        damage?.Invoke(input);
        return input;
    }

    private static void ReplaceWeights(string folder, string header, int dataBytes) =>
        File.WriteAllBytes(Path.Combine(folder, "model.safetensors"), SafeTensorsBytes.Build(header, new byte[dataBytes]));

    [SharedFact]
    public void Llama2c_Stories260K_ImportedFolderReproducesReference()
    {
        var (code, output, error) = RunCli("import", "--from", "llama2c", "--model", SharedData.Stories260KBin,
            "--tokenizer", SharedData.Stories260KTokenizer, "--out", _dir["s260"]);
        Assert.True(code == 0, error);
        Assert.Contains("model.safetensors", output);
        using var checkpoint = LlamaCheckpoint.Open(_dir["s260"]);
        Assert.Equal(File.ReadAllBytes(SharedData.Stories260KTokenizer), File.ReadAllBytes(checkpoint.TokenizerPath));
        Assert.Equal(1e-5, checkpoint.Config.RmsNormEps);
        Assert.Equal(512, checkpoint.Config.MaxPositionEmbeddings);
        Stories260KReference.Load().AssertReproducedBy(checkpoint.Config, checkpoint.Tensors);
    }

    [SharedFact]
    public void Llama2c_ImportTwice_IsByteIdentical()
    {
        foreach (var name in new[] { "a", "b" })
            Assert.Equal(0, RunCli("import", "--from", "llama2c", "--model", SharedData.Stories260KBin,
                "--tokenizer", SharedData.Stories260KTokenizer, "--out", _dir[name]).Code);
        foreach (var file in Directory.GetFiles(_dir["a"]).Select(Path.GetFileName))
            Assert.Equal(File.ReadAllBytes(Path.Combine(_dir["a"], file!)), File.ReadAllBytes(Path.Combine(_dir["b"], file!)));
    }

    [SharedFact] // import parses the tokenizer (issue 9): a real one is needed
    public void Hf_KeepDType_KeepsF16BitsAndSetsTorchDtype()
    {
        var config = TinyLlama.Config();
        File.Copy(SharedData.Stories260KTokenizer, _dir["tok.model"]);
        LlamaCheckpointWriter.Write(_dir["in"], config, TinyLlama.Tensors(config), _dir["tok.model"],
            new LlamaCheckpointWriteOptions { StoreAs = _ => TensorDType.F16 });
        var (code, _, error) = RunCli("import", "--from", "hf", "--model", _dir["in"], "--out", _dir["out"], "--dtype", "keep");
        Assert.True(code == 0, error);
        using var a = LlamaCheckpoint.Open(_dir["in"]);
        using var b = LlamaCheckpoint.Open(_dir["out"]);
        Assert.Equal("float16", b.Config.TorchDtype);
        var q = LlamaTensorNames.Q(1);
        Assert.Equal(TensorDType.F16, b.Tensors.GetInfo(q).DType);
        Assert.Equal(((SafeTensorsFile)a.Tensors).RawBytes(q).ToArray(), ((SafeTensorsFile)b.Tensors).RawBytes(q).ToArray());
    }

    [SharedFact]
    public void Llama2c_AsBF16_Sharded_RoundsEachWeightOnce_AndReloads()
    {
        var (code, _, error) = RunCli("import", "--from", "llama2c", "--model", SharedData.Stories260KBin,
            "--tokenizer", SharedData.Stories260KTokenizer, "--out", _dir["bf16"], "--dtype", "bf16", "--max-shard-mb", "0.1");
        Assert.True(code == 0, error);
        Assert.True(File.Exists(Path.Combine(_dir["bf16"], SafeTensorsSharded.IndexFileName)));
        Assert.True(Directory.GetFiles(_dir["bf16"], "model-*-of-*.safetensors").Length >= 3);
        using var checkpoint = LlamaCheckpoint.Open(_dir["bf16"]);
        Assert.Equal("bfloat16", checkpoint.Config.TorchDtype);
        var (_, original) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        foreach (var name in checkpoint.Tensors.Names)
        {
            Assert.Equal(TensorDType.BF16, checkpoint.Tensors.GetInfo(name).DType);
            var stored = checkpoint.Tensors.ReadFloat32(name);
            var source = original.GetData(name);
            for (int i = 0; i < stored.Length; i++)
                Assert.Equal(FloatWidening.ToBFloat16Bits(source[i]), (ushort)(BitConverter.SingleToUInt32Bits(stored[i]) >> 16));
        }
    }

    [Fact]
    public void Bad_UnknownDType_Exit2() => AssertFails(ExitCodes.BadArgument, "dtype",
        "import", "--from", "hf", "--model", HfInput(), "--out", _dir["out"], "--dtype", "f8");

    [Fact]
    public void Bad_TruncatedSafetensors_Exit3() => AssertFails(ExitCodes.BadModelFile, "model.safetensors",
        "import", "--from", "hf", "--model", HfInput(d =>
        {
            string path = Path.Combine(d, "model.safetensors");
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..^100]);
        }), "--out", _dir["out"]);

    [Fact]
    public void Bad_HeaderOffsetsOutOfRange_Exit3() => AssertFails(ExitCodes.BadModelFile, "out of range",
        "import", "--from", "hf", "--model", HfInput(d => ReplaceWeights(d, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8)),
        "--out", _dir["out"]);

    [Fact]
    public void Bad_OverlappingOffsets_Exit3() => AssertFails(ExitCodes.BadModelFile, "overlap",
        "import", "--from", "hf", "--model", HfInput(d => ReplaceWeights(d,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24)),
        "--out", _dir["out"]);

    [Fact]
    public void Bad_DTypeShapeMismatch_Exit3() => AssertFails(ExitCodes.BadModelFile, "needs 8 bytes",
        "import", "--from", "hf", "--model", HfInput(d => ReplaceWeights(d, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16)),
        "--out", _dir["out"]);

    [Fact]
    public void Bad_UnknownArchitecture_Exit4() => AssertFails(ExitCodes.UnsupportedArchitecture, "model_type 'gpt2'",
        "import", "--from", "hf", "--model", HfInput(d => EditConfig(d, "\"model_type\": \"llama\"", "\"model_type\": \"gpt2\"")), "--out", _dir["out"]);

    [Fact]
    public void Bad_RopeScaling_Exit4() => AssertFails(ExitCodes.UnsupportedArchitecture, "rope_scaling type 'yarn'",
        "import", "--from", "hf", "--model", HfInput(d => EditConfig(d, "\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0}")),
        "--out", _dir["out"]);

    [Fact]
    public void Bad_WordPieceTokenizerJson_Exit3_NamesTheField() => AssertFails(ExitCodes.BadModelFile, "field model.type is 'WordPiece'",
        "import", "--from", "hf", "--model", HfInput(d =>
        {
            File.Delete(Path.Combine(d, "tokenizer.model"));
            File.WriteAllText(Path.Combine(d, "tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}");
        }), "--out", _dir["out"]);

    [Fact]
    public void Bad_TokenizerJsonWithoutVocab_Exit3_NamesTheField() => AssertFails(ExitCodes.BadModelFile, "field model.vocab",
        "import", "--from", "hf", "--model", HfInput(d =>
        {
            File.Delete(Path.Combine(d, "tokenizer.model"));
            File.WriteAllText(Path.Combine(d, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\"}}");
        }), "--out", _dir["out"]);

    [Fact]
    public void Bad_MissingTokenizerInFolder_Exit5() => AssertFails(ExitCodes.MissingInput, "tokenizer.model",
        "import", "--from", "hf", "--model", HfInput(d => File.Delete(Path.Combine(d, "tokenizer.model"))), "--out", _dir["out"]);

    [SharedFact]
    public void Bad_MissingTokenizerFile_Exit5() => AssertFails(ExitCodes.MissingInput, "nope.model",
        "import", "--from", "llama2c", "--model", SharedData.Stories260KBin, "--tokenizer", _dir["nope.model"], "--out", _dir["out"]);

    [Fact]
    public void Bad_ModelFolderDoesNotExist_Exit5() => AssertFails(ExitCodes.MissingInput, "does not exist",
        "import", "--from", "hf", "--model", _dir["no/such/folder"], "--out", _dir["out"]);

    [Fact]
    public void Bad_Llama2cFileDoesNotExist_Exit5()
    {
        File.WriteAllBytes(_dir["tok.model"], [1]);
        AssertFails(ExitCodes.MissingInput, "missing.bin",
            "import", "--from", "llama2c", "--model", _dir["missing.bin"], "--tokenizer", _dir["tok.model"], "--out", _dir["out"]);
    }

    [Fact]
    public void Bad_OutputEqualsInput_Exit6()
    {
        string input = HfInput();
        AssertFails(ExitCodes.OutputConflict, "is the input", "import", "--from", "hf", "--model", input, "--out", input);
    }

    [Fact]
    public void Bad_OutputInsideInput_Exit6()
    {
        string input = HfInput();
        AssertFails(ExitCodes.OutputConflict, "inside the input", "import", "--from", "hf", "--model", input, "--out", Path.Combine(input, "pruned"));
    }

    [Fact]
    public void Bad_OutputNotEmpty_Exit6()
    {
        string input = HfInput();
        Directory.CreateDirectory(_dir["out"]);
        File.WriteAllText(_dir["out/keep.txt"], "mine");
        AssertFails(ExitCodes.OutputConflict, "not empty", "import", "--from", "hf", "--model", input, "--out", _dir["out"]);
        Assert.Equal("mine", File.ReadAllText(_dir["out/keep.txt"]));
    }

    [Fact]
    public void Bad_TruncatedLlama2c_Exit3()
    {
        Llama2cCheckpointTests.WriteTinyCheckpoint(_dir["tiny.bin"], truncateBy: 4);
        File.WriteAllBytes(_dir["tok.model"], [1]);
        AssertFails(ExitCodes.BadModelFile, "truncated",
            "import", "--from", "llama2c", "--model", _dir["tiny.bin"], "--tokenizer", _dir["tok.model"], "--out", _dir["out"]);
    }

    [Fact]
    public void Bad_Llama2cWithoutTokenizerFlag_Exit2()
    {
        Llama2cCheckpointTests.WriteTinyCheckpoint(_dir["tiny.bin"], truncateBy: 0);
        AssertFails(ExitCodes.BadArgument, "--tokenizer", "import", "--from", "llama2c", "--model", _dir["tiny.bin"], "--out", _dir["out"]);
    }

    [SharedFact] // import parses the tokenizer (issue 9): a real one is needed
    public void Llama2c_TinyUntied_ImportsWithLmHead()
    {
        Llama2cCheckpointTests.WriteTinyCheckpoint(_dir["tiny.bin"], truncateBy: 0);
        File.Copy(SharedData.Stories260KTokenizer, _dir["tok.model"]);
        var (code, _, error) = RunCli("import", "--from", "llama2c", "--model", _dir["tiny.bin"], "--tokenizer", _dir["tok.model"], "--out", _dir["out"]);
        Assert.True(code == 0, error);
        using var checkpoint = LlamaCheckpoint.Open(_dir["out"]);
        Assert.False(checkpoint.Config.TieWordEmbeddings);
        Assert.Equal([6L, 4L], checkpoint.Tensors.GetInfo(LlamaTensorNames.LmHead).Shape);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_dir.Path), p => Path.GetFileName(p).StartsWith('.'));
    }

    private static void EditConfig(string folder, string find, string replace)
    {
        string path = Path.Combine(folder, "config.json");
        string text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace));
    }
}
