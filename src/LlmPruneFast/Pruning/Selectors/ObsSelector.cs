using System.Globalization;
using System.Numerics.Tensors;

namespace LlmPruneFast.Pruning;

/// <summary>
/// <c>obs</c>: structured Optimal Brain Surgeon on the FFN output. With W = W_down [D x N] and H = C + delta I
/// (C the activation covariance, delta = Damping * tr(C)/N; centred because the down bias absorbs the means),
/// the output error of a change dW is E = tr(dW H dW^T). Removing neuron j alone with the optimal update of the
/// other columns, dW = -w_j e_j^T H^-1 / [H^-1]_jj, costs exactly
/// <c>cost_j = ||w_j||^2 / [H^-1]_jj</c> summed over the D output rows. Greedy: remove the cheapest, apply the
/// update (tracked through the Gram matrix G = W^T W, a rank-2 update), downdate
/// H^-1 &lt;- H^-1 - H^-1[:, j] H^-1[j, :] / [H^-1]_jj, repeat: O(N^2) per removal, applied lazily in batches
/// (only diagonals and one row are needed per step). The cumulative update equals
/// the <c>refit</c> compensation with Ridge = Damping, which is therefore its default.
/// Partner: the kept neuron with the largest partial correlation |[H^-1]_jk| / sqrt([H^-1]_jj [H^-1]_kk).
/// </summary>
public sealed class ObsSelector : IPruningSelector
{
    public const double DefaultDamping = CompensationOptions.DefaultRidge;

    public ObsSelector(double damping = DefaultDamping)
    {
        if (!(damping > 0 && double.IsFinite(damping))) throw new BadArgumentException($"obs damping {damping} must be > 0");
        Damping = damping;
        Parameters = new PlanParameters().Set("damping", damping);
    }

    public double Damping { get; }
    public string Name => "obs";
    public CompensationKind DefaultCompensation => CompensationKind.Refit;
    public bool UsesInformation => false;
    public int Candidates => 1;
    public PlanParameters Parameters { get; }

    public IReadOnlyList<RemovedNeuron> Select(SelectionRequest request)
    {
        var ct = request.Cancellation;
        var inputs = request.Inputs;
        int n = inputs.Neurons;
        var c = inputs.Statistics.Covariance(ct);
        double trace = 0;
        for (int i = 0; i < n; i++) trace += c[(long)i * n + i];
        double delta = Damping * (trace > 0 ? trace / n : 1.0);
        var h = c.ToArray();
        for (int i = 0; i < n; i++) h[(long)i * n + i] += delta;
        var hinv = DenseMath.InvertSpdInPlace(h, n, $"obs on layer {inputs.Layer.Index}"); // h is not needed after
        var g = DownGram(inputs.Layer, ct, inputs.Statistics.Gram);
        var state = new LazyState(hinv, g, n);
        var removed = new List<RemovedNeuron>(request.MaxRemovals);
        for (int step = 0; step < request.MaxRemovals; step++)
        {
            ct.ThrowIfCancellationRequested();
            int jj = state.Cheapest(j => Math.Max(state.DiagG[j], 0.0), out double bestCost);
            var (rowH, _) = state.Rows(jj);
            double hjj = rowH[jj];
            int partner = -1;
            double bestPartial = -1;
            for (int k = 0; k < n; k++)
            {
                if (!state.Alive[k] || k == jj) continue;
                double p = Math.Abs(rowH[k]) / Math.Sqrt(hjj * state.DiagH[k]);
                if (p > bestPartial) { bestPartial = p; partner = k; }
            }
            removed.Add(new RemovedNeuron(jj, partner >= 0 ? partner : null, null, bestCost,
                string.Create(CultureInfo.InvariantCulture,
                    $"obs: lowest output error ||w_j||^2/[H^-1]_jj = {bestCost:G4} with optimal update; largest partial correlation {bestPartial:F3} with {partner}")));
            state.Remove(jj);
            request.Progress?.Report((step + 1.0) / request.MaxRemovals);
        }
        return removed;
    }

