using System.Globalization;
using LlmPruneFast.Models.Onnx.Proto;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.Onnx;

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
    public static ModelProto Build(LlamaConfig config, ITensorSource tensors, LlamaOnnxOptions? options = null)
    {
        options ??= new LlamaOnnxOptions();
        int D = config.HiddenSize, H = config.NumAttentionHeads, KVH = config.NumKeyValueHeads, L = config.NumHiddenLayers;
        int hd = config.HeadDim > 0 ? config.HeadDim : D / Math.Max(H, 1);
        int V = config.VocabSize, P = config.MaxPositionEmbeddings;
        if (D <= 0 || H <= 0 || KVH <= 0 || L <= 0 || V <= 0 || P <= 0 || hd <= 0)
            throw new UnsupportedArchitectureException($"LLaMA config has a non-positive size (hidden {D}, heads {H}, kv heads {KVH}, layers {L}, vocab {V}, positions {P}, head_dim {hd})");
        if (!options.Logits && !options.Taps) throw new BadArgumentException("an ONNX graph needs logits or taps as outputs");
        if (H % KVH != 0)
            throw new UnsupportedArchitectureException($"num_attention_heads {H} is not a multiple of num_key_value_heads {KVH}");
        if (hd % 2 != 0) throw new UnsupportedArchitectureException($"head_dim {hd} must be even for rotary embeddings");
        int rep = H / KVH;
        var w = new WeightReader(tensors);
        var g = new OnnxGraphWriter("llama");

        // ---- inputs ---------------------------------------------------------------------------------------------
        g.Input(InputIds, DT.Int64, "batch", "seq");
        g.Input(AttentionMask, DT.Int64, "batch", "seq");

        // ---- constants shared by all layers -----------------------------------------------------------------------
        string eps = g.Scalar("rms_eps", (float)config.RmsNormEps);
        string scale = g.Scalar("attn_scale", (float)(1.0 / Math.Sqrt(hd)));
        string zeroF = g.Scalar("zero_f", 0f);
        string maskValue = g.Scalar("mask_value", MaskValue);
        string qShape = g.Int64("q_shape", [0, 0, H, hd]);       // [B,S,H*hd] -> [B,S,H,hd]
        string kvShape = g.Int64("kv_shape", [0, 0, KVH, hd]);   // [B,S,KVH*hd] -> [B,S,KVH,hd]
        string groupShape = g.Int64("group_shape", [0, KVH, -1, hd]); // [B,H,S,hd] -> [B,KVH,rep*S,hd]
        string headShape = g.Int64("head_shape", [0, H, -1, hd]);     // [B,KVH,rep*S,hd] -> [B,H,S,hd]
        string mergeShape = g.Int64("merge_shape", [0, 0, H * hd]);   // [B,S,H,hd] -> [B,S,H*hd]

        // ---- position ids: cumsum(mask) - 1, clipped at 0 (left padding keeps positions 0,1,2.. for real tokens) --
        string cum = g.Op("CumSum", "pos_cumsum", [AttentionMask, g.Int64("axis1", [1], scalar: true)]);
        string pos = g.Op("Sub", "pos_minus1", [cum, g.Int64("one", [1], scalar: true)]);
        pos = g.Op("Max", "position_ids", [pos, g.Int64("zero", [0], scalar: true)]);                      // [B,S]

        // ---- RoPE tables (HF rotate-halves): cos/sin[p, i] of p * theta^(-2(i mod hd/2)/hd), float64 then float32 --
        var (cosTable, sinTable) = RopeTables(P, hd, config.RopeTheta, config.RopeScaling);
        string cosT = g.Float("rope_cos", [P, hd], cosTable), sinT = g.Float("rope_sin", [P, hd], sinTable);
        string cos = g.Op("Unsqueeze", "cos", [g.Op("Gather", "cos_bsd", [cosT, pos]), g.Int64("axes2", [2])]); // [B,S,1,hd]
        string sin = g.Op("Unsqueeze", "sin", [g.Op("Gather", "sin_bsd", [sinT, pos]), g.Int64("axes2b", [2])]); // [B,S,1,hd]

        // ---- attention bias: -1e9 where the key is in the future or is padding, else 0 ------------------------------
        string shape = g.Op("Shape", "ids_shape", [InputIds]);                                                // [2]
        string seqLen = g.Op("Squeeze", "seq_len", [g.Op("Slice", "seq_len_1d", [shape, g.Int64("s1", [1]), g.Int64("s2", [2])])]);
        string range = g.Op("Range", "arange", [g.Int64("r0", [0], scalar: true), seqLen, g.Int64("r1", [1], scalar: true)]); // [S]
        string rows = g.Op("Unsqueeze", "query_idx", [range, g.Int64("axes_1", [1])]);                      // [S,1]
        string cols = g.Op("Unsqueeze", "key_idx", [range, g.Int64("axes_0", [0])]);                        // [1,S]
        string future = g.Op("Greater", "future", [cols, rows]);                                            // [S,S] bool
        string pad = g.Op("Equal", "is_pad", [AttentionMask, g.Int64("zero_i", [0], scalar: true)]);        // [B,S] bool
        pad = g.Op("Unsqueeze", "is_pad_key", [pad, g.Int64("axes_12", [1, 2])]);                          // [B,1,1,S]
        // Mistral's sliding window: also keys W or more positions back (only built when a sequence can be that long).
        if (config.SlidingWindow is int window && window < P)
            future = g.Op("Or", "outside_window", [future, g.Op("GreaterOrEqual", "too_far_back",
                [g.Op("Sub", "query_minus_key", [rows, cols]), g.Int64("sliding_window", [window], scalar: true)])]); // [S,S] bool
        string masked = g.Op("Or", "masked", [future, pad]);                                                // [B,1,S,S]
        string bias = g.Op("Where", "attn_bias", [masked, maskValue, zeroF]);                               // [B,1,S,S]
        // Queries are grouped as [B,KVH,rep*S,hd] (row r*S+s = query s of head kv*rep+r): repeat the bias rep times.
        if (rep > 1) bias = g.Op("Tile", "attn_bias_grouped", [bias, g.Int64("bias_repeats", [1, 1, rep, 1])]); // [B,1,rep*S,S]

        // ---- token embedding ---------------------------------------------------------------------------------------
        var embedding = w.Matrix(LlamaTensorNames.Embedding, V, D);
        string x = g.Op("Gather", "embed", [g.Float(LlamaTensorNames.Embedding, [V, D], embedding), InputIds]); // [B,S,D]

        for (int l = 0; l < L; l++)
        {
            string p = $"l{l}.";
            int N = config.FfnWidth(l);
            // ---- attention block ----
            string xn = RmsNorm(g, w, x, LlamaTensorNames.AttentionNorm(l), D, eps, p + "attn_norm");         // [B,S,D]
            var (q, k, v) = Projections(g, w, xn, options.FuseProjections, p, [LlamaTensorNames.Q(l), LlamaTensorNames.K(l), LlamaTensorNames.V(l)],
                [H * hd, KVH * hd, KVH * hd], D);                                                                // [B,S,H*hd], [B,S,KVH*hd] x2
            if (config.QkvBias)
            {
                q = g.Op("Add", p + "q_b", [q, w.Vector(g, LlamaTensorNames.QBias(l), H * hd)]);
                k = g.Op("Add", p + "k_b", [k, w.Vector(g, LlamaTensorNames.KBias(l), KVH * hd)]);
                v = g.Op("Add", p + "v_b", [v, w.Vector(g, LlamaTensorNames.VBias(l), KVH * hd)]);
            }
            q = Rope(g, g.Op("Reshape", p + "q_heads", [q, qShape]), cos, sin, p + "q");                       // [B,S,H,hd]
            k = Rope(g, g.Op("Reshape", p + "k_heads", [k, kvShape]), cos, sin, p + "k");                      // [B,S,KVH,hd]
            v = g.Op("Reshape", p + "v_heads", [v, kvShape]);                                                    // [B,S,KVH,hd]
            q = g.Op("Transpose", p + "q_t", [q], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));                     // [B,H,S,hd]
            q = g.Op("Reshape", p + "q_grouped", [q, groupShape]);                                               // [B,KVH,rep*S,hd]
            k = g.Op("Transpose", p + "k_t", [k], OnnxGraphWriter.Ints("perm", 0, 2, 3, 1));                     // [B,KVH,hd,S]
            v = g.Op("Transpose", p + "v_t", [v], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));                     // [B,KVH,S,hd]
            // scores: each kv head serves its rep query heads in one product, so k/v are never copied rep times.
            // The 1/sqrt(hd) scale right after the MatMul is folded by ONNX Runtime into one FusedMatMul (alpha).
            string scores = g.Op("MatMul", p + "scores_raw", [q, k]);                                            // [B,KVH,rep*S,S]
            scores = g.Op("Mul", p + "scores", [scores, scale]);                                                 // q.k / sqrt(hd)
            scores = g.Op("Add", p + "scores_masked", [scores, bias]);
            string probs = g.Op("Softmax", p + "probs", [scores], OnnxGraphWriter.Int("axis", -1));              // [B,KVH,rep*S,S]
            string ctx = g.Op("MatMul", p + "ctx", [probs, v]);                                                  // [B,KVH,rep*S,hd]
            ctx = g.Op("Reshape", p + "ctx_heads", [ctx, headShape]);                                            // [B,H,S,hd]
            ctx = g.Op("Transpose", p + "ctx_t", [ctx], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));               // [B,S,H,hd]
            ctx = g.Op("Reshape", p + "ctx_merged", [ctx, mergeShape]);                                          // [B,S,H*hd]
            string attn = g.Op("MatMul", p + "attn_out", [ctx, w.Transposed(g, LlamaTensorNames.O(l), D, H * hd)]); // [B,S,D]
            if (config.OutputBias) attn = g.Op("Add", p + "attn_out_b", [attn, w.Vector(g, LlamaTensorNames.OBias(l), D)]);
            x = g.Op("Add", p + "resid_attn", [x, attn]);                                                        // x += attn

            // ---- SwiGLU feed-forward block ----
            xn = RmsNorm(g, w, x, LlamaTensorNames.FfnNorm(l), D, eps, p + "ffn_norm");                        // [B,S,D]
            var (gate, up, _) = Projections(g, w, xn, options.FuseProjections, p, [LlamaTensorNames.Gate(l), LlamaTensorNames.Up(l)], [N, N], D); // [B,S,N] x2
            if (config.MlpBias)
            {
                gate = g.Op("Add", p + "gate_b", [gate, w.Vector(g, LlamaTensorNames.GateBias(l), N)]);
                up = g.Op("Add", p + "up_b", [up, w.Vector(g, LlamaTensorNames.UpBias(l), N)]);
            }
            string silu = g.Op("Mul", p + "silu", [gate, g.Op("Sigmoid", p + "sigmoid", [gate])]);              // silu(g) = g * sigmoid(g)
            string act = g.Op("Mul", options.Taps ? TapName(l) : p + "ffn_act", [silu, up]);                  // [B,S,N] neuron activations
            if (options.Taps) g.Output(act, DT.Float, "batch", "seq", (long)N);
            if (!options.Logits && l == L - 1) break; // nothing downstream of the last tap is needed
            string down = g.Op("MatMul", p + "down", [act, w.Transposed(g, LlamaTensorNames.Down(l), D, N)]);  // [B,S,D]
            if (config.MlpBias) down = g.Op("Add", p + "down_b", [down, w.Vector(g, LlamaTensorNames.DownBias(l), D)]);
            x = g.Op("Add", p + "resid_ffn", [x, down]);                                                         // x += ffn
        }

        // ---- final norm and classifier -----------------------------------------------------------------------------
        if (options.Logits) AddHead(g, w, config, tensors, x, eps, embedding);

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
    private static void AddHead(OnnxGraphWriter g, WeightReader w, LlamaConfig config, ITensorSource tensors, string x, string eps, float[] embedding)
    {
        int D = config.HiddenSize, V = config.VocabSize;
        x = RmsNorm(g, w, x, LlamaTensorNames.FinalNorm, D, eps, "final_norm");                                // [B,S,D]
        // A tied head reuses the embedding matrix; it is stored again transposed so MatMul reads it row-major.
        string head = config.TieWordEmbeddings && !tensors.Contains(LlamaTensorNames.LmHead)
            ? g.Float("lm_head.weight.T", [D, V], Transpose(embedding, V, D))
            : w.Transposed(g, LlamaTensorNames.LmHead, V, D);
        g.Op("MatMul", Logits, [x, head]);                                                                       // [B,S,V]
        g.Output(Logits, DT.Float, "batch", "seq", (long)V);
    }

    /// <summary>
    /// x @ W_i^T for each of <paramref name="names"/> (rows <paramref name="rows"/>, D columns each): with
    /// <paramref name="fuse"/>, one MatMul against [D, sum rows] (the W_i^T side by side) and a Split on the last axis.
    /// Returns up to three outputs (the third is null for two weights).
    /// </summary>
    private static (string, string, string) Projections(OnnxGraphWriter g, WeightReader w, string x, bool fuse, string prefix, string[] names, int[] rows, int d)
    {
        string[] outNames = names.Length == 3 ? [prefix + "q", prefix + "k", prefix + "v"] : [prefix + "gate", prefix + "up"];
        string[] outs;
        if (!fuse)
            outs = names.Select((n, i) => g.Op("MatMul", outNames[i], [x, w.Transposed(g, n, rows[i], d)])).ToArray();
        else
        {
            string fused = g.Op("MatMul", prefix + (names.Length == 3 ? "qkv" : "gate_up"), [x, w.TransposedSideBySide(g, names, rows, d)]);
            outs = g.OpMulti("Split", outNames, [fused, g.Int64(prefix + "split_sizes", rows.Select(r => (long)r).ToArray())], OnnxGraphWriter.Int("axis", -1));
        }
        return (outs[0], outs[1], outs.Length > 2 ? outs[2] : null!);
    }

    /// <summary>
    /// RMSNorm: x / sqrt(mean(x^2) + eps) * weight over the last axis, in float32. Written as Pow, ReduceMean, Add,
    /// Sqrt, Div, Mul: the pattern ONNX Runtime fuses into one SimplifiedLayerNormalization kernel.
    /// </summary>
    private static string RmsNorm(OnnxGraphWriter g, WeightReader w, string x, string weight, int d, string eps, string name)
    {
        string sq = g.Op("Pow", name + ".sq", [x, g.Scalar(name + ".two", 2f)]);
        string ms = g.Op("ReduceMean", name + ".ms", [sq], OnnxGraphWriter.Ints("axes", -1), OnnxGraphWriter.Int("keepdims", 1)); // [B,S,1]
        string rms = g.Op("Sqrt", name + ".rms", [g.Op("Add", name + ".ms_eps", [ms, eps])]);
        string normed = g.Op("Div", name + ".normed", [x, rms]);
        return g.Op("Mul", name, [normed, w.Vector(g, weight, d)]);
    }

    /// <summary>Rotary embedding, rotate-halves: x * cos + concat(-x[..., hd/2:], x[..., :hd/2]) * sin. x is [B,S,heads,hd].</summary>
    private static string Rope(OnnxGraphWriter g, string x, string cos, string sin, string name)
    {
        var halves = g.OpMulti("Split", [name + ".lo", name + ".hi"], [x], OnnxGraphWriter.Int("axis", -1));
        string rotated = g.Op("Concat", name + ".rot_half", [g.Op("Neg", name + ".neg_hi", [halves[1]]), halves[0]], OnnxGraphWriter.Int("axis", -1));
        return g.Op("Add", name + "_rope", [g.Op("Mul", name + ".cos", [x, cos]), g.Op("Mul", name + ".sin", [rotated, sin])]);
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

    private static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
                t[c * rows + r] = m[r * cols + c];
        return t;
    }

    /// <summary>Reads weights with shape checks and writes them as initializers.</summary>
    private sealed class WeightReader(ITensorSource tensors)
    {
        public float[] Matrix(string name, int rows, int cols)
        {
            var info = tensors.GetInfo(name);
            if (info.Shape.Length != 2 || info.Shape[0] != rows || info.Shape[1] != cols)
                throw new BadModelFileException($"tensor '{name}': shape [{string.Join(", ", info.Shape)}], expected [{rows}, {cols}] from config");
            return tensors.ReadFloat32(name);
        }

        /// <summary>Initializer "{name}.T" [cols, rows] holding W^T, so that x @ W^T is one MatMul.</summary>
        public string Transposed(OnnxGraphWriter g, string name, int rows, int cols) =>
            g.Float(name + ".T", [cols, rows], Transpose(Matrix(name, rows, cols), rows, cols));

        /// <summary>
        /// Initializer [cols, sum rows] holding W_0^T | W_1^T | ... side by side (row c = column c of every W_i), so that
        /// x @ it is x @ W_i^T for all i in one MatMul.
        /// </summary>
        public string TransposedSideBySide(OnnxGraphWriter g, string[] names, int[] rows, int cols)
        {
            int total = rows.Sum();
            var data = new float[(long)cols * total];
            int offset = 0;
            for (int i = 0; i < names.Length; i++)
            {
                var m = Matrix(names[i], rows[i], cols);
                for (int r = 0; r < rows[i]; r++)
                    for (int c = 0; c < cols; c++)
                        data[(long)c * total + offset + r] = m[(long)r * cols + c];
                offset += rows[i];
            }
            return g.Float(string.Join("+", names) + ".T", [cols, total], data);
        }

        public string Vector(OnnxGraphWriter g, string name, int length)
        {
            var info = tensors.GetInfo(name);
            if (info.Shape.Length != 1 || info.Shape[0] != length)
                throw new BadModelFileException($"tensor '{name}': shape [{string.Join(", ", info.Shape)}], expected [{length}] from config");
            return g.Float(name, [length], tensors.ReadFloat32(name));
        }
    }
}
