using System.Numerics.Tensors;
using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Perf;

/// <summary>
/// The synthetic FFN layer the dense and pruning suites time: activations Z = X A + 0.5 E with X [S x 32] and
/// A [32 x N] standard normal, E standard normal noise (neurons correlated through 32 shared factors, like real FFN
/// activations); W_down [D x N] standard normal; W_up/W_gate zero (not read by what these suites time). Seeded.
/// </summary>
internal static class SyntheticFfnLayer
{
    public static (FfnLayer Layer, LayerActivations Activations) Create(int n, int d, int s, int seed = 1)
    {
        var rng = new Random(seed);
        float Normal() => (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        const int rank = 32;
        var a = new float[rank * n];
        for (int i = 0; i < a.Length; i++) a[i] = Normal();
        var z = new float[(long)s * n];
        for (int r = 0; r < s; r++)
        {
            var row = z.AsSpan((int)((long)r * n), n);
            for (int j = 0; j < n; j++) row[j] = 0.5f * Normal();
            for (int k = 0; k < rank; k++) TensorPrimitives.MultiplyAdd(a.AsSpan(k * n, n), Normal(), row, row);
        }
        var down = new float[(long)d * n];
        for (long i = 0; i < down.Length; i++) down[i] = Normal();
        var up = new float[(long)d * n];
        return (new FfnLayer(0, n, d, up, up, down), new LayerActivations(0, s, n, z));
    }
}