    /// <summary>
    /// H^-1 and (optionally) G under removals with lazy batched updates: selection needs only their diagonals (kept
    /// exact, O(N) per removal) and the rows of the removed neuron (rebuilt from the base row and the pending
    /// updates); every <see cref="Batch"/> removals the pending rank-1 terms are applied in one pass, as one rank-k
    /// dgemm on OpenBLAS, so each matrix is streamed from memory once per batch instead of once per removal.
    /// G (the down Gram under obs's optimal update) is tracked only when the caller's cost uses it: without it a
    /// removal costs a third of the work and no N x N Gram is built.
    /// </summary>
    internal sealed class LazyState
    {
        private const int Batch = 64;
        private readonly double[] _hinv;
        private readonly double[]? _g;
        private readonly int _n;
        // Pending terms, row b of each [Batch x N] block: H^-1 -= u u^T ; G += a gv^T + gv a^T + gamma a a^T.
        private readonly double[] _u, _a, _gv, _b; // _b: the flush's B = GV + gamma/2 A
        private readonly double[] _gamma = new double[Batch];
        private int _pending;
        private readonly double[] _rowH, _rowG;
        public readonly bool[] Alive;
        public readonly double[] DiagH, DiagG;

        /// <summary>
        /// The alive neuron of least cost numerator(j) / [H^-1]_jj (ties: lowest index), and that cost. This is the
        /// greedy step of every selector built on this state: what removing j costs when the kept neurons
        /// explain what they can of it.
        /// </summary>
        public int Cheapest(Func<int, double> numerator, out double cost)
        {
            int best = -1;
            cost = double.PositiveInfinity;
            for (int j = 0; j < _n; j++)
            {
                if (!Alive[j]) continue;
                double c = numerator(j) / DiagH[j];
                if (c < cost || best < 0) { cost = c; best = j; }
            }
            return best;
        }

        /// <param name="hinv">H^-1 [N x N], updated in place.</param>
        /// <param name="g">G = W^T W [N x N], updated in place; null when the caller never reads G (then <see cref="DiagG"/> is empty).</param>
        public LazyState(double[] hinv, double[]? g, int n)
        {
            (_hinv, _g, _n) = (hinv, g, n);
            _u = new double[(long)Batch * n];
            _a = g == null ? [] : new double[(long)Batch * n];
            _gv = g == null ? [] : new double[(long)Batch * n];
            _b = g == null ? [] : new double[(long)Batch * n];
            _rowH = new double[n]; _rowG = g == null ? [] : new double[n];
            Alive = new bool[n];
            Array.Fill(Alive, true);
            DiagH = new double[n]; DiagG = g == null ? [] : new double[n];
            for (int i = 0; i < n; i++) DiagH[i] = hinv[(long)i * n + i];
            if (g != null) for (int i = 0; i < n; i++) DiagG[i] = g[(long)i * n + i];
        }

        private Span<double> Row(double[] block, int b) => block.AsSpan(b * _n, _n);

        /// <summary>Current rows j of H^-1 and G (G's is empty without G; views valid until the next call).</summary>
        public (double[] RowH, double[] RowG) Rows(int j)
        {
            int n = _n;
            _hinv.AsSpan((int)((long)j * n), n).CopyTo(_rowH);
            for (int p = 0; p < _pending; p++) TensorPrimitives.MultiplyAdd(Row(_u, p), -_u[p * n + j], _rowH, _rowH);
            if (_g != null)
            {
                _g.AsSpan((int)((long)j * n), n).CopyTo(_rowG);
                for (int p = 0; p < _pending; p++)
                {
                    TensorPrimitives.MultiplyAdd(Row(_gv, p), _a[p * n + j], _rowG, _rowG);
                    TensorPrimitives.MultiplyAdd(Row(_a, p), _gv[p * n + j] + _gamma[p] * _a[p * n + j], _rowG, _rowG);
                }
            }
            return (_rowH, _rowG);
        }

