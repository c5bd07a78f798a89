namespace LlmPruneFast.Pruning;

/// <summary>
/// One feed-forward block seen as N neurons, architecture-free (the pruning code never names a tensor).
/// Neuron j is row j of <see cref="Gate"/> and <see cref="Up"/> and column j of <see cref="Down"/>; its activation
/// z_j is the j-th input of the down projection. Weights are the checkpoint's values widened to float32; every
/// computation on them is done in float64.
/// </summary>
public sealed class FfnLayer
{
    /// <summary>Layer index in the model (0-based).</summary>
    public int Index { get; }
    /// <summary>N: number of neurons (intermediate width).</summary>
    public int Neurons { get; }
    /// <summary>D: hidden size (input width of gate/up, output width of down).</summary>
    public int Hidden { get; }
    /// <summary>Gate projection [N x D], row-major, rows = neurons. May be empty for a non-gated FFN.</summary>
    public ReadOnlyMemory<float> Gate { get; }
    /// <summary>Up projection [N x D], row-major, rows = neurons.</summary>
    public ReadOnlyMemory<float> Up { get; }
    /// <summary>Down projection [D x N], row-major, columns = neurons.</summary>
    public ReadOnlyMemory<float> Down { get; }
    /// <summary>Optional gate bias [N] (an empty one counts as absent).</summary>
    public ReadOnlyMemory<float>? GateBias { get; }
    /// <summary>Optional up bias [N].</summary>
    public ReadOnlyMemory<float>? UpBias { get; }
    /// <summary>Optional down bias [D].</summary>
    public ReadOnlyMemory<float>? DownBias { get; }

    public FfnLayer(int index, int neurons, int hidden, ReadOnlyMemory<float> gate, ReadOnlyMemory<float> up,
        ReadOnlyMemory<float> down, ReadOnlyMemory<float>? gateBias = null, ReadOnlyMemory<float>? upBias = null,
        ReadOnlyMemory<float>? downBias = null)
    {
        if (index < 0) throw new BadArgumentException($"FFN layer index {index} is negative");
        if (neurons < 1 || hidden < 1)
            throw new BadArgumentException($"FFN layer {index}: widths must be positive, found N={neurons}, D={hidden}");
        long nd = (long)neurons * hidden;
        // A null float[] converts to an empty (not null) memory: treat empty biases as absent.
        if (gateBias is { IsEmpty: true }) gateBias = null;
        if (upBias is { IsEmpty: true }) upBias = null;
        if (downBias is { IsEmpty: true }) downBias = null;
        Check(index, "gate", gate.Length, nd, allowEmpty: true);
        Check(index, "up", up.Length, nd, allowEmpty: false);
        Check(index, "down", down.Length, nd, allowEmpty: false);
        if (gateBias is { } gb) Check(index, "gate bias", gb.Length, neurons, false);
        if (upBias is { } ub) Check(index, "up bias", ub.Length, neurons, false);
        if (downBias is { } db) Check(index, "down bias", db.Length, hidden, false);
        (Index, Neurons, Hidden, Gate, Up, Down, GateBias, UpBias, DownBias) =
            (index, neurons, hidden, gate, up, down, gateBias, upBias, downBias);
    }

    /// <summary>True when the layer has a gate projection (SwiGLU); false for a plain two-matrix FFN.</summary>
    public bool HasGate => !Gate.IsEmpty;

    private static void Check(int index, string what, int found, long expected, bool allowEmpty)
    {
        if (found == expected || (allowEmpty && found == 0)) return;
        throw new BadModelFileException($"FFN layer {index}: {what} has {found} elements, expected {expected}");
    }

    /// <summary>Column j of down as float64: w_j[d] = Down[d, j], d = 0..D-1.</summary>
    public double[] DownColumn(int j)
    {
        var w = new double[Hidden];
        var down = Down.Span;
        for (int d = 0; d < Hidden; d++) w[d] = down[d * Neurons + j];
        return w;
    }

    /// <summary>Squared Euclidean norm of every down column: ||W_down[:, j]||^2, float64, length N.</summary>
    public double[] DownColumnSquaredNorms()
    {
        var sq = new double[Neurons];
        var down = Down.Span;
        for (int d = 0; d < Hidden; d++)
        {
            var row = down.Slice(d * Neurons, Neurons);
            for (int j = 0; j < Neurons; j++) { double v = row[j]; sq[j] += v * v; }
        }
        return sq;
    }

