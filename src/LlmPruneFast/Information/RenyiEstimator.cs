using System.Numerics.Tensors;

namespace LlmPruneFast.Information;

/// <summary>
/// Matrix-based Renyi alpha-entropy MI, in BITS. For a variable v of S samples with bandwidth sigma (see
/// <see cref="Bandwidth"/>): Gram K_ij = exp(-(v_i - v_j)^2 / (2 sigma^2)), A = K / S (trace 1),
/// S_a(A) = log2(sum_i lambda_i(A)^a) / (1 - a). Joint: C = (A o B) / tr(A o B) = (K_x o K_y) / S.
/// <code>I = S_a(A) + S_a(B) - S_a(C)</code>
/// alpha = 2 takes the exact eigenvalue-free path: sum lambda^2 = ||A||_F^2 = sum_ij K_ij^2 / S^2, so
/// I = log2(F_xy S^2 / (F_x F_y)) with F = sum_ij exp(-(u_i - u_j)^2) over u = v / sigma (K^2 halves the exponent's
/// 2 sigma^2). F_x is computed once per column, F_xy is one O(S^2) vectorised pass per pair. Other alpha: eigenvalues
/// of the S x S matrices by <see cref="SymmetricEigen"/> (O(S^3)), tiny negative eigenvalues from rounding taken as 0;
/// the marginal entropies once per column. A constant column gives 0. Not clipped: for alpha != 2 and for small
/// samples the estimate can be slightly negative, which is information about the estimator's bias.
/// With <see cref="Bandwidth.Tuned"/> the instance stores the factor chosen for the matrix of its current call
/// (<see cref="TunedFactor"/>): use one instance per thread for concurrent tuned calls.
/// </summary>
public sealed class RenyiEstimator : PairwiseEstimator<RenyiEstimator.KernelColumn, RenyiEstimator.Scratch>
{
    private readonly double _alpha;
    private readonly Bandwidth _bandwidth;
    private readonly int _seed;
    private double _tunedFactor = double.NaN;

    public RenyiEstimator(double alpha, Bandwidth bandwidth, int seed = 0)
    {
        if (!(alpha > 0) || alpha == 1 || !double.IsFinite(alpha))
            throw new BadArgumentException($"--alpha {alpha} out of range: expected alpha > 0 and alpha != 1");
        if (bandwidth.Rule == BandwidthRule.Fixed && !(bandwidth.Value > 0 && double.IsFinite(bandwidth.Value)))
            throw new BadArgumentException($"--bandwidth {bandwidth.Value} must be a positive number");
        _alpha = alpha;
        _bandwidth = bandwidth;
        _seed = seed;
        Parameters = new Dictionary<string, object> { ["alpha"] = alpha, ["bandwidth"] = bandwidth.ToString() };
    }

    public override string Name => "renyi";
    public override MiUnits Units => MiUnits.Bits;
    public override IReadOnlyDictionary<string, object> Parameters { get; }
    public override int MinimumSamples => 2;
    public double Alpha => _alpha;

    /// <summary>The factor on Silverman's sigma the tuned rule chose for the last matrix (NaN before any tuned run).</summary>
    public double TunedFactor => _tunedFactor;

    /// <summary>Values divided by sigma, sigma itself, and the marginal term (F for alpha 2, else S_a(A)).</summary>
    public sealed class KernelColumn(double[] scaled, double sigma, double marginal, bool constant)
    {
        public readonly double[] Scaled = scaled;
        public readonly double Sigma = sigma;
        public readonly double Marginal = marginal;
        public readonly bool Constant = constant;
    }

    public sealed class Scratch(int s)
    {
        public readonly double[] Row = new double[s];
        public readonly double[] Tmp = new double[s];
        public double[]? Matrix;
    }

    protected override void BeginMatrix(ActivationMatrix z, CancellationToken ct)
    {
        if (_bandwidth.Rule == BandwidthRule.Tuned)
            _tunedFactor = RenyiBandwidthTuner.ChooseFactor(z, _seed, ct).Factor;
    }

