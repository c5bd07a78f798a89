using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Pipeline;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>
/// <see cref="LlamaOnnxBuilder.Write"/> streams the weights into model.onnx.data tensor by tensor: the files must equal
/// what the in-memory build saves (<see cref="LlamaOnnxModel.SaveOnnx"/>), and ONNX Runtime must load them and compute
/// the same logits. The 256 MB inline limit is lowered so the real stories260K takes the external path.
/// </summary>
public sealed class StreamedOnnxWriteTests
{
    private static long WeightBytes(LlamaConfig config, ITensorSource tensors) =>
        LlamaOnnxBuilder.Build(config, tensors).Graph.Initializer.Sum(t => (long)t.RawData.Length);

    /// <summary>Both ways into two folders; returns the file names each holds.</summary>
    private static (string[] Streamed, string[] InMemory) WriteBoth(TempFolder dir, LlamaConfig config, ITensorSource tensors, long inlineLimit)
    {
        Directory.CreateDirectory(dir["streamed"]);
        Directory.CreateDirectory(dir["memory"]);
        LlamaOnnxBuilder.Write(config, tensors, dir["streamed"], inlineLimitBytes: inlineLimit);
        LlamaOnnxModel.SaveOnnx(LlamaOnnxBuilder.Build(config, tensors), dir["memory"], inlineLimit);
        static string[] Names(string d) => Directory.GetFiles(d).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        return (Names(dir["streamed"]), Names(dir["memory"]));
    }

    [SharedTheory]
    [InlineData(0L)]          // external from the first initializer
    [InlineData(-1L)]         // switches to external half way through the layers (limit = half the weights)
    [InlineData(256L << 20)]  // the default: stories260K stays one self-contained file
    public void Stories260K_StreamedFiles_EqualTheInMemorySave_ByteForByte(long inlineLimit)
    {
        var (config, tensors) = (Stories260K.Config, Stories260K.Tensors);
        if (inlineLimit < 0) inlineLimit = WeightBytes(config, tensors) / 2;
        using var dir = new TempFolder();
        var (streamed, memory) = WriteBoth(dir, config, tensors, inlineLimit);
        Assert.Equal(memory, streamed);
        Assert.Equal(inlineLimit < 256L << 20 ? ["model.onnx", "model.onnx.data"] : ["model.onnx"], streamed);
        foreach (var name in streamed)
            Assert.True(File.ReadAllBytes(Path.Combine(dir["memory"], name)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(dir["streamed"], name))),
                $"{name} differs between the streamed and the in-memory write");
    }

    [SharedFact]
    public void Stories260K_StreamedExternalModel_LoadsInOnnxRuntime_WithTheInMemoryLogits()
    {
        var (config, tensors) = (Stories260K.Config, Stories260K.Tensors);
        using var dir = new TempFolder();
        string path = LlamaOnnxBuilder.Write(config, tensors, dir.Path, inlineLimitBytes: 0);
        Assert.True(new FileInfo(dir["model.onnx.data"]).Length > new FileInfo(path).Length * 10, "the weights are in the data file");
        var batch = TokenBatch.Create(Stories260K.EvalSequences(4));
        using var inMemory = OnnxLlamaRunner.Create(LlamaOnnxBuilder.Build(config, tensors), new OnnxRunnerOptions { IntraOpThreads = 1 });
        using var fromFile = OnnxLlamaRunner.Create(path, new OnnxRunnerOptions { IntraOpThreads = 1 });
        Assert.Equal(inMemory.Run(batch).Logits, fromFile.Run(batch).Logits);
    }

    [Fact]
    public void UntiedHeadAndBiases_StreamedFiles_EqualTheInMemorySave()
    {
        var config = RandomLlama.Config(hidden: 32, headDim: 8, vocab: 64, tied: false, mlpBias: true, widths: [48, 40]);   // tensors over the 1 KB threshold
        using var dir = new TempFolder();
        var (streamed, memory) = WriteBoth(dir, config, RandomLlama.Tensors(config, seed: 5), inlineLimit: 0);
        Assert.Equal(["model.onnx", "model.onnx.data"], streamed);
        Assert.Equal(memory, streamed);
        foreach (var name in streamed)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir["memory"], name)), File.ReadAllBytes(Path.Combine(dir["streamed"], name)));
    }

    [Fact]
    public void FailedWrite_LeavesNoDataFile()
    {
        var config = RandomLlama.Config(hidden: 32, headDim: 8, vocab: 64);
        var tensors = RandomLlama.Tensors(config, seed: 5);
        using var broken = new InMemoryTensorSource();
        foreach (var name in tensors.Names.Where(n => n != LlamaTensorNames.FinalNorm))   // the last tensor the graph reads
            broken.Add(name, tensors.GetInfo(name).Shape, tensors.GetData(name));
        using var dir = new TempFolder();
        Assert.Throws<BadModelFileException>(() => LlamaOnnxBuilder.Write(config, broken, dir.Path, inlineLimitBytes: 0));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
