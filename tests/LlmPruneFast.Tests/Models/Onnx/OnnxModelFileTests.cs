using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>ONNX files written and read back by our reader and by ONNX Runtime, with and without external data.</summary>
public sealed class OnnxModelFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmprune-onnx-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (ModelProto Model, TokenBatch Batch) SmallModel()
    {
        var config = RandomLlama.Config(hidden: 16, heads: 4, kvHeads: 2, headDim: 4, widths: [24, 9], tied: false, mlpBias: true);
        using var tensors = RandomLlama.Tensors(config, seed: 11);
        var batch = TokenBatch.Create([RandomLlama.Ids(7, config.VocabSize, 1), RandomLlama.Ids(3, config.VocabSize, 2)], PadSide.Left);
        return (LlamaOnnxBuilder.Build(config, tensors, new LlamaOnnxOptions { Taps = true }), batch);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SavedModel_ReloadsEqual_AndOrtFromFileGivesSameLogitsAndTaps(bool external)
    {
        var (model, batch) = SmallModel();
        string path = Path.Combine(_dir, "model.onnx");
        OnnxModelFile.Save(model, path, external ? new OnnxSaveOptions { ExternalDataFile = "model.onnx.data", ExternalThresholdBytes = 256 } : null);

        Assert.Equal(external, File.Exists(Path.Combine(_dir, "model.onnx.data")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
        if (external)
            Assert.True(new FileInfo(path).Length < new FileInfo(Path.Combine(_dir, "model.onnx.data")).Length / 2, "weights should live in the data file");
        var reloaded = OnnxModelFile.Load(path);
        Assert.Equal(model, reloaded); // external tensors resolved back into raw_data: the same message

        using var inMemory = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1 });
        using var fromFile = OnnxLlamaRunner.Create(path, new OnnxRunnerOptions { IntraOpThreads = 1 });
        var a = inMemory.Run(batch, taps: true);
        var b = fromFile.Run(batch, taps: true);
        Assert.Equal(a.Logits, b.Logits);
        for (int l = 0; l < a.Taps!.Length; l++) Assert.Equal(a.Taps[l], b.Taps![l]);
    }

    [Fact]
    public void ExternalDataIsAlignedForMemoryMapping()
    {
        var (model, _) = SmallModel();
        string path = Path.Combine(_dir, "model.onnx");
        OnnxModelFile.Save(model, path, new OnnxSaveOptions { ExternalDataFile = "w.bin", ExternalThresholdBytes = 1 });
        using var stream = File.OpenRead(path);
        var raw = ModelProto.Parser.ParseFrom(stream);
        var offsets = raw.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External)
            .Select(t => long.Parse(t.ExternalData.Single(e => e.Key == "offset").Value)).ToArray();
        Assert.NotEmpty(offsets);
        Assert.All(offsets, o => Assert.Equal(0, o % 4096));
    }

    public static TheoryData<string, string, string> BadReferences => new()
    {
        { "w.bin", "99999999", "beyond the end" },
        { "../w.bin", "0", "relative path inside" },
        { "/tmp/w.bin", "0", "relative path inside" },
        { "missing.bin", "0", "does not exist" },
        { "w.bin", "-4", "not a non-negative integer" },
    };

    [Theory]
    [MemberData(nameof(BadReferences))]
    public void BadExternalReference_IsBadModelFile_NamingTheTensor(string location, string offset, string expected)
    {
        var (model, _) = SmallModel();
        string path = Path.Combine(_dir, "model.onnx");
        OnnxModelFile.Save(model, path, new OnnxSaveOptions { ExternalDataFile = "w.bin", ExternalThresholdBytes = 256 });
        using (var stream = File.OpenRead(path)) model = ModelProto.Parser.ParseFrom(stream);
        var tensor = model.Graph.Initializer.First(t => t.DataLocation == TensorProto.Types.DataLocation.External);
        tensor.ExternalData.Single(e => e.Key == "location").Value = location;
        tensor.ExternalData.Single(e => e.Key == "offset").Value = offset;
        using (var stream = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(model, stream);

        var ex = Assert.Throws<BadModelFileException>(() => OnnxModelFile.Load(path));
        Assert.Contains(tensor.Name, ex.Message);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void WrongExternalLength_AndGarbageFile_AreBadModelFile()
    {
        var (model, _) = SmallModel();
        string path = Path.Combine(_dir, "model.onnx");
        OnnxModelFile.Save(model, path, new OnnxSaveOptions { ExternalDataFile = "w.bin", ExternalThresholdBytes = 256 });
        using (var stream = File.OpenRead(path)) model = ModelProto.Parser.ParseFrom(stream);
        model.Graph.Initializer.First(t => t.DataLocation == TensorProto.Types.DataLocation.External)
            .ExternalData.Single(e => e.Key == "length").Value = "4";
        using (var stream = File.Create(path)) Google.Protobuf.MessageExtensions.WriteTo(model, stream);
        Assert.Contains("expected", Assert.Throws<BadModelFileException>(() => OnnxModelFile.Load(path)).Message);

        File.WriteAllBytes(path, [0xff, 0xff, 0xff, 0x01]);
        Assert.Throws<BadModelFileException>(() => OnnxModelFile.Load(path));
        Assert.Throws<MissingInputException>(() => OnnxModelFile.Load(Path.Combine(_dir, "absent.onnx")));
    }
}
