namespace LlmPruneFast.Pruning;

/// <summary>
/// Slices one FFN layer to its kept neurons and compensates for the removed ones, in float64. With W = W_down
/// [D x N], b the down bias (zero when absent), mu_j = mean(z_j), C the activation covariance:
/// <list type="bullet">
/// <item><c>none</c>: W' = W[:, K], b' = b.</item>
/// <item><c>bias</c>: b' = b + sum_{j removed} mu_j W[:, j] (each removed neuron replaced by its mean output; exact
/// for a constant neuron).</item>
/// <item><c>partner</c>: removals replayed in plan order; removed j with partner k: least squares z_j ~ a z_k + c
/// (a = Cov(z_j, z_k) / Var(z_k), 0 when z_k is constant; c = mu_j - a mu_k), then W[:, k] += a W[:, j] and
/// b += c W[:, j]. A removal without partner (or whose partner is removed later, which the replay handles by
/// chaining) takes the kept neuron of the final set with the highest |corr(z_j, z_k)|, which maximises the R^2 of
/// the fit. Exact when z_j is an affine function of z_k.</item>
/// <item><c>refit</c>: ridge regression of the original output on the kept activations, shrunk towards the
/// original kept weights: W'_K = argmin E||(W z + b) - (X z_K + b')||^2 + lambda ||X - W_K||_F^2 with the
/// intercept b' free, whose solution is W'_K = W_K + W_R C_RK (C_KK + lambda I)^-1 and
/// b' = b + W mu - W'_K mu_K (lambda = Ridge * tr(C)/N). lambda -> infinity gives <c>bias</c>; lambda = 0 the
/// least-squares refit; it equals the cumulative optimal update of structured OBS damped by lambda.</item>
/// </list>
/// </summary>
public static class Compensator
{
    /// <summary>
    /// The sliced, compensated layer. <paramref name="statistics"/> (of this layer's calibration activations) is
    /// required for every kind except <c>none</c>; <see cref="MissingInputException"/> when it is absent.
    /// </summary>
    public static SlicedFfnLayer Apply(FfnLayer layer, LayerPlan plan, CompensationOptions options,
        LayerStatistics? statistics, CancellationToken ct = default)
    {
        int n = layer.Neurons, d = layer.Hidden;
        if (plan.Index != layer.Index) throw new BadArgumentException($"plan of layer {plan.Index} applied to layer {layer.Index}");
        if (plan.Width != n) throw new BadArgumentException($"layer {layer.Index}: plan covers {plan.Width} neurons, the layer has {n}");
        if (statistics != null && statistics.Columns != n)
            throw new BadDataException($"layer {layer.Index}: activations have {statistics.Columns} columns, expected {n}");
        var kept = plan.Kept.ToArray();
        var w = new double[(long)d * n];
        var down = layer.Down.Span;
        for (long i = 0; i < w.Length; i++) w[i] = down[(int)i];
        var bias = new double[d];
        if (layer.DownBias is { } db) { var s = db.Span; for (int i = 0; i < d; i++) bias[i] = s[i]; }
        bool biasTouched = false;

        if (plan.Removed.Count > 0 && options.Kind != CompensationKind.None)
        {
            if (statistics == null)
                throw new MissingInputException($"layer {layer.Index}: compensation '{CompensationKinds.Name(options.Kind)}' needs calibration activations");
            switch (options.Kind)
            {
                case CompensationKind.Bias: AbsorbMeans(w, bias, n, d, plan, statistics); break;
                case CompensationKind.Partner: MergeIntoPartners(w, bias, n, d, plan, kept, statistics, ct); break;
                case CompensationKind.Refit: Refit(w, bias, n, d, plan, kept, statistics, options.Ridge, ct); break;
            }
            biasTouched = true;
        }
        return Slice(layer, kept, w, bias, biasTouched || layer.DownBias != null);
    }

    private static void AbsorbMeans(double[] w, double[] bias, int n, int d, LayerPlan plan, LayerStatistics st)
    {
        foreach (var r in plan.Removed)
        {
            double mu = st.Means[r.Neuron];
            for (int i = 0; i < d; i++) bias[i] += mu * w[(long)i * n + r.Neuron];
        }
    }

    private static void MergeIntoPartners(double[] w, double[] bias, int n, int d, LayerPlan plan, int[] kept,
        LayerStatistics st, CancellationToken ct)
    {
        double[]? cov = null;
        double Cov(int i, int k)
        {
            cov ??= st.Covariance(ct);
            return cov[(long)i * n + k];
        }
        foreach (var r in plan.Removed)
        {
            ct.ThrowIfCancellationRequested();
            int j = r.Neuron;
            int k = r.Partner ?? BestCorrelated(j, kept, st, Cov);
            double vk = st.Variances[k];
            double a = vk > 0 ? Cov(j, k) / vk : 0.0;
            double c = st.Means[j] - a * st.Means[k];
            for (int i = 0; i < d; i++)
            {
                double wj = w[(long)i * n + j];
                w[(long)i * n + k] += a * wj;
                bias[i] += c * wj;
            }
        }
    }

