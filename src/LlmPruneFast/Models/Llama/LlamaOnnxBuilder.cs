using System.Globalization;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.Llama;

/// <summary>What <see cref="LlamaOnnxBuilder.Build"/> puts in the graph.</summary>
public sealed record LlamaOnnxOptions
{
    /// <summary>Adds outputs <c>ffn_act.{l}</c> [batch, seq, N_l]: silu(gate x) * (up x), the input of down_proj.</summary>
    public bool Taps { get; init; }

    /// <summary>
    /// Adds the <c>logits</c> output (final norm and classifier). A capture-only graph (taps, no logits) skips the
    /// classifier, the largest single product of small-dimension models, and the last layer's down projection.
    /// </summary>
    public bool Logits { get; init; } = true;

    /// <summary>
    /// One MatMul for q/k/v and one for gate/up per layer (weights concatenated column-wise, outputs Split), instead of
    /// five; each output element is the same dot product, so values do not change. Off only to measure the gain.
    /// </summary>
    public bool FuseProjections { get; init; } = true;

    /// <summary>Default-domain operator set the graph is written for (every op used exists unchanged in 13..17).</summary>
    public int Opset { get; init; } = 17;
}

/// <summary>
/// Builds the full-sequence causal forward of a LLaMA-family decoder (Hugging Face LlamaForCausalLM semantics) as an
/// ONNX graph of standard operators, with the weights as initializers.
/// <para>Inputs: <c>input_ids</c> int64 [batch, seq], <c>attention_mask</c> int64 [batch, seq] (1 = token, 0 = pad;
/// left or right padding). Output: <c>logits</c> float32 [batch, seq, vocab]; with taps also <c>ffn_act.{l}</c>.</para>
/// <para>Positions are cumsum(attention_mask) - 1, clipped at 0, so a left-padded row sees the same positions as
/// unpadded. Masked attention scores get -1e9 (not -inf) added, so rows whose keys are all padding stay finite.</para>
/// </summary>
public static class LlamaOnnxBuilder
{
    /// <summary>Large negative added to masked attention scores.</summary>
    public const float MaskValue = -1e9f;

    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string Logits = "logits";
    public static string TapName(int layer) => $"ffn_act.{layer}";

    /// <summary>
    /// Metadata key: longest sequence the graph computes as its model does (set for Qwen2 with use_sliding_window,
    /// whose windowed layers are built with full attention); <see cref="OnnxLlamaRunner"/> refuses longer ones.
    /// </summary>
    public const string MaxSequenceKey = "llmprune.max_sequence";

    /// <summary>
    /// The graph of <paramref name="config"/> with weights from <paramref name="tensors"/> (HF names, see
    /// <see cref="LlamaTensorNames"/>). Throws <see cref="BadModelFileException"/> when a tensor is missing or its
    /// shape disagrees with the config, <see cref="UnsupportedArchitectureException"/> for unsupported settings.
    /// </summary>
    public static ModelProto Build(LlamaConfig config, ITensorSource tensors, LlamaOnnxOptions? options = null) =>
        Build(config, tensors, options, externalData: null);

