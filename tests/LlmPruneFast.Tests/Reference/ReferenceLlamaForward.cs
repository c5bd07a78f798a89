using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Tests.Reference;

/// <summary>
/// An independent, plain float64 forward pass of a LLaMA-family decoder in Hugging Face conventions, written like
/// llama2.c's run.c: one token at a time with a KV cache. It exists only to check the engine (importers, ONNX
/// graphs, pruned checkpoints) against something simple enough to trust by reading.
/// </summary>
/// <remarks>
/// Per layer l, for the token at position p with residual x [D]:
/// h = RMSNorm(x) * w_in; q = Wq h + bq, k = Wk h + bk, v = Wv h + bv (biases when the config has them); RoPE on
/// halves of every head (pair (i, i + hs/2), angle p * f_i, f_i = theta^(-2i/hs) times the rope scaling's factor
/// for f_i, see <see cref="ScaledFrequency"/>); attention of q against cached k/v of positions 0..p, or only the
/// last sliding_window of them (query head j reads KV head j / (heads / kv_heads)), scores scaled by 1/sqrt(hs),
/// softmax; x += Wo att + bo;
/// h = RMSNorm(x) * w_post; x += Wdown (silu(Wgate h + bg) * (Wup h + bu)) + bd (biases only when mlp_bias).
/// logits = Whead (RMSNorm(x) * w_final), Whead = embedding when tied. RMSNorm(x) = x / sqrt(mean(x^2) + eps).
/// </remarks>
public sealed class ReferenceLlamaForward
{
    private readonly LlamaConfig _c;
    private readonly double[] _embedding, _finalNorm, _head;
    private readonly Layer[] _layers;
    private readonly double[][] _keyCache, _valueCache; // per layer [maxPos * kvDim]
    private readonly int _maxPositions;

    private sealed record Layer(double[] AttNorm, double[] Wq, double[] Wk, double[] Wv, double[] Wo, double[] FfnNorm,
        double[] Gate, double[] Up, double[] Down, double[]? GateBias, double[]? UpBias, double[]? DownBias, int Width)
    {
        public double[]? QBias, KBias, VBias, OBias;
    }

    /// <summary>Called with (layer, position, activations silu(gate) * up [width]) during <see cref="Step"/>; for checking taps.</summary>
    public Action<int, int, double[]>? FfnActivation { get; set; }

