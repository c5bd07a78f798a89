using LlmPruneFast.Capture;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

/// <summary>
/// Minimal MI estimators for pruning tests only (the real ones live in LlmPruneFast.Information):
/// Gaussian MI from Pearson correlation, I = -1/2 ln(1 - r^2) with r^2 capped at 1 - 1e-12; and plug-in MI on
/// B equal-frequency bins (bin = floor(rank * B / S)), I = sum p(a,b) ln(p(a,b) / (p(a) p(b))).
/// </summary>
internal sealed class TestInformation(string kind, int bins = 8) : IPairInformation
{
    public string Name => kind;
    public PlanParameters Parameters => kind == "plugin" ? new PlanParameters().Set("bins", (long)bins) : new PlanParameters();
    public ILayerInformation Prepare(LayerActivations activations, CancellationToken ct) => new Layer(activations, kind, bins);

    private sealed class Layer : ILayerInformation
    {
        private readonly double[][] _cols;
        private readonly int[][] _bins;
        private readonly string _kind;
        private readonly int _b, _s;

        public Layer(LayerActivations z, string kind, int bins)
        {
            (_kind, _b, _s) = (kind, bins, z.Rows);
            Neurons = z.Columns;
            _cols = new double[Neurons][];
            _bins = new int[Neurons][];
            for (int j = 0; j < Neurons; j++)
            {
                var c = z.Column(j);
                double mean = c.Average();
                double sd = Math.Sqrt(c.Sum(v => (v - mean) * (v - mean)));
                _cols[j] = c.Select(v => sd > 0 ? (v - mean) / sd : 0).ToArray();
                var order = Enumerable.Range(0, _s).OrderBy(r => c[r]).ThenBy(r => r).ToArray();
                _bins[j] = new int[_s];
                for (int rank = 0; rank < _s; rank++) _bins[j][order[rank]] = (int)((long)rank * bins / _s);
            }
        }

        public int Neurons { get; }

        public double Pair(int i, int j) => Mi(_cols[i], _cols[j], _bins[i], _bins[j]);

        private double Mi(double[] x, double[] y, int[] bx, int[] by)
        {
            if (_kind == "gaussian")
            {
                double r = 0;
                for (int s = 0; s < x.Length; s++) r += x[s] * y[s];
                return -0.5 * Math.Log(1 - Math.Min(r * r, 1 - 1e-12));
            }
            var joint = new double[_b * _b];
            for (int s = 0; s < _s; s++) joint[bx[s] * _b + by[s]]++;
            var px = new double[_b];
            var py = new double[_b];
            for (int a = 0; a < _b; a++)
                for (int b = 0; b < _b; b++) { px[a] += joint[a * _b + b]; py[b] += joint[a * _b + b]; }
            double mi = 0;
            for (int a = 0; a < _b; a++)
                for (int b = 0; b < _b; b++)
                {
                    double p = joint[a * _b + b] / _s;
                    if (p > 0) mi += p * Math.Log(p * _s * _s / (px[a] * py[b]));
                }
            return mi;
        }

        public double[] AllPairs(IProgress<double>? progress, CancellationToken ct)
        {
            var m = new double[Neurons * Neurons];
            for (int i = 0; i < Neurons; i++)
                for (int j = i + 1; j < Neurons; j++) m[i * Neurons + j] = m[j * Neurons + i] = Pair(i, j);
            return m;
        }

        public double[] NullSamples(int count, int seed, CancellationToken ct)
        {
            var rng = new Random(seed);
            var v = new double[count];
            for (int t = 0; t < count; t++)
            {
                int i = rng.Next(Neurons), j = rng.Next(Neurons - 1);
                if (j >= i) j++;
                var perm = Enumerable.Range(0, _s).OrderBy(_ => rng.Next()).ToArray();
                v[t] = Mi(_cols[i], perm.Select(r => _cols[j][r]).ToArray(), _bins[i], perm.Select(r => _bins[j][r]).ToArray());
            }
            return v;
        }
    }
}