    /// <summary>
    /// Writes the graph of <see cref="Build(LlamaConfig, ITensorSource, LlamaOnnxOptions?)"/> as
    /// <paramref name="folder"/>/model.onnx, its weights going to model.onnx.data tensor by tensor as they are read
    /// when they total more than <paramref name="inlineLimitBytes"/> (below it, one self-contained file). Memory stays
    /// near one tensor (and its transposed copy) whatever the model's size. The files equal, byte for byte, what
    /// <see cref="LlamaOnnxModel.SaveOnnx"/> writes from the in-memory graph. Returns the model file's path.
    /// </summary>
    public static string Write(LlamaConfig config, ITensorSource tensors, string folder, LlamaOnnxOptions? options = null,
        long inlineLimitBytes = LlamaOnnxModel.InlineLimitBytes)
    {
        using var data = new StreamedExternalData(folder, LlamaOnnxModel.DataFileName, inlineLimitBytes, LlamaOnnxModel.ExternalThresholdBytes);
        data.ExpectAtLeast(LlamaTensorShapes.Expected(config).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)) * sizeof(float)); // every checkpoint tensor is a float32 initializer
        var model = Build(config, tensors, options, data);
        data.Commit();
        string path = Path.Combine(folder, LlamaOnnxModel.ModelFileName);
        OnnxModelFile.Save(model, path);
        return path;
    }

    private static ModelProto Build(LlamaConfig config, ITensorSource tensors, LlamaOnnxOptions? options, StreamedExternalData? externalData)
    {
        options ??= new LlamaOnnxOptions();
        var geo = LlamaGeometry.Of(config);
        int D = geo.Hidden, L = config.NumHiddenLayers, V = config.VocabSize;
        if (!options.Logits && !options.Taps) throw new BadArgumentException("an ONNX graph needs logits or taps as outputs");
        // Streamed, each weight is dropped once written: collect what the dropped ones add up to as the build goes.
        var w = new WeightReader(tensors) { Garbage = externalData == null ? null : LargeGarbage.For(tensors) };
        var g = new OnnxGraphWriter("llama", externalData);
        w.Graph = g;

        // ---- inputs ---------------------------------------------------------------------------------------------
        g.Input(InputIds, DT.Int64, "batch", "seq");
        g.Input(AttentionMask, DT.Int64, "batch", "seq");

        // ---- constants, positions, RoPE and the attention bias shared by all layers --------------------------------
        var context = LlamaLayerEmitter.Context(g, config, geo, AttentionMask, InputIds);

        // ---- token embedding ---------------------------------------------------------------------------------------
        // Not kept for a tied head: read again there, so the build holds one tensor at a time.
        string x = g.Op("Gather", "embed", [g.Float(LlamaTensorNames.Embedding, [V, D], w.Matrix(LlamaTensorNames.Embedding, V, D)), InputIds]); // [B,S,D]

        for (int l = 0; l < L; l++)
        {
            bool last = !options.Logits && l == L - 1; // nothing downstream of the last tap is needed
            x = LlamaLayerEmitter.Layer(g, w, config, geo, context, l, config.FfnWidth(l), config.MlpBias, x, options.FuseProjections,
                options.Taps ? TapName(l) : null, options.Taps, last);
        }

        // ---- final norm and classifier -----------------------------------------------------------------------------
        if (options.Logits) AddHead(g, w, config, tensors, x, context.Eps);

        var meta = new Dictionary<string, string>
        {
            ["llmprune.architecture"] = "llama",
            ["llmprune.layers"] = L.ToString(CultureInfo.InvariantCulture),
            ["llmprune.ffn_widths"] = string.Join(",", Enumerable.Range(0, L).Select(config.FfnWidth)),
            ["llmprune.taps"] = options.Taps ? "1" : "0",
        };
        if (config.UnbuiltWindowLimit is int limit) meta[MaxSequenceKey] = limit.ToString(CultureInfo.InvariantCulture);
        return g.ToModel(options.Opset, "LlmPruneFast", meta);
    }

    /// <summary>logits = RMSNorm(x) @ W_head^T, [B,S,V].</summary>
    private static void AddHead(OnnxGraphWriter g, WeightReader w, LlamaConfig config, ITensorSource tensors, string x, string eps)
    {
        int D = config.HiddenSize, V = config.VocabSize;
        x = LlamaLayerEmitter.RmsNorm(g, w, x, LlamaTensorNames.FinalNorm, D, eps, "final_norm");                                // [B,S,D]
        // A tied head reuses the embedding matrix; it is stored again transposed so MatMul reads it row-major.
        string head = config.TieWordEmbeddings && !tensors.Contains(LlamaTensorNames.LmHead)
            ? g.Float("lm_head.weight.T", [D, V], LlamaLayerEmitter.Transpose(w.Matrix(LlamaTensorNames.Embedding, V, D), V, D))
            : w.Transposed(LlamaTensorNames.LmHead, V, D);
        g.Op("MatMul", Logits, [x, head]);                                                                       // [B,S,V]
        g.Output(Logits, DT.Float, "batch", "seq", (long)V);
    }

    /// <summary>
    /// cos and sin [positions, hd] of angle p * f_i for column i and i + hd/2 (HF layout), f_i = theta^(-2i/hd) with
    /// the rope scaling applied (<see cref="RopeScaling.InverseFrequencies"/>).
    /// </summary>
    internal static (float[] Cos, float[] Sin) RopeTables(int positions, int hd, double theta, RopeScaling? scaling = null)
    {
        var inverseFrequencies = RopeScaling.InverseFrequencies(hd, theta, scaling);
        var cos = new float[positions * hd];
        var sin = new float[positions * hd];
        int half = hd / 2;
        for (int i = 0; i < half; i++)
        {
            double invFreq = inverseFrequencies[i];
            for (int p = 0; p < positions; p++)
            {
                double angle = p * invFreq;
                cos[p * hd + i] = cos[p * hd + i + half] = (float)Math.Cos(angle);
                sin[p * hd + i] = sin[p * hd + i + half] = (float)Math.Sin(angle);
            }
        }
        return (cos, sin);
    }

    /// <summary>Reads weights with shape checks and writes them as initializers.</summary>
    private sealed class WeightReader(ITensorSource tensors) : ILayerWeights
    {
        public OnnxGraphWriter Graph { get; set; } = null!;

        /// <summary>Counts the arrays each read leaves behind (the tensor, its transposed copy) when streaming; null in memory.</summary>
        public LargeGarbage? Garbage { get; init; }

        public float[] Matrix(string name, int rows, int cols)
        {
            Garbage?.Dropped(2L * rows * cols * sizeof(float));   // collects earlier reads' arrays once they pass the budget
            return LlamaLayerGraph.ReadChecked(tensors, name, rows, cols);
        }

        /// <summary>Initializer "{name}.T" [cols, rows] holding W^T, so that x @ W^T is one MatMul.</summary>
        public string Transposed(string name, int rows, int cols) =>
            Graph.Float(name + ".T", [cols, rows], LlamaLayerEmitter.Transpose(Matrix(name, rows, cols), rows, cols));

        /// <summary>Initializer [cols, sum rows] holding W_0^T | W_1^T | ... side by side.</summary>
        public string TransposedSideBySide(string[] names, int[] rows, int cols) =>
            Graph.Float(string.Join("+", names) + ".T", [cols, rows.Sum()],
                LlamaLayerEmitter.TransposeSideBySide(names.Select((n, i) => Matrix(n, rows[i], cols)).ToArray(), rows, cols));

        public string Vector(string name, int length) => Graph.Float(name, [length], LlamaLayerGraph.ReadChecked(tensors, name, length));
    }
}
