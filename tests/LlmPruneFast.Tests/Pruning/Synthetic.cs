using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>A synthetic SwiGLU FFN with its calibration activations, and planted copies of some neurons.</summary>
internal sealed class SyntheticFfn
{
    public required FfnLayer Layer { get; init; }
    public required LayerActivations Activations { get; init; }
    /// <summary>(original, copy) neuron ids of planted pairs.</summary>
    public (int Original, int Copy)[] Planted { get; init; } = [];

    public static double Silu(double x) => x / (1 + Math.Exp(-x));

    /// <summary>
    /// Random FFN with n neurons, hidden d, s calibration rows (x ~ N(0, 1)), and <paramref name="copies"/> planted
    /// copies: copy of neuron o has o's gate row, up row scaled by c (so z_copy = c z_o) and the down column
    /// w_o split so the function is unchanged (o keeps w_o / 2, the copy gets w_o / (2c)). Copies are appended
    /// then all neurons are shuffled so ids carry no hint.
    /// </summary>
    public static SyntheticFfn Create(int n, int d, int s, int copies, double c, int seed, int index = 0, bool downBias = false)
    {
        var rng = new Random(seed);
        double Normal() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        int total = n + copies;
        var gate = new double[total, d];
        var up = new double[total, d];
        var down = new double[d, total];
        for (int j = 0; j < n; j++)
            for (int i = 0; i < d; i++) { gate[j, i] = Normal() / Math.Sqrt(d); up[j, i] = Normal() / Math.Sqrt(d); }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < n; j++) down[i, j] = Normal() / Math.Sqrt(n) * (0.3 + rng.NextDouble());
        var originals = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(copies).ToArray();
        for (int p = 0; p < copies; p++)
        {
            int o = originals[p], k = n + p;
            for (int i = 0; i < d; i++)
            {
                gate[k, i] = gate[o, i];
                up[k, i] = c * up[o, i];
                double w = down[i, o];
                down[i, o] = w / 2;
                down[i, k] = w / (2 * c);
            }
        }
        // Shuffle neuron ids.
        var perm = Enumerable.Range(0, total).OrderBy(_ => rng.Next()).ToArray();   // new id q holds old neuron perm[q]
        var where = new int[total];
        for (int q = 0; q < total; q++) where[perm[q]] = q;
        var gf = new float[total * d];
        var uf = new float[total * d];
        var df = new float[d * total];
        for (int q = 0; q < total; q++)
            for (int i = 0; i < d; i++)
            {
                gf[q * d + i] = (float)gate[perm[q], i];
                uf[q * d + i] = (float)up[perm[q], i];
                df[i * total + q] = (float)down[i, perm[q]];
            }
        float[]? bias = downBias ? Enumerable.Range(0, d).Select(_ => (float)Normal()).ToArray() : null;
        var layer = new FfnLayer(index, total, d, gf, uf, df, downBias: bias);
        var z = new float[s * total];
        var x = new double[d];
        for (int r = 0; r < s; r++)
        {
            for (int i = 0; i < d; i++) x[i] = Normal();
            for (int q = 0; q < total; q++)
            {
                double g = 0, u = 0;
                for (int i = 0; i < d; i++) { g += gf[q * d + i] * x[i]; u += uf[q * d + i] * x[i]; }
                z[r * total + q] = (float)(Silu(g) * u);
            }
        }
        var planted = originals.Select((o, p) => (where[o], where[n + p])).ToArray();
        return new SyntheticFfn { Layer = layer, Activations = new LayerActivations(index, s, total, z), Planted = planted };
    }

    /// <summary>FFN output on the calibration rows: Y[s, i] = sum_j W[i, j] Z[s, j] + b[i] (float64).</summary>
    public static double[] Output(LayerActivations z, int[] columns, ReadOnlySpan<double> down, ReadOnlySpan<double> bias, int d)
    {
        int s = z.Rows, n = z.Columns, k = columns.Length;
        var y = new double[s * d];
        var zs = z.Data.Span;
        for (int r = 0; r < s; r++)
            for (int i = 0; i < d; i++)
            {
                double acc = bias.IsEmpty ? 0 : bias[i];
                for (int c = 0; c < k; c++) acc += down[i * k + c] * zs[r * n + columns[c]];
                y[r * d + i] = acc;
            }
        return y;
    }

    /// <summary>Output of the unpruned layer.</summary>
    public double[] DenseOutput()
    {
        var l = Layer;
        var w = l.Down.ToArray().Select(v => (double)v).ToArray();
        var b = l.DownBias is { } db ? db.ToArray().Select(v => (double)v).ToArray() : [];
        return Output(Activations, Enumerable.Range(0, l.Neurons).ToArray(), w, b, l.Hidden);
    }

    /// <summary>Output of a sliced layer on the same rows.</summary>
    public double[] SlicedOutput(SlicedFfnLayer sliced) => Output(Activations, sliced.Kept, sliced.Down, sliced.DownBias, sliced.Hidden);

    /// <summary>||a - b|| / ||a||.</summary>
    public static double RelativeError(double[] a, double[] b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += a[i] * a[i]; }
        return Math.Sqrt(num / den);
    }
}
