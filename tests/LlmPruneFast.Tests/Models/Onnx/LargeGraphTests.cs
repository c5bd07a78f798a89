using Google.Protobuf;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Tests.Models.Onnx;

/// <summary>
/// Graphs over the 2 GB protobuf limit go to ONNX Runtime through a temporary external-data copy. The limit is
/// lowered (<see cref="OnnxRunnerOptions.InMemoryLimitBytes"/>) so a tiny model takes the same path.
/// </summary>
public sealed class LargeGraphTests
{
    [Fact]
    public void SerializedSize_EqualsProtobufSize_OnRealGraphs()
    {
        var config = TinyLlama.Config();
        var model = LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config));
        Assert.Equal(model.CalculateSize(), OnnxModelFile.SerializedSize(model));
        Assert.Equal(model.ToByteArray().LongLength, OnnxModelFile.SerializedSize(model));
    }

    [Fact]
    public void SerializedSize_DoesNotWrapPast2GB()
    {
        // Nine 256 MiB initializers sharing one buffer (ByteStrings are immutable views): 2.25 GiB of graph, 256 MiB of memory.
        var config = TinyLlama.Config();
        var model = LlamaOnnxBuilder.Build(config, TinyLlama.Tensors(config));
        long small = OnnxModelFile.SerializedSize(model);
        var big = UnsafeByteOperations.UnsafeWrap(new byte[1 << 28]);
        for (int i = 0; i < 9; i++)
            model.Graph.Initializer.Add(new LlmPruneFast.Models.Onnx.Proto.TensorProto { Name = $"big{i}", DataType = 2, Dims = { 1L << 28 }, RawData = big });
        long size = OnnxModelFile.SerializedSize(model);
        Assert.True(size > small + 9L * (1 << 28), $"size {size}");
        Assert.True(size < small + 9L * (1 << 28) + 1024, $"size {size}");
    }

    [Fact]
    public void ExternalDataSession_GivesIdenticalLogits_AndRemovesItsTempFolder()
    {
        var config = RandomLlama.Config(hidden: 32, headDim: 8, ffn: 48, vocab: 64);   // tensors over the 1 KB external threshold
        var model = LlamaOnnxBuilder.Build(config, RandomLlama.Tensors(config, seed: 3));
        long[] ids = [1, 5, 9, 2, 7, 3, 11, 4];
        long[] mask = Enumerable.Repeat(1L, ids.Length).ToArray();
        var before = Directory.GetDirectories(Path.GetTempPath(), "llmprune-graph-*").ToHashSet();
        float[] inMemory, external;
        using (var runner = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1 }))
        {
            Assert.False(runner.UsesExternalData);
            inMemory = runner.Run(ids, mask, 1, ids.Length).Logits;
        }
        string scratch;
        using (var runner = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1, InMemoryLimitBytes = 1024 }))
        {
            Assert.True(runner.UsesExternalData);
            var created = Directory.GetDirectories(Path.GetTempPath(), "llmprune-graph-*").Where(d => !before.Contains(d)).ToArray();
            scratch = Assert.Single(created);
            long size = OnnxModelFile.SerializedSize(model);
            long data = new FileInfo(Path.Combine(scratch, "model.onnx.data")).Length;   // tensors of 1 KB and more are outside
            Assert.True(data > 0);
            Assert.True(new FileInfo(Path.Combine(scratch, "model.onnx")).Length < size - data / 2);
            external = runner.Run(ids, mask, 1, ids.Length).Logits;
        }
        Assert.False(Directory.Exists(scratch));
        Assert.Equal(inMemory, external);
    }

    [SharedFact]
    public void Stories260K_ExternalDataSession_GivesIdenticalLogits()
    {
        var (config, tensors) = Llama2cCheckpoint.Read(SharedData.Stories260KBin);
        var model = LlamaOnnxBuilder.Build(config, tensors);
        long[] ids = Enumerable.Range(0, 32).Select(i => (long)(1 + (i * 37) % 500)).ToArray();
        long[] mask = Enumerable.Repeat(1L, ids.Length).ToArray();
        using var a = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1 });
        using var b = OnnxLlamaRunner.Create(model, new OnnxRunnerOptions { IntraOpThreads = 1, InMemoryLimitBytes = 1 });
        Assert.True(b.UsesExternalData);
        Assert.Equal(a.Run(ids, mask, 1, ids.Length).Logits, b.Run(ids, mask, 1, ids.Length).Logits);
    }
}
