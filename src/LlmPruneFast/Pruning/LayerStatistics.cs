using System.Numerics.Tensors;
using LlmPruneFast.Capture;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Float64 statistics of one layer's activations Z [S x N], computed once and shared by selectors and
/// compensation. Means and variances are population moments (divide by S); the covariance is computed on demand.
/// The leading positions the sample excludes (<see cref="LeadingActivations"/>) enter only <see cref="LeadingSecondMoment"/>.
/// </summary>
public sealed class LayerStatistics
{
    private readonly LayerActivations _z;
    private double[]? _covariance;
    private readonly Lock _gate = new();

    /// <summary>S.</summary>
    public int Rows => _z.Rows;
    /// <summary>N.</summary>
    public int Columns => _z.Columns;
    /// <summary>The device computing this layer's Gram matrices; null = the CPU.</summary>
    public IGramDevice? Gram { get; }
    /// <summary>The activations these statistics describe.</summary>
    public LayerActivations Activations => _z;
    /// <summary>mean(z_j) = (1/S) sum_s Z[s, j].</summary>
    public double[] Means { get; }
    /// <summary>Var(z_j) = (1/S) sum_s (Z[s, j] - mean_j)^2.</summary>
    public double[] Variances { get; }
    /// <summary>||z_j||_2 = sqrt(sum_s Z[s, j]^2) (not centred, not divided by S: Wanda's norm).</summary>
    public double[] L2Norms { get; }

    /// <param name="gram">Where <see cref="Covariance"/> and the selectors' other Gram matrices run (null: the CPU).</param>
    public LayerStatistics(LayerActivations activations, IGramDevice? gram = null)
    {
        _z = activations;
        Gram = gram;
        int s = activations.Rows, n = activations.Columns;
        var z = activations.Data.Span;
        var sum = new double[n];
        var sumSq = new double[n];
        for (int r = 0; r < s; r++)
        {
            var row = z.Slice(r * n, n);
            for (int j = 0; j < n; j++) { double v = row[j]; sum[j] += v; sumSq[j] += v * v; }
        }
        Means = new double[n];
        Variances = new double[n];
        L2Norms = new double[n];
        for (int j = 0; j < n; j++) Means[j] = sum[j] / s;
        // Second pass for the variance: the one-pass formula loses digits when |mean| >> std.
        var dev = new double[n];
        for (int r = 0; r < s; r++)
        {
            var row = z.Slice(r * n, n);
            for (int j = 0; j < n; j++) { double v = row[j] - Means[j]; dev[j] += v * v; }
        }
        for (int j = 0; j < n; j++) { Variances[j] = dev[j] / s; L2Norms[j] = Math.Sqrt(sumSq[j]); }
    }

    /// <summary>std(z_j) = sqrt(Var(z_j)).</summary>
    public double Std(int j) => Math.Sqrt(Variances[j]);

    /// <summary>
    /// Covariance C [N x N] row-major, C[i, k] = (1/S) sum_s (Z[s,i] - mean_i)(Z[s,k] - mean_k), computed once
    /// (O(S N^2) in blocks of rows, parallel over i) and cached. Do not modify the returned array.
    /// </summary>
    public double[] Covariance(CancellationToken ct = default)
    {
        lock (_gate)
        {
            return _covariance ??= ComputeCovariance(ct);
        }
    }

    private double[] ComputeCovariance(CancellationToken ct) => SecondMomentAbout(_z.Data, Rows, Columns, Means, Gram, ct);

