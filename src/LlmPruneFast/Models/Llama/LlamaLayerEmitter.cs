using LlmPruneFast.Models.Onnx;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Models.Llama;

/// <summary>
/// Where the layer emitter gets a weight as a graph value: an initializer holding the checkpoint's data (whole-model
/// graph) or a graph input filled per layer at run time (per-layer graph, <see cref="LlamaLayerGraph"/>).
/// Names are Hugging Face tensor names (<see cref="LlamaTensorNames"/>).
/// </summary>
internal interface ILayerWeights
{
    /// <summary>W^T [cols, rows] of the [rows, cols] tensor <paramref name="name"/>, so that x @ W^T is one MatMul.</summary>
    string Transposed(string name, int rows, int cols);

    /// <summary>W_0^T | W_1^T | ... side by side, [cols, sum rows].</summary>
    string TransposedSideBySide(string[] names, int[] rows, int cols);

    /// <summary>A [length] vector (norm weights, biases).</summary>
    string Vector(string name, int length);
}

/// <summary>Sizes of a LLaMA config's attention, checked once.</summary>
internal sealed record LlamaGeometry(int Hidden, int Heads, int KvHeads, int HeadDim, int Positions)
{
    public int Repeats => Heads / KvHeads;

    /// <summary>The attention sizes of <paramref name="config"/>; unsupported settings are <see cref="UnsupportedArchitectureException"/>s.</summary>
    public static LlamaGeometry Of(LlamaConfig config)
    {
        int D = config.HiddenSize, H = config.NumAttentionHeads, KVH = config.NumKeyValueHeads, L = config.NumHiddenLayers;
        int hd = config.HeadDim > 0 ? config.HeadDim : D / Math.Max(H, 1);
        int V = config.VocabSize, P = config.MaxPositionEmbeddings;
        if (D <= 0 || H <= 0 || KVH <= 0 || L <= 0 || V <= 0 || P <= 0 || hd <= 0)
            throw new UnsupportedArchitectureException($"LLaMA config has a non-positive size (hidden {D}, heads {H}, kv heads {KVH}, layers {L}, vocab {V}, positions {P}, head_dim {hd})");
        if (H % KVH != 0)
            throw new UnsupportedArchitectureException($"num_attention_heads {H} is not a multiple of num_key_value_heads {KVH}");
        if (hd % 2 != 0) throw new UnsupportedArchitectureException($"head_dim {hd} must be even for rotary embeddings");
        return new LlamaGeometry(D, H, KVH, hd, P);
    }
}

/// <summary>Values every layer reads: constants, RoPE cos/sin at each position, the additive attention bias.</summary>
internal sealed record LayerContext(string Eps, string Scale, string QShape, string KvShape, string GroupShape, string HeadShape,
    string MergeShape, string Cos, string Sin, string Bias);