    /// <summary>Bandwidth of one column under this estimator's rule.</summary>
    public double SigmaOf(ReadOnlySpan<float> v) => _bandwidth.Rule switch
    {
        BandwidthRule.Fixed => _bandwidth.Value,
        BandwidthRule.Tuned => (double.IsNaN(_tunedFactor) ? 1.0 : _tunedFactor) * Bandwidths.Silverman(v),
        _ => Bandwidths.Sigma(_bandwidth.Rule, v, _seed),
    };

    protected override KernelColumn PrepareColumn(ReadOnlySpan<float> v, ColumnRole role)
    {
        bool constant = ColumnMath.IsConstant(v);
        double sigma = constant ? 1.0 : SigmaOf(v);
        var u = new double[v.Length];
        for (int i = 0; i < u.Length; i++) u[i] = v[i] / sigma;
        double marginal = constant ? 0 : _alpha == 2.0 ? GaussSum(u, null, new double[u.Length], new double[u.Length]) : MarginalEntropy(u);
        return new KernelColumn(u, sigma, marginal, constant);
    }

    protected override Scratch CreateScratch(int s) => new(s);

    protected override double EstimatePrepared(KernelColumn x, KernelColumn y, Scratch scratch)
    {
        if (x.Constant || y.Constant) return 0.0;
        int s = x.Scaled.Length;
        if (_alpha == 2.0)
        {
            double fxy = GaussSum(x.Scaled, y.Scaled, scratch.Row, scratch.Tmp);
            return Math.Log2(fxy * ((double)s * s) / (x.Marginal * y.Marginal));
        }
        var m = scratch.Matrix ??= new double[s * s];
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
            {
                double dx = x.Scaled[i] - x.Scaled[j], dy = y.Scaled[i] - y.Scaled[j];
                m[i * s + j] = Math.Exp(-0.5 * (dx * dx + dy * dy)) / s;
            }
        return x.Marginal + y.Marginal - EntropyOfTraceOne(m, s);
    }

    /// <summary>
    /// sum_ij exp(-((a_i-a_j)^2 + (b_i-b_j)^2)) = S + 2 sum_{i&lt;j} (the sum of squared joint Gram entries); with
    /// <paramref name="b"/> null, sum_ij exp(-(a_i-a_j)^2) (the marginal). <paramref name="row"/> and
    /// <paramref name="tmp"/> are S-long work buffers.
    /// </summary>
    internal static double GaussSum(double[] a, double[]? b, double[] row, double[] tmp)
    {
        int s = a.Length;
        double total = s;
        for (int i = 0; i < s - 1; i++)
        {
            int m = s - i - 1;
            var t = row.AsSpan(0, m);
            TensorPrimitives.Subtract(a.AsSpan(i + 1, m), a[i], t);
            TensorPrimitives.Multiply(t, t, t);
            if (b != null)
            {
                var d = tmp.AsSpan(0, m);
                TensorPrimitives.Subtract(b.AsSpan(i + 1, m), b[i], d);
                TensorPrimitives.FusedMultiplyAdd(d, d, t, t);
            }
            TensorPrimitives.Negate(t, t);
            TensorPrimitives.Exp(t, t);
            total += 2 * TensorPrimitives.Sum<double>(t);
        }
        return total;
    }

    private double MarginalEntropy(double[] u)
    {
        int s = u.Length;
        var m = new double[s * s];
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++)
            {
                double d = u[i] - u[j];
                m[i * s + j] = Math.Exp(-0.5 * d * d) / s;
            }
        return EntropyOfTraceOne(m, s);
    }

    /// <summary>S_alpha of a trace-one PSD matrix (overwritten): log2(sum max(lambda,0)^alpha) / (1 - alpha).</summary>
    private double EntropyOfTraceOne(double[] m, int s)
    {
        var eig = SymmetricEigen.Eigenvalues(m, s);
        double sum = 0;
        foreach (double l in eig) if (l > 0) sum += Math.Pow(l, _alpha);
        return Math.Log2(sum) / (1 - _alpha);
    }
}
