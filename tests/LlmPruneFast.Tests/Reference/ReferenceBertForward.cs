using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Reference;

/// <summary>
/// An independent, plain float64 forward pass of a BERT encoder (Hugging Face BertModel conventions), reading the
/// weights straight from the initializers of a torch-exported model.onnx. It exists only to check what ONNX Runtime
/// computes for the same graph, so it runs one unpadded sentence at a time and is written to be read.
/// </summary>
/// <remarks>
/// x = LN(word[id] + position[t] + token_type[0]); per layer: q, k, v = x Wq + bq, ...; per head softmax(q k^T /
/// sqrt(hs)) v; x = LN(x + (att Wo + bo)); x = LN(x + (gelu(x W1 + b1) W2 + b2)), gelu(z) = z (1 + erf(z / sqrt 2)) / 2;
/// LN(x) = (x - mean) / sqrt(var + 1e-12) * gamma + beta. The torch export names biases and LayerNorm parameters
/// (encoder.layer.L.attention.self.query.bias, ...) but not the transposed MatMul weights, so each weight is the
/// initializer that feeds the MatMul whose output the named bias is added to.
/// </remarks>
public sealed class ReferenceBertForward
{
    private const double Eps = 1e-12;
    private readonly int _d, _heads;
    private readonly double[] _word, _position, _type, _embGamma, _embBeta;
    private readonly Layer[] _layers;

    /// <summary>Weights stored [out, in] (transposed from the graph's [in, out]) so each output is one dot product.</summary>
    private sealed record Linear(double[] W, double[] B, int In, int Out);

    private sealed record Layer(Linear Q, Linear K, Linear V, Linear O, double[] G1, double[] B1, Linear Up, Linear Down, double[] G2, double[] B2);

