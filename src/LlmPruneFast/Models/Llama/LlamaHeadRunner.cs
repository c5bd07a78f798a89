using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using LlmPruneFast.Models.Onnx;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The final RMSNorm and classifier of a LLaMA model run on its own, over any number of final hidden states at a time:
/// what the layer-streamed evaluation needs after the last layer, so that logits are made a chunk of positions at a
/// time and the [tokens x vocab] matrix never exists whole. The graph is the whole-model graph's head (the same
/// emitter and the same MatMul on W^T); the weights are graph inputs filled once. Owns its session: dispose it.
/// </summary>
public sealed class LlamaHeadRunner : IDisposable
{
    private const string Hidden = "hidden";
    private const string HeadInput = "lm_head.weight.T";
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly OrtValue[] _weights;

    /// <summary>Hidden size D: the width of each input row.</summary>
    public int HiddenSize { get; }
    /// <summary>Vocabulary size: the width of each logits row.</summary>
    public int Vocab { get; }
    /// <summary>Bytes of the filled weights (norm and W^T).</summary>
    public long Bytes { get; }

    /// <summary>
    /// The head of <paramref name="config"/> read from <paramref name="tensors"/>: model.norm.weight and lm_head.weight,
    /// or the embedding when the head is tied and absent, as <see cref="LlamaOnnxBuilder"/> does.
    /// </summary>
    public LlamaHeadRunner(LlamaConfig config, ITensorSource tensors, int threads = 0, bool cuda = false)
    {
        int d = config.HiddenSize, v = config.VocabSize;
        (HiddenSize, Vocab) = (d, v);
        var norm = LlamaLayerGraph.ReadChecked(tensors, LlamaTensorNames.FinalNorm, d);
        string headName = config.TieWordEmbeddings && !tensors.Contains(LlamaTensorNames.LmHead) ? LlamaTensorNames.Embedding : LlamaTensorNames.LmHead;
        var headT = LlamaLayerEmitter.Transpose(LlamaLayerGraph.ReadChecked(tensors, headName, v, d), v, d);
        Bytes = (norm.LongLength + headT.LongLength) * sizeof(float);

        var g = new OnnxGraphWriter("llama_head");
        g.Input(Hidden, DT.Float, "tokens", (long)d);
        var weights = new InputVectors(g);
        string x = LlamaLayerEmitter.RmsNorm(g, weights, Hidden, LlamaTensorNames.FinalNorm, d, g.Scalar("rms_eps", (float)config.RmsNormEps), "final_norm");
        g.Input(HeadInput, DT.Float, (long)d, (long)v);
        g.Op("MatMul", LlamaOnnxBuilder.Logits, [x, HeadInput]);
        g.Output(LlamaOnnxBuilder.Logits, DT.Float, "tokens", (long)v);
        var model = g.ToModel(17, "LlmPruneFast", new Dictionary<string, string> { ["llmprune.architecture"] = "llama-head" });
        using var so = Devices.OnnxProviders.NewOptions(threads);
        Devices.OnnxProviders.Configure(so, cuda);
        _session = new InferenceSession(model.ToByteArray(), so);
        _weights = [OrtValue.CreateTensorValueFromMemory(norm, [d]), OrtValue.CreateTensorValueFromMemory(headT, [d, v])];
    }

    /// <summary>
    /// Logits [count, vocab] of <paramref name="count"/> final hidden states [count, D] (the last layer's outputs,
    /// before the final norm), written to <paramref name="logits"/>.
    /// </summary>
    public void Run(float[] hidden, int count, float[] logits)
    {
        if (count < 1 || hidden.LongLength < (long)count * HiddenSize || logits.LongLength < (long)count * Vocab)
            throw new BadArgumentException($"head run of {count} positions needs {count} x {HiddenSize} inputs and {count} x {Vocab} outputs");
        using var input = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, hidden.AsMemory(0, count * HiddenSize), [count, HiddenSize]);
        using var output = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, logits.AsMemory(0, count * Vocab), [count, Vocab]);
        _session.Run(_runOptions, [Hidden, LlamaTensorNames.FinalNorm, HeadInput], [input, _weights[0], _weights[1]], [LlamaOnnxBuilder.Logits], [output]);
    }

    public void Dispose()
    {
        foreach (var w in _weights) w.Dispose();
        _session.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>Declares the final norm's weight as a graph input.</summary>
    private sealed class InputVectors(OnnxGraphWriter g) : ILayerWeights
    {
        public string Vector(string name, int length)
        {
            g.Input(name, DT.Float, (long)length);
            return name;
        }

        public string Transposed(string name, int rows, int cols) => throw new NotSupportedException();
        public string TransposedSideBySide(string[] names, int[] rows, int cols) => throw new NotSupportedException();
    }
}
