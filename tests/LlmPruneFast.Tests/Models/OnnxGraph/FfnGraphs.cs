using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using DT = LlmPruneFast.Models.Onnx.Proto.TensorProto.Types.DataType;

namespace LlmPruneFast.Tests.Models.OnnxGraph;

/// <summary>How a test FFN is written in ONNX.</summary>
public sealed record FfnGraphShape
{
    public string Activation { get; init; } = "gelu-erf"; // gelu-erf | gelu-tanh | gelu-op | relu | silu
    public bool Gated { get; init; }
    public bool Bias { get; init; } = true;
    /// <summary>Weights stored [out, in] and read through a Transpose node.</summary>
    public bool Transposed { get; init; }
    /// <summary>Gemm nodes (input is 2-D [tokens, d]).</summary>
    public bool Gemm { get; init; }
    public int Blocks { get; init; } = 2;
    public int Hidden { get; init; } = 6;
    public int Width { get; init; } = 10;
    public int Seed { get; init; } = 5;
}

/// <summary>Small transformer-like graphs (residual FFN blocks between LayerNorm-free mixing) built in code.</summary>
internal static class FfnGraphs
{
    public static ModelProto Build(FfnGraphShape s, Action<OnnxGraphWriter, string>? extra = null)
    {
        var rng = new Random(s.Seed);
        float[] R(long n, double scale = 0.5) => Enumerable.Range(0, (int)n).Select(_ => (float)((rng.NextDouble() * 2 - 1) * scale)).ToArray();
        var g = new OnnxGraphWriter("test");
        int d = s.Hidden, f = s.Width;
        if (s.Gemm) g.Input("x", DT.Float, "tokens", (long)d);
        else g.Input("x", DT.Float, "batch", "seq", (long)d);
        string x = "x";
        for (int b = 0; b < s.Blocks; b++)
        {
            string p = $"b{b}.";
            // a square mixing layer between blocks (not an FFN)
            x = g.Op("MatMul", p + "mix", [x, g.Float(p + "mix.w", [d, d], R(d * d))]);
            string Proj(string name, int inDim, int outDim, string input, bool bias)
            {
                if (s.Gemm)
                {
                    string w = g.Float(name + ".w", [outDim, inDim], R((long)inDim * outDim));
                    string[] ins = bias ? [input, w, g.Float(name + ".b", [outDim], R(outDim, 0.1))] : [input, w];
                    return g.Op("Gemm", name, ins, OnnxGraphWriter.Int("transB", 1));
                }
                string weight = s.Transposed
                    ? g.Op("Transpose", name + ".wt", [g.Float(name + ".w", [outDim, inDim], R((long)inDim * outDim))], OnnxGraphWriter.Ints("perm", 1, 0))
                    : g.Float(name + ".w", [inDim, outDim], R((long)inDim * outDim));
                string y = g.Op("MatMul", name, [input, weight]);
                return bias ? g.Op("Add", name + "_b", [g.Float(name + ".b", [outDim], R(outDim, 0.1)), y]) : y;
            }
            string up = Proj(p + "up", d, f, x, s.Bias);
            string gate = s.Gated ? Proj(p + "gate", d, f, x, s.Bias) : up;
            string act = Activation(g, s.Activation, gate, p);
            string z = s.Gated ? g.Op("Mul", p + "z", [act, up]) : act;
            string down = Proj(p + "down", f, d, z, s.Bias);
            x = g.Op("Add", p + "resid", [x, down]);
        }
        extra?.Invoke(g, x);
        if (s.Gemm) g.Output(x, DT.Float, "tokens", (long)d);
        else g.Output(x, DT.Float, "batch", "seq", (long)d);
        return g.ToModel(13, "test", [new("purpose", "unit test")]);
    }

    public static string Activation(OnnxGraphWriter g, string kind, string u, string p)
    {
        switch (kind)
        {
            case "gelu-erf": // 0.5 * u * (1 + erf(u / sqrt 2)), as torch exports it
                {
                    string e = g.Op("Erf", p + "erf", [g.Op("Div", p + "div", [u, g.Scalar(p + "sqrt2", MathF.Sqrt(2f))])]);
                    string one = g.Op("Add", p + "erf1", [e, g.Scalar(p + "one", 1f)]);
                    return g.Op("Mul", p + "gelu", [g.Op("Mul", p + "ugelu", [u, one]), g.Scalar(p + "half", 0.5f)]);
                }
            case "gelu-tanh": // 0.5 u (1 + tanh(sqrt(2/pi) (u + 0.044715 u^3)))
                {
                    string cube = g.Op("Pow", p + "cube", [u, g.Scalar(p + "three", 3f)]);
                    string inner = g.Op("Add", p + "inner", [u, g.Op("Mul", p + "c3", [cube, g.Scalar(p + "k", 0.044715f)])]);
                    string t = g.Op("Tanh", p + "tanh", [g.Op("Mul", p + "scaled", [inner, g.Scalar(p + "s2pi", MathF.Sqrt(2f / MathF.PI))])]);
                    string one = g.Op("Add", p + "t1", [t, g.Scalar(p + "one", 1f)]);
                    return g.Op("Mul", p + "gelu", [g.Op("Mul", p + "ut", [u, one]), g.Scalar(p + "half", 0.5f)]);
                }
            case "gelu-op": return g.Op("Gelu", p + "gelu", [u]); // opset 20
            case "relu": return g.Op("Relu", p + "relu", [u]);
            case "silu": return g.Op("Mul", p + "silu", [u, g.Op("Sigmoid", p + "sig", [u])]);
            default: throw new ArgumentException(kind);
        }
    }
}