/// <summary>
/// Emits the nodes of one LLaMA decoder layer (RMSNorm, attention with RoPE and grouped KV heads, optional q/k/v/o
/// biases, SwiGLU FFN with optional biases): the one emitter behind the whole-model graph
/// (<see cref="LlamaOnnxBuilder"/>) and the per-layer graph (<see cref="LlamaLayerGraph"/>), so both compute the same
/// operators in the same order.
/// </summary>
internal static class LlamaLayerEmitter
{
    /// <summary>
    /// The shared values: position ids from <paramref name="mask"/> (cumsum - 1, clipped at 0), RoPE tables, and the
    /// causal + padding (+ sliding window) bias. <paramref name="shapeSource"/> is a [batch, seq, ...] value whose
    /// second dimension is the sequence length.
    /// </summary>
    public static LayerContext Context(OnnxGraphWriter g, LlamaConfig config, LlamaGeometry geo, string mask, string shapeSource)
    {
        int H = geo.Heads, KVH = geo.KvHeads, hd = geo.HeadDim, P = geo.Positions, rep = geo.Repeats;
        string eps = g.Scalar("rms_eps", (float)config.RmsNormEps);
        string scale = g.Scalar("attn_scale", (float)(1.0 / Math.Sqrt(hd)));
        string zeroF = g.Scalar("zero_f", 0f);
        string maskValue = g.Scalar("mask_value", LlamaOnnxBuilder.MaskValue);
        string qShape = g.Int64("q_shape", [0, 0, H, hd]);       // [B,S,H*hd] -> [B,S,H,hd]
        string kvShape = g.Int64("kv_shape", [0, 0, KVH, hd]);   // [B,S,KVH*hd] -> [B,S,KVH,hd]
        string groupShape = g.Int64("group_shape", [0, KVH, -1, hd]); // [B,H,S,hd] -> [B,KVH,rep*S,hd]
        string headShape = g.Int64("head_shape", [0, H, -1, hd]);     // [B,KVH,rep*S,hd] -> [B,H,S,hd]
        string mergeShape = g.Int64("merge_shape", [0, 0, H * hd]);   // [B,S,H,hd] -> [B,S,H*hd]

        // ---- position ids: cumsum(mask) - 1, clipped at 0 (left padding keeps positions 0,1,2.. for real tokens) --
        string cum = g.Op("CumSum", "pos_cumsum", [mask, g.Int64("axis1", [1], scalar: true)]);
        string pos = g.Op("Sub", "pos_minus1", [cum, g.Int64("one", [1], scalar: true)]);
        pos = g.Op("Max", "position_ids", [pos, g.Int64("zero", [0], scalar: true)]);                      // [B,S]

        // ---- RoPE tables (HF rotate-halves): cos/sin[p, i] of p * theta^(-2(i mod hd/2)/hd), float64 then float32 --
        var (cosTable, sinTable) = LlamaOnnxBuilder.RopeTables(P, hd, config.RopeTheta, config.RopeScaling);
        string cosT = g.Float("rope_cos", [P, hd], cosTable), sinT = g.Float("rope_sin", [P, hd], sinTable);
        string cos = g.Op("Unsqueeze", "cos", [g.Op("Gather", "cos_bsd", [cosT, pos]), g.Int64("axes2", [2])]); // [B,S,1,hd]
        string sin = g.Op("Unsqueeze", "sin", [g.Op("Gather", "sin_bsd", [sinT, pos]), g.Int64("axes2b", [2])]); // [B,S,1,hd]

        // ---- attention bias: -1e9 where the key is in the future or is padding, else 0 ------------------------------
        string shape = g.Op("Shape", "ids_shape", [shapeSource]);                                            // [2] or [3]
        string seqLen = g.Op("Squeeze", "seq_len", [g.Op("Slice", "seq_len_1d", [shape, g.Int64("s1", [1]), g.Int64("s2", [2])])]);
        string range = g.Op("Range", "arange", [g.Int64("r0", [0], scalar: true), seqLen, g.Int64("r1", [1], scalar: true)]); // [S]
        string rows = g.Op("Unsqueeze", "query_idx", [range, g.Int64("axes_1", [1])]);                      // [S,1]
        string cols = g.Op("Unsqueeze", "key_idx", [range, g.Int64("axes_0", [0])]);                        // [1,S]
        string future = g.Op("Greater", "future", [cols, rows]);                                            // [S,S] bool
        string pad = g.Op("Equal", "is_pad", [mask, g.Int64("zero_i", [0], scalar: true)]);                 // [B,S] bool
        pad = g.Op("Unsqueeze", "is_pad_key", [pad, g.Int64("axes_12", [1, 2])]);                          // [B,1,1,S]
        // Mistral's sliding window: also keys W or more positions back (only built when a sequence can be that long).
        if (config.SlidingWindow is int window && window < P)
            future = g.Op("Or", "outside_window", [future, g.Op("GreaterOrEqual", "too_far_back",
                [g.Op("Sub", "query_minus_key", [rows, cols]), g.Int64("sliding_window", [window], scalar: true)])]); // [S,S] bool
        string masked = g.Op("Or", "masked", [future, pad]);                                                // [B,1,S,S]
        string bias = g.Op("Where", "attn_bias", [masked, maskValue, zeroF]);                               // [B,1,S,S]
        // Queries are grouped as [B,KVH,rep*S,hd] (row r*S+s = query s of head kv*rep+r): repeat the bias rep times.
        if (rep > 1) bias = g.Op("Tile", "attn_bias_grouped", [bias, g.Int64("bias_repeats", [1, 1, rep, 1])]); // [B,1,rep*S,S]
        return new LayerContext(eps, scale, qShape, kvShape, groupShape, headShape, mergeShape, cos, sin, bias);
    }

