using LlmPruneFast.Capture;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// The FFN blocks of a foreign ONNX graph seen as <see cref="FfnLayer"/>s (gate/up rows and down columns read out of
/// each block's weight slices), with optional calibration activations.
/// </summary>
public sealed class GraphLayerSource(OnnxGraphModel model, IReadOnlyList<LayerActivations>? activations = null) : ILayerSource
{
    public int LayerCount => model.Blocks.Count;

    public FfnLayer Layer(int index) => Read(model, model.Blocks[index]);

    public LayerActivations Activations(int index, CancellationToken ct) => activations?[index]
        ?? throw new MissingInputException($"no calibration activations for FFN block {index} (pass --calib)");

    /// <summary>Block <paramref name="block"/> as an <see cref="FfnLayer"/>: gate/up [N x D], down [D x N], biases.</summary>
    public static FfnLayer Read(OnnxGraphModel model, OnnxFfnBlock block)
    {
        int n = block.Width, d = block.Hidden;
        float[] Rows(WeightSlice s)
        {
            var (data, cols) = Matrix(model, s);
            var m = new float[(long)n * d];
            for (int j = 0; j < n; j++)
                for (int k = 0; k < d; k++)
                    m[(long)j * d + k] = data[Index(s, cols, j, k)];
            return m;
        }
        float[] Columns(WeightSlice s)
        {
            var (data, cols) = Matrix(model, s);
            var m = new float[(long)d * n];
            for (int k = 0; k < d; k++)
                for (int j = 0; j < n; j++)
                    m[(long)k * n + j] = data[Index(s, cols, j, k)];
            return m;
        }
        float[]? Vector(string? name) => name == null ? null : GraphIndex.Floats(model.Index.Initializer(name)!);
        return new FfnLayer(block.Index, n, d, block.Gate is { } g ? Rows(g) : [], Rows(block.Up), Columns(block.Down),
            Vector(block.GateBias), Vector(block.UpBias), Vector(block.DownBias));
    }

    /// <summary>Flat index of (neuron j, feature k) of a slice in a 2-D tensor with <paramref name="cols"/> columns.</summary>
    internal static long Index(WeightSlice s, int cols, int j, int k) =>
        s.NeuronAxis == 0 ? (long)(s.Offset + j) * cols + k : (long)k * cols + s.Offset + j;

    private static (float[] Data, int Cols) Matrix(OnnxGraphModel model, WeightSlice s)
    {
        TensorProto t = model.Index.Initializer(s.Initializer)!;
        return (GraphIndex.Floats(t), (int)t.Dims[1]);
    }

    /// <summary>The fingerprint a plan for this graph records.</summary>
    public static ModelFingerprint Fingerprint(string name, OnnxGraphModel model) =>
        ModelFingerprint.Compute(name, model.Blocks.Select(b => Read(model, b)));
}