    /// <summary>Kept neuron k maximising |corr(z_j, z_k)|, ties to the lower id.</summary>
    private static int BestCorrelated(int j, int[] kept, LayerStatistics st, Func<int, int, double> cov)
    {
        int best = kept[0];
        double bestValue = -1;
        foreach (int k in kept)
        {
            double den = st.Variances[j] * st.Variances[k];
            double c = den > 0 ? Math.Abs(cov(j, k)) / Math.Sqrt(den) : 0.0;
            if (c > bestValue) { bestValue = c; best = k; }
        }
        return best;
    }

    private static void Refit(double[] w, double[] bias, int n, int d, LayerPlan plan, int[] kept,
        LayerStatistics st, double ridge, CancellationToken ct)
    {
        var c = st.Covariance(ct);
        var removed = plan.Removed.Select(r => r.Neuron).ToArray();
        int nk = kept.Length, nr = removed.Length;
        double trace = 0;
        for (int i = 0; i < n; i++) trace += c[(long)i * n + i];
        double lambda = ridge * trace / n;
        // Constant activations (zero variance) still need a positive-definite system: a floor relative to the trace.
        double floor = 1e-12 * Math.Max(trace / n, double.Epsilon);
        var ckk = DenseMath.Gather(c, n, kept, kept);
        for (int i = 0; i < nk; i++) ckk[i * nk + i] += Math.Max(lambda, floor);
        DenseMath.CholeskyInPlace(ckk, nk, $"refit of layer {plan.Index}");
        var m = DenseMath.Gather(c, n, kept, removed);   // C_KR [nk x nr], becomes (C_KK + lambda I)^-1 C_KR
        DenseMath.CholeskySolveInPlace(ckk, nk, m, nr);
        ct.ThrowIfCancellationRequested();
        // Bias first, with the original W: b' = b + W mu - W'_K mu_K = b + W_R mu_R - (W_R M^T) mu_K.
        if (NativeBlas.Use())
        {
            RefitUpdateBlas(w, bias, n, d, kept, removed, m, st, ct);
            return;
        }
        Parallel.For(0, d, new ParallelOptions { CancellationToken = ct }, i =>
        {
            long row = (long)i * n;
            var wr = new double[nr];
            for (int r = 0; r < nr; r++) wr[r] = w[row + removed[r]];
            double delta = 0;
            for (int r = 0; r < nr; r++) delta += wr[r] * st.Means[removed[r]];
            for (int k = 0; k < nk; k++)
            {
                double s = 0;
                var mk = m.AsSpan(k * nr, nr);
                for (int r = 0; r < nr; r++) s += wr[r] * mk[r];
                w[row + kept[k]] += s;
                delta -= s * st.Means[kept[k]];
            }
            bias[i] += delta;
        });
    }

    /// <summary>The update W_K += W_R M^T and the bias of <see cref="Refit"/>, with W_R M^T as one dgemm.</summary>
    private static void RefitUpdateBlas(double[] w, double[] bias, int n, int d, int[] kept, int[] removed, double[] m,
        LayerStatistics st, CancellationToken ct)
    {
        int nk = kept.Length, nr = removed.Length;
        var wr = new double[(long)d * nr];
        for (int i = 0; i < d; i++)
            for (int r = 0; r < nr; r++) wr[(long)i * nr + r] = w[(long)i * n + removed[r]];
        var upd = new double[(long)d * nk];   // W_R M^T [D x nk]
        NativeBlas.Gemm(false, true, d, nk, nr, 1.0, wr, nr, m, nr, 0.0, upd, nk);
        ct.ThrowIfCancellationRequested();
        Parallel.For(0, d, new ParallelOptions { CancellationToken = ct }, i =>
        {
            long row = (long)i * n;
            double delta = 0;
            for (int r = 0; r < nr; r++) delta += wr[(long)i * nr + r] * st.Means[removed[r]];
            for (int k = 0; k < nk; k++)
            {
                double s = upd[(long)i * nk + k];
                w[row + kept[k]] += s;
                delta -= s * st.Means[kept[k]];
            }
            bias[i] += delta;
        });
    }

    private static SlicedFfnLayer Slice(FfnLayer layer, int[] kept, double[] w, double[] bias, bool hasBias)
    {
        int n = layer.Neurons, d = layer.Hidden, nk = kept.Length;
        var down = new double[(long)d * nk];
        for (int i = 0; i < d; i++)
            for (int k = 0; k < nk; k++) down[(long)i * nk + k] = w[(long)i * n + kept[k]];
        return new SlicedFfnLayer
        {
            Index = layer.Index,
            Hidden = d,
            Kept = kept,
            Gate = layer.HasGate ? Rows(layer.Gate.Span, kept, d) : [],
            Up = Rows(layer.Up.Span, kept, d),
            GateBias = layer.GateBias is { } gb ? Rows(gb.Span, kept, 1) : null,
            UpBias = layer.UpBias is { } ub ? Rows(ub.Span, kept, 1) : null,
            Down = down,
            DownBias = bias,
            HasDownBias = hasBias,
        };
    }

    private static float[] Rows(ReadOnlySpan<float> src, int[] kept, int width)
    {
        var r = new float[(long)kept.Length * width];
        for (int k = 0; k < kept.Length; k++) src.Slice(kept[k] * width, width).CopyTo(r.AsSpan(k * width, width));
        return r;
    }
}