    public ReferenceLlamaForward(LlamaConfig config, ITensorSource tensors, int maxPositions)
    {
        _c = config;
        _maxPositions = maxPositions;
        double[] Load(string name) => Array.ConvertAll(tensors.ReadFloat32(name), f => (double)f);
        _embedding = Load(LlamaTensorNames.Embedding);
        _finalNorm = Load(LlamaTensorNames.FinalNorm);
        _head = config.TieWordEmbeddings ? _embedding : Load(LlamaTensorNames.LmHead);
        _layers = new Layer[config.NumHiddenLayers];
        int kvDim = config.NumKeyValueHeads * config.HeadDim;
        _keyCache = new double[config.NumHiddenLayers][];
        _valueCache = new double[config.NumHiddenLayers][];
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            bool b = config.MlpBias;
            _layers[l] = new Layer(Load(LlamaTensorNames.AttentionNorm(l)), Load(LlamaTensorNames.Q(l)), Load(LlamaTensorNames.K(l)),
                Load(LlamaTensorNames.V(l)), Load(LlamaTensorNames.O(l)), Load(LlamaTensorNames.FfnNorm(l)),
                Load(LlamaTensorNames.Gate(l)), Load(LlamaTensorNames.Up(l)), Load(LlamaTensorNames.Down(l)),
                b ? Load(LlamaTensorNames.GateBias(l)) : null, b ? Load(LlamaTensorNames.UpBias(l)) : null,
                b ? Load(LlamaTensorNames.DownBias(l)) : null, config.FfnWidth(l))
            {
                QBias = config.QkvBias ? Load(LlamaTensorNames.QBias(l)) : null,
                KBias = config.QkvBias ? Load(LlamaTensorNames.KBias(l)) : null,
                VBias = config.QkvBias ? Load(LlamaTensorNames.VBias(l)) : null,
                OBias = config.OutputBias ? Load(LlamaTensorNames.OBias(l)) : null,
            };
            _keyCache[l] = new double[maxPositions * kvDim];
            _valueCache[l] = new double[maxPositions * kvDim];
        }
    }

    /// <summary>Logits [ids.Length, vocab] of a causal forward over <paramref name="ids"/> (position 0 first).</summary>
    public static float[,] Logits(LlamaConfig config, ITensorSource tensors, int[] ids)
    {
        var model = new ReferenceLlamaForward(config, tensors, ids.Length);
        var result = new float[ids.Length, config.VocabSize];
        for (int p = 0; p < ids.Length; p++)
        {
            var logits = model.Step(ids[p], p);
            for (int v = 0; v < logits.Length; v++) result[p, v] = (float)logits[v];
        }
        return result;
    }

    /// <summary>Greedy continuation of <paramref name="prompt"/>: <paramref name="steps"/> argmax tokens (ties to the lowest id).</summary>
    public static int[] Greedy(LlamaConfig config, ITensorSource tensors, int[] prompt, int steps)
    {
        var model = new ReferenceLlamaForward(config, tensors, prompt.Length + steps);
        var output = new int[steps];
        double[] logits = [];
        for (int p = 0; p < prompt.Length; p++) logits = model.Step(prompt[p], p);
        for (int s = 0; s < steps; s++)
        {
            int next = 0;
            for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[next]) next = v;
            output[s] = next;
            if (s + 1 < steps) logits = model.Step(next, prompt.Length + s);
        }
        return output;
    }

    /// <summary>Feeds token <paramref name="token"/> at position <paramref name="pos"/> (positions must come in order 0, 1, ...); returns its logits.</summary>
    public double[] Step(int token, int pos)
    {
        if (pos >= _maxPositions) throw new ArgumentOutOfRangeException(nameof(pos));
        int d = _c.HiddenSize, hs = _c.HeadDim, heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads;
        int qDim = heads * hs, kvDim = kvHeads * hs, group = heads / kvHeads;
        var x = _embedding.AsSpan(token * d, d).ToArray();
        var h = new double[d];
        var q = new double[qDim];
        var att = new double[qDim];
        var scores = new double[pos + 1];
        for (int l = 0; l < _layers.Length; l++)
        {
            var layer = _layers[l];
            // attention block
            RmsNorm(h, x, layer.AttNorm);
            MatVec(q, layer.Wq, h, layer.QBias);
            var k = _keyCache[l].AsSpan(pos * kvDim, kvDim);
            var v = _valueCache[l].AsSpan(pos * kvDim, kvDim);
            MatVec(k, layer.Wk, h, layer.KBias);
            MatVec(v, layer.Wv, h, layer.VBias);
            Rope(q, heads, hs, pos);
            Rope(k, kvHeads, hs, pos);
            for (int head = 0; head < heads; head++)
            {
                int kvHead = head / group;
                var qh = q.AsSpan(head * hs, hs);
                int first = _c.SlidingWindow is int window ? Math.Max(0, pos - window + 1) : 0; // keys before it are not seen
                for (int t = 0; t < first; t++) scores[t] = double.NegativeInfinity;
                for (int t = first; t <= pos; t++)
                {
                    var kt = _keyCache[l].AsSpan(t * kvDim + kvHead * hs, hs);
                    double dot = 0;
                    for (int i = 0; i < hs; i++) dot += qh[i] * kt[i];
                    scores[t] = dot / Math.Sqrt(hs);
                }
                Softmax(scores);
                var ah = att.AsSpan(head * hs, hs);
                ah.Clear();
                for (int t = 0; t <= pos; t++)
                {
                    var vt = _valueCache[l].AsSpan(t * kvDim + kvHead * hs, hs);
                    for (int i = 0; i < hs; i++) ah[i] += scores[t] * vt[i];
                }
            }
            var o = new double[d];
            MatVec(o, layer.Wo, att, layer.OBias);
            for (int i = 0; i < d; i++) x[i] += o[i];

            // SwiGLU FFN block
            RmsNorm(h, x, layer.FfnNorm);
            var gate = new double[layer.Width];
            var up = new double[layer.Width];
            MatVec(gate, layer.Gate, h, layer.GateBias);
            MatVec(up, layer.Up, h, layer.UpBias);
            for (int j = 0; j < layer.Width; j++) gate[j] = gate[j] / (1 + Math.Exp(-gate[j])) * up[j];
            FfnActivation?.Invoke(l, pos, gate);
            var down = new double[d];
            MatVec(down, layer.Down, gate, layer.DownBias);
            for (int i = 0; i < d; i++) x[i] += down[i];
        }
        RmsNorm(h, x, _finalNorm);
        var logits = new double[_c.VocabSize];
        MatVec(logits, _head, h, null);
        return logits;
    }

    private void RmsNorm(Span<double> output, ReadOnlySpan<double> x, double[] weight)
    {
        double ss = 0;
        foreach (var value in x) ss += value * value;
        double scale = 1.0 / Math.Sqrt(ss / x.Length + _c.RmsNormEps);
        for (int i = 0; i < x.Length; i++) output[i] = x[i] * scale * weight[i];
    }

    /// <summary>output = W input (+ bias), W [output.Length, input.Length] row-major.</summary>
    private static void MatVec(Span<double> output, double[] w, ReadOnlySpan<double> input, double[]? bias)
    {
        int n = input.Length;
        if (w.Length != output.Length * n) throw new InvalidOperationException($"weight has {w.Length} elements, expected {output.Length} x {n}");
        for (int r = 0; r < output.Length; r++)
        {
            double sum = bias?[r] ?? 0;
            var row = w.AsSpan(r * n, n);
            for (int i = 0; i < n; i++) sum += row[i] * input[i];
            output[r] = sum;
        }
    }

    /// <summary>Rotate-half RoPE: in every head, (v[i], v[i + hs/2]) rotated by pos * theta^(-2i/hs).</summary>
    private void Rope(Span<double> v, int heads, int hs, int pos)
    {
        int half = hs / 2;
        for (int head = 0; head < heads; head++)
        {
            var vh = v.Slice(head * hs, hs);
            for (int i = 0; i < half; i++)
            {
                double angle = pos * ScaledFrequency(Math.Pow(_c.RopeTheta, -2.0 * i / hs));
                double cos = Math.Cos(angle), sin = Math.Sin(angle);
                double a = vh[i], b = vh[i + half];
                vh[i] = a * cos - b * sin;
                vh[i + half] = a * sin + b * cos;
            }
        }
    }

    /// <summary>
    /// The rotary frequency f after rope scaling. linear: f / factor (positions stretched by factor). llama3 (Meta's
    /// apply_scaling): with r = original_max_position_embeddings / wavelength (wavelength = 2 pi / f), r above
    /// high_freq_factor keeps f, r below low_freq_factor gives f / factor, and in between f times the straight line
    /// from 1/factor (at r = low) to 1 (at r = high).
    /// </summary>
    private double ScaledFrequency(double f)
    {
        var s = _c.RopeScaling;
        if (s == null) return f;
        if (s.Type == "linear") return f / s.Factor;
        if (s.Type != "llama3") throw new NotSupportedException(s.Type);
        double r = s.OriginalMaxPositionEmbeddings * f / (2 * Math.PI);
        if (r > s.HighFreqFactor) return f;
        if (r < s.LowFreqFactor) return f / s.Factor;
        double t = (r - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return f * (1 / s.Factor + t * (1 - 1 / s.Factor));
    }

    private static void Softmax(Span<double> s)
    {
        double max = double.NegativeInfinity;
        foreach (var value in s) max = Math.Max(max, value);
        double sum = 0;
        for (int i = 0; i < s.Length; i++) { s[i] = Math.Exp(s[i] - max); sum += s[i]; }
        for (int i = 0; i < s.Length; i++) s[i] /= sum;
    }
}