    /// <summary>
    /// Layer <paramref name="l"/> (FFN width <paramref name="n"/>, FFN biases when <paramref name="mlpBias"/>) applied to
    /// <paramref name="x"/> [B,S,D]. The FFN activation silu(gate x) * up x is named <paramref name="tapName"/> when
    /// given (else "l{l}.ffn_act") and declared a graph output when <paramref name="tapOutput"/>. Returns the layer's
    /// output [B,S,D], or the activation itself when <paramref name="stopAtTap"/> (nothing downstream is built).
    /// </summary>
    public static string Layer(OnnxGraphWriter g, ILayerWeights w, LlamaConfig config, LlamaGeometry geo, LayerContext c, int l, int n,
        bool mlpBias, string x, bool fuse, string? tapName, bool tapOutput, bool stopAtTap)
    {
        int D = geo.Hidden, H = geo.Heads, KVH = geo.KvHeads, hd = geo.HeadDim;
        string p = $"l{l}.";
        // ---- attention block ----
        string xn = RmsNorm(g, w, x, LlamaTensorNames.AttentionNorm(l), D, c.Eps, p + "attn_norm");         // [B,S,D]
        var (q, k, v) = Projections(g, w, xn, fuse, p, [LlamaTensorNames.Q(l), LlamaTensorNames.K(l), LlamaTensorNames.V(l)],
            [H * hd, KVH * hd, KVH * hd], D);                                                                // [B,S,H*hd], [B,S,KVH*hd] x2
        if (config.QkvBias)
        {
            q = g.Op("Add", p + "q_b", [q, w.Vector(LlamaTensorNames.QBias(l), H * hd)]);
            k = g.Op("Add", p + "k_b", [k, w.Vector(LlamaTensorNames.KBias(l), KVH * hd)]);
            v = g.Op("Add", p + "v_b", [v, w.Vector(LlamaTensorNames.VBias(l), KVH * hd)]);
        }
        q = Rope(g, g.Op("Reshape", p + "q_heads", [q, c.QShape]), c.Cos, c.Sin, p + "q");                 // [B,S,H,hd]
        k = Rope(g, g.Op("Reshape", p + "k_heads", [k, c.KvShape]), c.Cos, c.Sin, p + "k");                // [B,S,KVH,hd]
        v = g.Op("Reshape", p + "v_heads", [v, c.KvShape]);                                                  // [B,S,KVH,hd]
        q = g.Op("Transpose", p + "q_t", [q], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));                     // [B,H,S,hd]
        q = g.Op("Reshape", p + "q_grouped", [q, c.GroupShape]);                                             // [B,KVH,rep*S,hd]
        k = g.Op("Transpose", p + "k_t", [k], OnnxGraphWriter.Ints("perm", 0, 2, 3, 1));                     // [B,KVH,hd,S]
        v = g.Op("Transpose", p + "v_t", [v], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));                     // [B,KVH,S,hd]
        // scores: each kv head serves its rep query heads in one product, so k/v are never copied rep times.
        // The 1/sqrt(hd) scale right after the MatMul is folded by ONNX Runtime into one FusedMatMul (alpha).
        string scores = g.Op("MatMul", p + "scores_raw", [q, k]);                                            // [B,KVH,rep*S,S]
        scores = g.Op("Mul", p + "scores", [scores, c.Scale]);                                               // q.k / sqrt(hd)
        scores = g.Op("Add", p + "scores_masked", [scores, c.Bias]);
        string probs = g.Op("Softmax", p + "probs", [scores], OnnxGraphWriter.Int("axis", -1));              // [B,KVH,rep*S,S]
        string ctx = g.Op("MatMul", p + "ctx", [probs, v]);                                                  // [B,KVH,rep*S,hd]
        ctx = g.Op("Reshape", p + "ctx_heads", [ctx, c.HeadShape]);                                          // [B,H,S,hd]
        ctx = g.Op("Transpose", p + "ctx_t", [ctx], OnnxGraphWriter.Ints("perm", 0, 2, 1, 3));               // [B,S,H,hd]
        ctx = g.Op("Reshape", p + "ctx_merged", [ctx, c.MergeShape]);                                        // [B,S,H*hd]
        string attn = g.Op("MatMul", p + "attn_out", [ctx, w.Transposed(LlamaTensorNames.O(l), D, H * hd)]); // [B,S,D]
        if (config.OutputBias) attn = g.Op("Add", p + "attn_out_b", [attn, w.Vector(LlamaTensorNames.OBias(l), D)]);
        x = g.Op("Add", p + "resid_attn", [x, attn]);                                                        // x += attn

        // ---- SwiGLU feed-forward block ----
        xn = RmsNorm(g, w, x, LlamaTensorNames.FfnNorm(l), D, c.Eps, p + "ffn_norm");                      // [B,S,D]
        var (gate, up, _) = Projections(g, w, xn, fuse, p, [LlamaTensorNames.Gate(l), LlamaTensorNames.Up(l)], [n, n], D); // [B,S,N] x2
        if (mlpBias)
        {
            gate = g.Op("Add", p + "gate_b", [gate, w.Vector(LlamaTensorNames.GateBias(l), n)]);
            up = g.Op("Add", p + "up_b", [up, w.Vector(LlamaTensorNames.UpBias(l), n)]);
        }
        string silu = g.Op("Mul", p + "silu", [gate, g.Op("Sigmoid", p + "sigmoid", [gate])]);              // silu(g) = g * sigmoid(g)
        string act = g.Op("Mul", tapName ?? p + "ffn_act", [silu, up]);                                      // [B,S,N] neuron activations
        if (tapOutput) g.Output(act, DT.Float, "batch", "seq", (long)n);
        if (stopAtTap) return act; // nothing downstream of the tap is needed
        string down = g.Op("MatMul", p + "down", [act, w.Transposed(LlamaTensorNames.Down(l), D, n)]);     // [B,S,D]
        if (mlpBias) down = g.Op("Add", p + "down_b", [down, w.Vector(LlamaTensorNames.DownBias(l), D)]);
        return g.Op("Add", p + "resid_ffn", [x, down]);                                                      // x += ffn
    }

    /// <summary>
    /// x @ W_i^T for each of <paramref name="names"/> (rows <paramref name="rows"/>, D columns each): with
    /// <paramref name="fuse"/>, one MatMul against [D, sum rows] (the W_i^T side by side) and a Split on the last axis.
    /// Returns up to three outputs (the third is null for two weights).
    /// </summary>
    private static (string, string, string) Projections(OnnxGraphWriter g, ILayerWeights w, string x, bool fuse, string prefix, string[] names, int[] rows, int d)
    {
        string[] outNames = names.Length == 3 ? [prefix + "q", prefix + "k", prefix + "v"] : [prefix + "gate", prefix + "up"];
        string[] outs;
        if (!fuse)
            outs = names.Select((n, i) => g.Op("MatMul", outNames[i], [x, w.Transposed(n, rows[i], d)])).ToArray();
        else
        {
            string fused = g.Op("MatMul", prefix + (names.Length == 3 ? "qkv" : "gate_up"), [x, w.TransposedSideBySide(names, rows, d)]);
            outs = g.OpMulti("Split", outNames, [fused, g.Int64(prefix + "split_sizes", rows.Select(r => (long)r).ToArray())], OnnxGraphWriter.Int("axis", -1));
        }
        return (outs[0], outs[1], outs.Length > 2 ? outs[2] : null!);
    }

    /// <summary>
    /// RMSNorm: x / sqrt(mean(x^2) + eps) * weight over the last axis, in float32. Written as Pow, ReduceMean, Add,
    /// Sqrt, Div, Mul: the pattern ONNX Runtime fuses into one SimplifiedLayerNormalization kernel.
    /// </summary>
    public static string RmsNorm(OnnxGraphWriter g, ILayerWeights w, string x, string weight, int d, string eps, string name)
    {
        string sq = g.Op("Pow", name + ".sq", [x, g.Scalar(name + ".two", 2f)]);
        string ms = g.Op("ReduceMean", name + ".ms", [sq], OnnxGraphWriter.Ints("axes", -1), OnnxGraphWriter.Int("keepdims", 1)); // [B,S,1]
        string rms = g.Op("Sqrt", name + ".rms", [g.Op("Add", name + ".ms_eps", [ms, eps])]);
        string normed = g.Op("Div", name + ".normed", [x, rms]);
        return g.Op("Mul", name, [normed, w.Vector(weight, d)]);
    }

    /// <summary>Rotary embedding, rotate-halves: x * cos + concat(-x[..., hd/2:], x[..., :hd/2]) * sin. x is [B,S,heads,hd].</summary>
    private static string Rope(OnnxGraphWriter g, string x, string cos, string sin, string name)
    {
        var halves = g.OpMulti("Split", [name + ".lo", name + ".hi"], [x], OnnxGraphWriter.Int("axis", -1));
        string rotated = g.Op("Concat", name + ".rot_half", [g.Op("Neg", name + ".neg_hi", [halves[1]]), halves[0]], OnnxGraphWriter.Int("axis", -1));
        return g.Op("Add", name + "_rope", [g.Op("Mul", name + ".cos", [x, cos]), g.Op("Mul", name + ".sin", [rotated, sin])]);
    }

    /// <summary>W^T [cols, rows] of <paramref name="m"/> [rows, cols].</summary>
    public static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.LongLength];
        TransposeInto(m, rows, cols, t, rows, 0);
        return t;
    }

    /// <summary>[cols, sum rows] holding W_0^T | W_1^T | ... side by side (row c = column c of every W_i).</summary>
    public static float[] TransposeSideBySide(IReadOnlyList<float[]> matrices, int[] rows, int cols)
    {
        int total = rows.Sum();
        var data = new float[(long)cols * total];
        for (int i = 0, offset = 0; i < matrices.Count; offset += rows[i], i++)
            TransposeInto(matrices[i], rows[i], cols, data, total, offset);
        return data;
    }

    /// <summary>
    /// dst[c * dstStride + dstOffset + r] = m[r * cols + c], in 32 x 32 tiles, the strips of tiles in parallel. Element
    /// by element, every write lands on another row of dst (another cache line and often another page): at LLaMA sizes
    /// that made the transposes most of the time of writing model.onnx and of loading a layer for the stream.
    /// </summary>
    private static void TransposeInto(float[] m, int rows, int cols, float[] dst, long dstStride, long dstOffset)
    {
        const int Tile = 32;
        void Strip(int strip)
        {
            int c0 = strip * Tile, c1 = Math.Min(cols, c0 + Tile);
            for (int r0 = 0; r0 < rows; r0 += Tile)
            {
                int r1 = Math.Min(rows, r0 + Tile);
                for (int c = c0; c < c1; c++)
                {
                    long to = c * dstStride + dstOffset;
                    for (int r = r0; r < r1; r++) dst[to + r] = m[(long)r * cols + c];
                }
            }
        }
        int strips = (cols + Tile - 1) / Tile;
        if ((long)rows * cols >= 1 << 18) Parallel.For(0, strips, Strip);
        else for (int strip = 0; strip < strips; strip++) Strip(strip);
    }
}