    /// <summary>Euclidean norm of every row of an [N x D] matrix (gate or up), float64; all ones when empty.</summary>
    public double[] RowNorms(ReadOnlyMemory<float> rows)
    {
        var norms = new double[Neurons];
        if (rows.IsEmpty) { Array.Fill(norms, 1.0); return norms; }
        var span = rows.Span;
        for (int j = 0; j < Neurons; j++)
        {
            double s = 0;
            foreach (float v in span.Slice(j * Hidden, Hidden)) s += (double)v * v;
            norms[j] = Math.Sqrt(s);
        }
        return norms;
    }
}

/// <summary>
/// A pruned FFN layer as plain arrays for the slicer to write: kept neurons in ascending original id order.
/// Gate/Up rows are copied unchanged; Down and the down bias carry the compensation (computed in float64).
/// <para>A layer handed to a <see cref="SlicedLayerSpill"/> (<see cref="SlicedLayerSpill.Add"/>) keeps only its small
/// parts in memory (ids, biases); Gate, Up and the float32 down projection are read back from the scratch file on each
/// access, and <see cref="Down"/> (float64) is no longer available: read <see cref="DownFloat32"/>, which is what every
/// writer uses, bit for bit the same values.</para>
/// </summary>
public sealed class SlicedFfnLayer
{
    private readonly float[]? _gate, _up;
    private readonly double[]? _down;
    private readonly SlicedLayerSpill.Entry? _spilled;

    public SlicedFfnLayer() { }

    /// <summary>A spilled copy of <paramref name="layer"/>: its small parts, and its weights at <paramref name="spilled"/>.</summary>
#pragma warning disable CS8618 // Gate, Up and Down read through the spill entry: their backing fields stay null on purpose
    [System.Diagnostics.CodeAnalysis.SetsRequiredMembers]
    internal SlicedFfnLayer(SlicedFfnLayer layer, SlicedLayerSpill.Entry spilled)
#pragma warning restore CS8618
    {
        (Index, Hidden, Kept, GateBias, UpBias, DownBias, HasDownBias) =
            (layer.Index, layer.Hidden, layer.Kept, layer.GateBias, layer.UpBias, layer.DownBias, layer.HasDownBias);
        _spilled = spilled;
    }

    public required int Index { get; init; }
    /// <summary>D: hidden size.</summary>
    public required int Hidden { get; init; }
    /// <summary>Original neuron ids kept, ascending; column/row k of the arrays below is neuron Kept[k].</summary>
    public required int[] Kept { get; init; }
    /// <summary>Gate rows [K x D] (empty for a non-gated FFN). Spilled: read from the scratch file (a new array each time).</summary>
    public required float[] Gate { get => _gate ?? _spilled!.Gate(); init => _gate = value; }
    /// <summary>Up rows [K x D]. Spilled: read from the scratch file (a new array each time).</summary>
    public required float[] Up { get => _up ?? _spilled!.Up(); init => _up = value; }
    /// <summary>Gate bias [K] when the input had one.</summary>
    public float[]? GateBias { get; init; }
    /// <summary>Up bias [K] when the input had one.</summary>
    public float[]? UpBias { get; init; }
    /// <summary>New down projection [D x K], row-major, float64. Not available once spilled (see <see cref="DownFloat32"/>).</summary>
    public required double[] Down
    {
        get => _down ?? throw new InvalidOperationException($"sliced layer {Index} was spilled to scratch in float32; read DownFloat32()");
        init => _down = value;
    }
    /// <summary>New down bias [D], float64: the input's bias (or zeros) plus any constant compensation.</summary>
    public required double[] DownBias { get; init; }
    /// <summary>True when the down bias is needed: the input had one or compensation made it non-zero.</summary>
    public required bool HasDownBias { get; init; }

    /// <summary>K: kept width.</summary>
    public int Width => Kept.Length;

    /// <summary>True when the weights live in a <see cref="SlicedLayerSpill"/>'s scratch file.</summary>
    public bool IsSpilled => _spilled != null;

    /// <summary>The down projection [D x K] as written: each float64 value rounded once to float32 (a new array).</summary>
    public float[] DownFloat32() => _down is { } d ? Narrow(d) : _spilled!.Down();

    /// <summary>The down bias [D] rounded once to float32.</summary>
    public float[] DownBiasFloat32() => Narrow(DownBias);

    internal static float[] Narrow(ReadOnlySpan<double> values)
    {
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)values[i];
        return f;
    }
}