    /// <summary>
    /// (1/R) sum_r (z_r - c)(z_r - c)^T [N x N] row-major of the rows of <paramref name="z"/> [R x N] about
    /// <paramref name="centre"/>: on <paramref name="device"/> when given, else by dsyrk over centred blocks of rows
    /// (OpenBLAS), else managed (parallel over i). The covariance is this about the means.
    /// </summary>
    private static double[] SecondMomentAbout(ReadOnlyMemory<float> z, int rows, int n, double[] centre, IGramDevice? device, CancellationToken ct)
    {
        if (device != null) return SecondMomentOnDevice(z, rows, n, centre, device, ct);
        if (NativeBlas.Use()) return SecondMomentBlas(z, rows, n, centre, ct);
        int s = rows;
        const int block = 256;
        var c = new double[(long)n * n];
        var zt = new double[(long)n * block];   // centred block, column-major: zt[j * b + r]
        for (int r0 = 0; r0 < s; r0 += block)
        {
            ct.ThrowIfCancellationRequested();
            int b = Math.Min(block, s - r0);
            var span = z.Span;
            for (int r = 0; r < b; r++)
            {
                var row = span.Slice((r0 + r) * n, n);
                for (int j = 0; j < n; j++) zt[(long)j * b + r] = row[j] - centre[j];
            }
            Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
            {
                var xi = zt.AsSpan(i * b, b);
                for (int k = i; k < n; k++) c[(long)i * n + k] += TensorPrimitives.Dot<double>(xi, zt.AsSpan(k * b, b));
            });
        }
        for (int i = 0; i < n; i++)
            for (int k = i; k < n; k++)
            {
                double v = c[(long)i * n + k] / s;
                c[(long)i * n + k] = v; c[(long)k * n + i] = v;
            }
        return c;
    }

    /// <summary>The same moment by dsyrk over centred blocks of rows (row-major, so no transpose is needed).</summary>
    private static double[] SecondMomentBlas(ReadOnlyMemory<float> z, int rows, int n, double[] centre, CancellationToken ct)
    {
        int s = rows;
        int block = (int)Math.Clamp((1L << 22) / Math.Max(n, 1), 64, 4096);   // ~32 MB of centred rows per call
        var c = new double[(long)n * n];
        var centred = new double[(long)Math.Min(block, s) * n];
        for (int r0 = 0; r0 < s; r0 += block)
        {
            ct.ThrowIfCancellationRequested();
            int b = Math.Min(block, s - r0);
            var span = z.Span.Slice(r0 * n, b * n);
            for (int r = 0; r < b; r++)
            {
                var row = span.Slice(r * n, n);
                var dst = centred.AsSpan(r * n, n);
                for (int j = 0; j < n; j++) dst[j] = row[j] - centre[j];
            }
            DenseMath.AddGramAtA(centred.AsSpan(0, b * n), b, n, c);
        }
        TensorPrimitives.Multiply(c, 1.0 / s, c);
        DenseMath.MirrorLower(c, n);
        return c;
    }

    /// <summary>The same moment on <paramref name="device"/>: centred blocks of rows, transposed to neuron-major.</summary>
    private static double[] SecondMomentOnDevice(ReadOnlyMemory<float> z, int rows, int n, double[] centre, IGramDevice device, CancellationToken ct)
    {
        int s = rows;
        var c = device.Gram(n, s, (r0, b, block) =>
        {
            var span = z.Span;
            for (int r = 0; r < b; r++)
            {
                var row = span.Slice((r0 + r) * n, n);
                for (int j = 0; j < n; j++) block[j * b + r] = row[j] - centre[j];
            }
        }, ct);
        TensorPrimitives.Multiply(c, 1.0 / s, c);
        return c;
    }

    /// <summary>pi, the share of the leading positions the sample excludes (<see cref="LeadingActivations"/>); 0 when none were captured.</summary>
    public double LeadingShare => _z.Leading?.Share ?? 0.0;

    /// <summary>
    /// T = (1/M) sum_m (z_m - c)(z_m - c)^T [N x N] row-major over the M excluded leading positions, about
    /// <paramref name="centre"/> c (the constant the compensation puts back: the sample mean under bias, 0 under
    /// none); null when no leading positions were captured. O(M N^2), not cached (one N x N per call).
    /// </summary>
    public double[]? LeadingSecondMoment(ReadOnlySpan<double> centre, CancellationToken ct = default)
    {
        var leading = _z.Leading;
        if (leading == null) return null;
        if (centre.Length != Columns) throw new ArgumentException($"centre has {centre.Length} values, expected {Columns}", nameof(centre));
        // On the CPU even when the covariance runs on a device: M is one row per sequence (small), and the figures of
        // perf/RESULTS.md were measured this way.
        return SecondMomentAbout(leading.Data, leading.Rows, Columns, centre.ToArray(), device: null, ct);
    }

    /// <summary>Pearson correlation of z_i and z_k from the covariance (0 when either is constant).</summary>
    public double Correlation(int i, int k, CancellationToken ct = default)
    {
        var c = Covariance(ct);
        double den = Math.Sqrt(Variances[i] * Variances[k]);
        return den > 0 ? c[(long)i * Columns + k] / den : 0.0;
    }
}
