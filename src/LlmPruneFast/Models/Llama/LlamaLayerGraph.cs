using System.Globalization;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// One weight input of a per-layer graph: the graph input's name, the tensors it is made of (layer-relative names,
/// "self_attn.q_proj.weight"), their rows and columns, and whether it is a vector (else the matrices transposed and
/// placed side by side, [cols, sum rows]).
/// </summary>
public sealed record LayerWeightInput(string InputName, string[] Parts, int[] Rows, int Cols, bool IsVector)
{
    /// <summary>The Hugging Face name of part <paramref name="i"/> in layer <paramref name="layer"/>.</summary>
    public string TensorName(int layer, int i) => LlamaLayerGraph.LayerPrefix(layer) + Parts[i];

    /// <summary>Elements of the filled input.</summary>
    public long Elements => IsVector ? Rows[0] : (long)Cols * Rows.Sum();

    /// <summary>ONNX shape of the input.</summary>
    public long[] Shape => IsVector ? [Rows[0]] : [Cols, Rows.Sum()];
}

/// <summary>
/// One LLaMA decoder layer as an ONNX graph whose weights are graph inputs, so one session serves every layer of the
/// same FFN width (emitted by <see cref="LlamaLayerEmitter"/>, the whole-model builder's own layer code).
/// <para>Inputs: <c>hidden</c> float32 [batch, seq, D] (the layer's input), <c>attention_mask</c> int64 [batch, seq],
/// and the weights (<see cref="Weights"/>). Outputs: <c>hidden_out</c> [batch, seq, D] and <c>ffn_act</c>
/// [batch, seq, N], the FFN activations silu(gate x) * up x.</para>
/// </summary>
public sealed class LlamaLayerGraph
{
    public const string Hidden = "hidden";
    public const string HiddenOut = "hidden_out";
    public const string Tap = "ffn_act";

    public required ModelProto Model { get; init; }
    /// <summary>Weight inputs, in graph order.</summary>
    public required IReadOnlyList<LayerWeightInput> Weights { get; init; }
    /// <summary>FFN width N.</summary>
    public required int Width { get; init; }
    /// <summary>True when the graph adds gate/up/down biases.</summary>
    public required bool FfnBias { get; init; }

    /// <summary>"model.layers.{layer}."</summary>
    public static string LayerPrefix(int layer) => $"model.layers.{layer.ToString(CultureInfo.InvariantCulture)}.";

    /// <summary>
    /// The layer graph of <paramref name="config"/> for FFN width <paramref name="width"/>, with FFN biases when
    /// <paramref name="ffnBias"/> (attention biases follow the config, as in the whole-model graph).
    /// </summary>
    public static LlamaLayerGraph Build(LlamaConfig config, int width, bool ffnBias, bool fuseProjections = true, int opset = 17)
    {
        var geo = LlamaGeometry.Of(config);
        if (width < 1) throw new BadArgumentException($"FFN width {width} must be positive");
        var g = new OnnxGraphWriter("llama_layer");
        g.Input(Hidden, DT.Float, "batch", "seq", (long)geo.Hidden);
        g.Input(LlamaOnnxBuilder.AttentionMask, DT.Int64, "batch", "seq");
        var weights = new InputWeights(g);
        var context = LlamaLayerEmitter.Context(g, config, geo, LlamaOnnxBuilder.AttentionMask, LlamaOnnxBuilder.AttentionMask);
        string x = LlamaLayerEmitter.Layer(g, weights, config, geo, context, 0, width, ffnBias, Hidden, fuseProjections, Tap, tapOutput: true, stopAtTap: false);
        g.Op("Identity", HiddenOut, [x]);
        g.Output(HiddenOut, DT.Float, "batch", "seq", (long)geo.Hidden);
        var meta = new Dictionary<string, string> { ["llmprune.architecture"] = "llama-layer", ["llmprune.ffn_width"] = width.ToString(CultureInfo.InvariantCulture) };
        return new LlamaLayerGraph { Model = g.ToModel(opset, "LlmPruneFast", meta), Weights = weights.Inputs, Width = width, FfnBias = ffnBias };
    }

    /// <summary>Tensor <paramref name="name"/>, checked to be [rows, cols].</summary>
    /// <exception cref="BadModelFileException">Absent or another shape.</exception>
    public static float[] ReadChecked(ITensorSource tensors, string name, int rows, int cols)
    {
        var info = tensors.GetInfo(name);
        if (info.Shape.Length != 2 || info.Shape[0] != rows || info.Shape[1] != cols)
            throw new BadModelFileException($"tensor '{name}': shape [{string.Join(", ", info.Shape)}], expected [{rows}, {cols}] from config");
        return tensors.ReadFloat32(name);
    }

    /// <summary>Tensor <paramref name="name"/>, checked to be [length].</summary>
    public static float[] ReadChecked(ITensorSource tensors, string name, int length)
    {
        var info = tensors.GetInfo(name);
        if (info.Shape.Length != 1 || info.Shape[0] != length)
            throw new BadModelFileException($"tensor '{name}': shape [{string.Join(", ", info.Shape)}], expected [{length}] from config");
        return tensors.ReadFloat32(name);
    }

    /// <summary>
    /// The filled weight inputs of layer <paramref name="layer"/>: each part read with <paramref name="read"/>
    /// (HF name, rows, cols; cols = 0 for a vector), transposed and placed side by side as the graph expects.
    /// </summary>
    public float[][] Fill(int layer, Func<string, int, int, float[]> read)
    {
        var filled = new float[Weights.Count][];
        for (int i = 0; i < Weights.Count; i++)
        {
            var input = Weights[i];
            if (input.IsVector) filled[i] = read(input.TensorName(layer, 0), input.Rows[0], 0);
            else
            {
                var parts = input.Parts.Select((_, p) => read(input.TensorName(layer, p), input.Rows[p], input.Cols)).ToArray();
                filled[i] = parts.Length == 1 ? LlamaLayerEmitter.Transpose(parts[0], input.Rows[0], input.Cols)
                    : LlamaLayerEmitter.TransposeSideBySide(parts, input.Rows, input.Cols);
            }
            if (filled[i].LongLength != input.Elements)
                throw new BadModelFileException($"layer {layer}: weight input '{input.InputName}' has {filled[i].LongLength} values, expected {input.Elements}");
        }
        return filled;
    }

    /// <summary>Declares each weight the emitter asks for as a graph input and records how to fill it.</summary>
    private sealed class InputWeights(OnnxGraphWriter g) : ILayerWeights
    {
        private static readonly string Prefix = LayerPrefix(0);
        public List<LayerWeightInput> Inputs { get; } = [];

        private static string Part(string name) => name.StartsWith(Prefix, StringComparison.Ordinal)
            ? name[Prefix.Length..] : throw new InvalidOperationException($"per-layer graph asked for non-layer tensor '{name}'");

        private string Declare(LayerWeightInput input)
        {
            g.Input(input.InputName, DT.Float, input.Shape.Cast<object>().ToArray());
            Inputs.Add(input);
            return input.InputName;
        }

        public string Transposed(string name, int rows, int cols) => Declare(new LayerWeightInput(Part(name) + ".T", [Part(name)], [rows], cols, false));

        public string TransposedSideBySide(string[] names, int[] rows, int cols)
        {
            var parts = names.Select(Part).ToArray();
            return Declare(new LayerWeightInput(string.Join("+", parts) + ".T", parts, rows, cols, false));
        }

        public string Vector(string name, int length) => Declare(new LayerWeightInput(Part(name), [Part(name)], [length], 0, true));
    }
}
