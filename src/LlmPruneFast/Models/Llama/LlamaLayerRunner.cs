using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// The weights of one layer, filled for a <see cref="LlamaLayerGraph"/> and handed to ONNX Runtime once for all the
/// batches run through that layer. Dispose it before loading the next layer.
/// </summary>
public sealed class LoadedLayer : IDisposable
{
    internal LoadedLayer(int index, LlamaLayerGraph graph, float[][] weights)
    {
        Index = index;
        Graph = graph;
        Values = graph.Weights.Select((w, i) => OrtValue.CreateTensorValueFromMemory(weights[i], w.Shape)).ToArray();
        Bytes = weights.Sum(a => a.LongLength * sizeof(float));
    }

    public int Index { get; }
    internal LlamaLayerGraph Graph { get; }
    internal OrtValue[] Values { get; }
    /// <summary>Bytes of the filled weights.</summary>
    public long Bytes { get; }

    public void Dispose()
    {
        foreach (var v in Values) v.Dispose();
    }
}

/// <summary>
/// Runs LLaMA decoder layers one at a time in ONNX Runtime: one session per distinct (FFN width, FFN biases), each
/// serving every layer of that shape since the weights are graph inputs. Sequential execution and a fixed thread
/// count give bit-identical outputs run to run. Owns its sessions: dispose it.
/// </summary>
public sealed class LlamaLayerRunner(LlamaConfig config, int threads = 0, bool cuda = false) : IDisposable
{
    private readonly Dictionary<(int Width, bool Bias), (LlamaLayerGraph Graph, InferenceSession Session)> _sessions = [];
    private readonly RunOptions _runOptions = new();
    private readonly int _hidden = config.HiddenSize;

    /// <summary>Sessions opened so far (one per distinct layer shape).</summary>
    public int Sessions => _sessions.Count;

    /// <summary>
    /// Fills layer <paramref name="index"/>'s weights (width <paramref name="width"/>, FFN biases when
    /// <paramref name="ffnBias"/>) with <paramref name="read"/>: HF tensor name, rows, cols (0 for a vector).
    /// </summary>
    public LoadedLayer Load(int index, int width, bool ffnBias, Func<string, int, int, float[]> read)
    {
        var (graph, _) = Session(width, ffnBias);
        return new LoadedLayer(index, graph, graph.Fill(index, read));
    }

    /// <summary>
    /// Layer <paramref name="layer"/> on a [batch, seq, D] block of hidden states with its attention mask: writes the
    /// layer's output to <paramref name="hiddenOut"/> (may be null) and its FFN activations [batch, seq, N] to
    /// <paramref name="taps"/> (may be null).
    /// </summary>
    public void Run(LoadedLayer layer, float[] hidden, long[] mask, int batch, int seq, float[]? hiddenOut, float[]? taps)
    {
        long tokens = (long)batch * seq;
        if (hidden.LongLength != tokens * _hidden || mask.LongLength != tokens)
            throw new BadArgumentException($"hidden ({hidden.LongLength}) and mask ({mask.LongLength}) must hold {batch} x {seq} tokens");
        if (hiddenOut == null && taps == null) throw new BadArgumentException("a layer run needs an output");
        var (graph, session) = Session(layer.Graph.Width, layer.Graph.FfnBias);
        var inputNames = new List<string> { LlamaLayerGraph.Hidden, LlamaOnnxBuilder.AttentionMask };
        inputNames.AddRange(graph.Weights.Select(w => w.InputName));
        var owned = new List<OrtValue>();
        try
        {
            owned.Add(OrtValue.CreateTensorValueFromMemory(hidden, [batch, seq, _hidden]));
            owned.Add(OrtValue.CreateTensorValueFromMemory(mask, [batch, seq]));
            var inputs = owned.Concat(layer.Values).ToArray();
            var outputNames = new List<string>();
            var outputs = new List<OrtValue>();
            if (hiddenOut != null)
            {
                if (hiddenOut.LongLength != tokens * _hidden) throw new BadArgumentException($"hidden output holds {hiddenOut.LongLength} values, expected {tokens * _hidden}");
                outputNames.Add(LlamaLayerGraph.HiddenOut);
                outputs.Add(OrtValue.CreateTensorValueFromMemory(hiddenOut, [batch, seq, _hidden]));
            }
            if (taps != null)
            {
                if (taps.LongLength != tokens * graph.Width) throw new BadArgumentException($"tap output holds {taps.LongLength} values, expected {tokens * graph.Width}");
                outputNames.Add(LlamaLayerGraph.Tap);
                outputs.Add(OrtValue.CreateTensorValueFromMemory(taps, [batch, seq, graph.Width]));
            }
            owned.AddRange(outputs);
            session.Run(_runOptions, inputNames, inputs, outputNames, outputs);
        }
        finally
        {
            foreach (var v in owned) v.Dispose();
        }
    }

    private (LlamaLayerGraph, InferenceSession) Session(int width, bool ffnBias)
    {
        if (_sessions.TryGetValue((width, ffnBias), out var s)) return s;
        var graph = LlamaLayerGraph.Build(config, width, ffnBias);
        using var so = Devices.OnnxProviders.NewOptions(threads);
        Devices.OnnxProviders.Configure(so, cuda); // the CPU provider always; CUDA first when asked for (--device)
        var session = new InferenceSession(graph.Model.ToByteArray(), so);
        _sessions[(width, ffnBias)] = (graph, session);
        return (graph, session);
    }

    public void Dispose()
    {
        foreach (var (_, session) in _sessions.Values) session.Dispose();
        _sessions.Clear();
        _runOptions.Dispose();
    }
}
