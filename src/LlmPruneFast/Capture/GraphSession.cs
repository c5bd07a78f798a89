using Google.Protobuf;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LlmPruneFast.Capture;

/// <summary>
/// An ONNX Runtime session over a foreign graph, fed by an <see cref="IGraphFeed"/>: integer inputs of the names the
/// graph declares, float32 outputs returned row-major. Owns its native session: dispose it.
/// </summary>
public sealed class GraphSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IGraphFeed _feed;
    private readonly string[] _inputs;
    private readonly string _name;

    /// <param name="name">The graph's file, named in errors.</param>
    public GraphSession(ModelProto graph, IGraphFeed feed, int threads = 0, bool cuda = false, string name = "the ONNX graph")
    {
        _name = name;
        if (graph.CalculateSize() >= OnnxModelFile.ProtobufLimitBytes)
            throw new MemoryBudgetException($"ONNX graph is {graph.CalculateSize()} bytes, over the 2 GB limit of an in-memory session");
        using var so = Devices.OnnxProviders.NewOptions(threads);
        Devices.OnnxProviders.Configure(so, cuda);
        _session = new InferenceSession(graph.ToByteArray(), so);
        _feed = feed;
        _inputs = [.. _session.InputMetadata.Keys];
    }

    /// <summary>Names of the inputs the graph takes.</summary>
    public IReadOnlyList<string> Inputs => _inputs;

    /// <summary>Runs one batch and returns <paramref name="outputNames"/> as float32 arrays.</summary>
    public float[][] Run(TokenBatch batch, IReadOnlyList<string> outputNames)
    {
        var values = _feed.Inputs(batch, _inputs);
        var ort = new List<OrtValue>();
        try
        {
            long[] shape = [batch.Batch, batch.Seq];
            foreach (var name in _inputs)
            {
                if (!values.TryGetValue(name, out var data))
                    throw new UnsupportedArchitectureException($"graph input '{name}' is not supplied by the {_feed.GetType().Name}");
                var type = _session.InputMetadata[name].ElementDataType;
                ort.Add(type switch
                {
                    TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(data, shape),
                    TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(data.Select(v => checked((int)v)).ToArray(), shape),
                    _ => throw new UnsupportedArchitectureException($"graph input '{name}' is {type}; token inputs must be int64 or int32"),
                });
            }
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, _inputs, ort, outputNames);
            return results.Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToArray();
        }
        catch (OnnxRuntimeException ex)
        {
            // A graph that cannot take this batch (most often more positions than it holds) is the model's limit, not a crash.
            throw new BadModelFileException($"ONNX Runtime failed running '{_name}' on a batch of {batch.Batch} x {batch.Seq} tokens ({ex.Message}); if the graph holds fewer positions, lower --calib-len", ex);
        }
        finally
        {
            foreach (var v in ort) v.Dispose();
        }
    }

    public void Dispose() => _session.Dispose();
}