        /// <summary>Removes neuron j with the optimal update of the others (j's rows must be current: call Rows(j) first).</summary>
        public void Remove(int j)
        {
            int n = _n;
            Alive[j] = false;
            double hjj = _rowH[j], scale = 1.0 / Math.Sqrt(hjj);
            var u = Row(_u, _pending);
            for (int k = 0; k < n; k++)
            {
                u[k] = Alive[k] ? _rowH[k] * scale : 0.0;
                DiagH[k] -= u[k] * u[k];
            }
            if (_g != null)
            {
                double gamma = _rowG[j];
                var a = Row(_a, _pending); var gv = Row(_gv, _pending);
                for (int k = 0; k < n; k++)
                {
                    bool alive = Alive[k];
                    a[k] = alive ? -_rowH[k] / hjj : 0.0;
                    gv[k] = alive ? _rowG[k] : 0.0;
                    if (alive) DiagG[k] += 2 * a[k] * gv[k] + gamma * a[k] * a[k];
                }
                _gamma[_pending] = gamma;
            }
            if (++_pending == Batch) Flush();
        }

        /// <summary>
        /// Applies the pending terms. Entries of neurons removed in this batch are never read again, so the update
        /// may touch them: with U the [p x N] block of u rows, H^-1 -= U^T U is one dgemm; G += A^T B + B^T A with
        /// B = GV + gamma/2 A (row-wise) is two.
        /// </summary>
        private void Flush()
        {
            int n = _n, pending = _pending;
            _pending = 0;
            if (NativeBlas.Use())
            {
                NativeBlas.Gemm(true, false, n, n, pending, -1.0, _u, n, _u, n, 1.0, _hinv, n);
                if (_g == null) return;
                for (int p = 0; p < pending; p++)
                    TensorPrimitives.MultiplyAdd(Row(_a, p), 0.5 * _gamma[p], Row(_gv, p), Row(_b, p));
                NativeBlas.Gemm(true, false, n, n, pending, 1.0, _a, n, _b, n, 1.0, _g, n);
                NativeBlas.Gemm(true, false, n, n, pending, 1.0, _b, n, _a, n, 1.0, _g, n);
                return;
            }
            void Update(int i)
            {
                if (!Alive[i]) return;
                var hi = _hinv.AsSpan((int)((long)i * n), n);
                for (int p = 0; p < pending; p++) TensorPrimitives.MultiplyAdd(Row(_u, p), -_u[p * n + i], hi, hi);
                if (_g == null) return;
                var gi = _g.AsSpan((int)((long)i * n), n);
                for (int p = 0; p < pending; p++)
                {
                    TensorPrimitives.MultiplyAdd(Row(_gv, p), _a[p * n + i], gi, gi);
                    TensorPrimitives.MultiplyAdd(Row(_a, p), _gv[p * n + i] + _gamma[p] * _a[p * n + i], gi, gi);
                }
            }
            if (n >= 128) Parallel.For(0, n, Update); else for (int i = 0; i < n; i++) Update(i);
        }
    }

    /// <summary>G = W_down^T W_down [N x N] in float64, on <paramref name="gram"/> when given.</summary>
    internal static double[] DownGram(FfnLayer layer, CancellationToken ct, IGramDevice? gram = null)
    {
        int n = layer.Neurons, d = layer.Hidden;
        if (gram != null)
        {
            var weights = layer.Down;   // row-major [D x N]: a block of rows i0.. transposed to neuron-major
            return gram.Gram(n, d, (i0, b, block) =>
            {
                var span = weights.Span;
                for (int i = 0; i < b; i++)
                {
                    var row = span.Slice((i0 + i) * n, n);
                    for (int j = 0; j < n; j++) block[j * b + i] = row[j];
                }
            }, ct);
        }
        if (NativeBlas.Use())
        {
            var w = new double[(long)d * n];   // W_down row-major [D x N]: G = W^T W is one dsyrk
            TensorPrimitives.ConvertChecked<float, double>(layer.Down.Span[..(d * n)], w);
            return DenseMath.GramAtA(w, d, n);
        }
        var wt = new double[(long)n * d];   // column j of W_down, contiguous
        var down = layer.Down.Span;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < n; j++) wt[(long)j * d + i] = down[i * n + j];
        var g = new double[(long)n * n];
        Parallel.For(0, n, new ParallelOptions { CancellationToken = ct }, i =>
        {
            var wi = wt.AsSpan((int)((long)i * d), d);
            for (int k = i; k < n; k++)
            {
                double v = TensorPrimitives.Dot<double>(wi, wt.AsSpan((int)((long)k * d), d));
                g[(long)i * n + k] = v; g[(long)k * n + i] = v;
            }
        });
        return g;
    }
}