    public ReferenceBertForward(string onnxPath, int heads)
    {
        var graph = OnnxModelFile.Load(onnxPath).Graph;
        var inits = graph.Initializer.ToDictionary(t => t.Name);
        double[] Load(string name) => ToDoubles(inits[name]);
        Linear Lin(string biasName)
        {
            var add = graph.Node.Single(n => n.OpType == "Add" && n.Input.Contains(biasName));
            string product = add.Input.Single(i => i != biasName);
            var matmul = graph.Node.Single(n => n.OpType == "MatMul" && n.Output.Contains(product));
            var w = inits[matmul.Input[1]];
            int rows = (int)w.Dims[0], cols = (int)w.Dims[1];
            var src = ToDoubles(w);
            var t = new double[src.Length];
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) t[j * rows + i] = src[i * cols + j];
            return new Linear(t, Load(biasName), rows, cols);
        }
        _word = Load("embeddings.word_embeddings.weight");
        _position = Load("embeddings.position_embeddings.weight");
        _type = Load("embeddings.token_type_embeddings.weight");
        _embGamma = Load("embeddings.LayerNorm.weight");
        _embBeta = Load("embeddings.LayerNorm.bias");
        _d = _embGamma.Length;
        _heads = heads;
        var layers = new List<Layer>();
        for (int l = 0; inits.ContainsKey($"encoder.layer.{l}.attention.self.query.bias"); l++)
        {
            string p = $"encoder.layer.{l}.";
            layers.Add(new Layer(Lin(p + "attention.self.query.bias"), Lin(p + "attention.self.key.bias"), Lin(p + "attention.self.value.bias"),
                Lin(p + "attention.output.dense.bias"), Load(p + "attention.output.LayerNorm.weight"), Load(p + "attention.output.LayerNorm.bias"),
                Lin(p + "intermediate.dense.bias"), Lin(p + "output.dense.bias"), Load(p + "output.LayerNorm.weight"), Load(p + "output.LayerNorm.bias")));
        }
        _layers = [.. layers];
    }

    public int Layers => _layers.Length;

    /// <summary>
    /// Token states [n][d] of each sentence (token ids with [CLS] and [SEP]). Sentences never see each other: they are
    /// only stacked so each weight row is read once for all their tokens.
    /// </summary>
    public double[][][] States(IReadOnlyList<int[]> sentences)
    {
        int d = _d, hs = d / _heads;
        var starts = new int[sentences.Count + 1];
        for (int i = 0; i < sentences.Count; i++) starts[i + 1] = starts[i] + sentences[i].Length;
        var x = new double[starts[^1]][];
        for (int i = 0; i < sentences.Count; i++)
            for (int t = 0; t < sentences[i].Length; t++)
            {
                var row = x[starts[i] + t] = new double[d];
                for (int j = 0; j < d; j++) row[j] = _word[sentences[i][t] * d + j] + _position[t * d + j] + _type[j];
                LayerNorm(row, _embGamma, _embBeta);
            }
        foreach (var layer in _layers)
        {
            var q = Apply(layer.Q, x);
            var k = Apply(layer.K, x);
            var v = Apply(layer.V, x);
            var att = new double[x.Length][];
            for (int i = 0; i < sentences.Count; i++)
            {
                int s0 = starts[i], n = starts[i + 1] - s0;
                for (int t = s0; t < s0 + n; t++)
                {
                    att[t] = new double[d];
                    for (int h = 0; h < _heads; h++)
                    {
                        var scores = new double[n];
                        for (int s = 0; s < n; s++)
                            scores[s] = TensorPrimitives.Dot<double>(q[t].AsSpan(h * hs, hs), k[s0 + s].AsSpan(h * hs, hs)) / Math.Sqrt(hs);
                        double max = scores.Max(), sum = 0;
                        for (int s = 0; s < n; s++) sum += scores[s] = Math.Exp(scores[s] - max);
                        for (int s = 0; s < n; s++)
                            for (int j = 0; j < hs; j++) att[t][h * hs + j] += scores[s] / sum * v[s0 + s][h * hs + j];
                    }
                }
            }
            var o = Apply(layer.O, att);
            for (int t = 0; t < x.Length; t++)
            {
                for (int j = 0; j < d; j++) x[t][j] += o[t][j];
                LayerNorm(x[t], layer.G1, layer.B1);
            }
            var up = Apply(layer.Up, x);
            foreach (var h in up)
                for (int j = 0; j < h.Length; j++) h[j] = 0.5 * h[j] * (1 + Erf(h[j] / Math.Sqrt(2)));
            var f = Apply(layer.Down, up);
            for (int t = 0; t < x.Length; t++)
            {
                for (int j = 0; j < d; j++) x[t][j] += f[t][j];
                LayerNorm(x[t], layer.G2, layer.B2);
            }
        }
        return Enumerable.Range(0, sentences.Count).Select(i => x[starts[i]..starts[i + 1]]).ToArray();
    }

    /// <summary>Mean of each sentence's token states (mean pooling of unpadded sentences).</summary>
    public double[][] MeanPooled(IReadOnlyList<int[]> sentences) =>
        States(sentences).Select(states =>
        {
            var mean = new double[_d];
            foreach (var row in states)
                for (int j = 0; j < _d; j++) mean[j] += row[j] / states.Length;
            return mean;
        }).ToArray();

    /// <summary>
    /// y = x W + b for every row of x, in float64: OpenBLAS's dgemm when the machine has it (the test's run time is
    /// this product; a float64 GEMM only sums in another order), else plain dot products.
    /// </summary>
    private static double[][] Apply(Linear lin, double[][] x) => NativeBlas.Available ? ApplyBlas(lin, x) : ApplyManaged(lin, x);

    /// <summary>Both products of one layer of weights [out, in] (for the test that they agree).</summary>
    internal static (double[][] Blas, double[][] Managed) BothProducts(double[] weights, double[] bias, int inputs, double[][] x)
    {
        var lin = new Linear(weights, bias, inputs, bias.Length);
        return (ApplyBlas(lin, x), ApplyManaged(lin, x));
    }

    private static double[][] ApplyBlas(Linear lin, double[][] x)
    {
        int n = lin.In, m = lin.Out;
        var a = new double[x.Length * n];
        var c = new double[x.Length * m];
        for (int t = 0; t < x.Length; t++)
        {
            x[t].CopyTo(a, t * n);
            lin.B.CopyTo(c, t * m); // beta = 1 adds the bias
        }
        NativeBlas.Gemm(transA: false, transB: true, x.Length, m, n, 1.0, a, n, lin.W, n, 1.0, c, m);
        var y = new double[x.Length][];
        for (int t = 0; t < x.Length; t++) y[t] = c.AsSpan(t * m, m).ToArray();
        return y;
    }

    /// <summary>
    /// The managed product: plain dot products, blocked two weight rows by four token rows so each loaded vector
    /// feeds several multiply-adds.
    /// </summary>
    private static double[][] ApplyManaged(Linear lin, double[][] x)
    {
        int n = lin.In, vw = Vector<double>.Count;
        var y = new double[x.Length][];
        for (int t = 0; t < x.Length; t++) y[t] = new double[lin.Out];
        bool blocked = n % vw == 0 && lin.Out % 2 == 0;
        int t4 = blocked ? x.Length / 4 * 4 : 0;
        for (int o = 0; o < lin.Out; o += blocked ? 2 : 1)
        {
            for (int t = 0; t < t4; t += 4)
            {
                var w0 = lin.W.AsSpan(o * n, n);
                var w1 = lin.W.AsSpan((o + 1) * n, n);
                Vector<double> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default;
                double[] x0 = x[t], x1 = x[t + 1], x2 = x[t + 2], x3 = x[t + 3];
                for (int k = 0; k < n; k += vw)
                {
                    var v0 = new Vector<double>(w0[k..]);
                    var v1 = new Vector<double>(w1[k..]);
                    var u0 = new Vector<double>(x0.AsSpan(k));
                    var u1 = new Vector<double>(x1.AsSpan(k));
                    var u2 = new Vector<double>(x2.AsSpan(k));
                    var u3 = new Vector<double>(x3.AsSpan(k));
                    a00 += v0 * u0; a01 += v0 * u1; a02 += v0 * u2; a03 += v0 * u3;
                    a10 += v1 * u0; a11 += v1 * u1; a12 += v1 * u2; a13 += v1 * u3;
                }
                y[t][o] = Vector.Sum(a00) + lin.B[o]; y[t + 1][o] = Vector.Sum(a01) + lin.B[o];
                y[t + 2][o] = Vector.Sum(a02) + lin.B[o]; y[t + 3][o] = Vector.Sum(a03) + lin.B[o];
                y[t][o + 1] = Vector.Sum(a10) + lin.B[o + 1]; y[t + 1][o + 1] = Vector.Sum(a11) + lin.B[o + 1];
                y[t + 2][o + 1] = Vector.Sum(a12) + lin.B[o + 1]; y[t + 3][o + 1] = Vector.Sum(a13) + lin.B[o + 1];
            }
            for (int r = o; r < o + (blocked ? 2 : 1); r++)
            {
                var w = lin.W.AsSpan(r * n, n);
                for (int t = t4; t < x.Length; t++) y[t][r] = TensorPrimitives.Dot<double>(w, x[t]) + lin.B[r];
            }
        }
        return y;
    }

    private static void LayerNorm(double[] x, double[] gamma, double[] beta)
    {
        double mean = x.Average();
        double var = x.Sum(v => (v - mean) * (v - mean)) / x.Length;
        double inv = 1 / Math.Sqrt(var + Eps);
        for (int j = 0; j < x.Length; j++) x[j] = (x[j] - mean) * inv * gamma[j] + beta[j];
    }

    /// <summary>
    /// erf in double: its Maclaurin series below |z| = 3 (terms alternate, about 1e-12 lost to cancellation), the
    /// Laplace continued fraction of erfc above.
    /// </summary>
    private const int SeriesTerms = 200;
    private static readonly double[] InverseK = Enumerable.Range(0, SeriesTerms).Select(k => 1.0 / Math.Max(k, 1)).ToArray();
    private static readonly double[] InverseOdd = Enumerable.Range(0, SeriesTerms).Select(k => 1.0 / (2 * k + 1)).ToArray();

    public static double Erf(double z)
    {
        double a = Math.Abs(z);
        // erfc(6) = 2.2e-17 is under half an ulp of 1 (5.6e-17): erf rounds to exactly +-1 there, and the continued
        // fraction's 120 divisions would only find that again (large pre-activations are common in GELU layers).
        if (a >= 6) return z < 0 ? -1 : 1;
        double r;
        if (a < 3)
        {
            double term = a, sum = a;
            for (int k = 1; k < SeriesTerms && Math.Abs(term) > 1e-17 * sum; k++)
            {
                term *= -a * a * InverseK[k];
                sum += term * InverseOdd[k];
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            double t = a;
            for (int k = 120; k >= 1; k--) t = a + k / 2.0 / t;
            r = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / t;
        }
        return z < 0 ? -r : r;
    }

    private static double[] ToDoubles(TensorProto t)
    {
        if (t.DataType != (int)TensorProto.Types.DataType.Float) throw new InvalidOperationException($"{t.Name}: not float32");
        var floats = t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
        return Array.ConvertAll(floats, f => (double)f);
    }
}
