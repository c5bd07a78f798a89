namespace LlmPruneFast.Capture;

/// <summary>
/// One FFN layer's activations at the leading special position ([CLS], BOS) of every calibration sequence run: the
/// positions the sample (<see cref="LayerActivations"/>) leaves out, one row per sequence, [M x N] float32 row-major;
/// and <see cref="Share"/>, their part of all positions of those sequences. The model computes the pruned and
/// compensated FFN at these positions too (their state enters every attention and the pooling), so an output error
/// measured on the sample alone misses them; the compensation-aware costs add them back at their share
/// (the cost_for costs of mi-conditional and mi-weighted). One row per sequence keeps this at most the sample's size.
/// </summary>
public sealed class LeadingActivations
{
    /// <summary>M: leading positions (one per sequence run that starts with the leading special token).</summary>
    public int Rows { get; }
    /// <summary>N.</summary>
    public int Columns { get; }
    /// <summary>Z at the leading positions, row-major [M x N].</summary>
    public ReadOnlyMemory<float> Data { get; }
    /// <summary>pi = M / (M + eligible positions of the sequences run): the leading positions' share of the text the model runs on.</summary>
    public double Share { get; }

    /// <remarks>Values are checked finite by the <see cref="LayerActivations"/> that carries them (its message names the layer).</remarks>
    public LeadingActivations(int rows, int columns, ReadOnlyMemory<float> data, double share)
    {
        if (rows < 1 || columns < 1) throw new BadDataException($"leading-position activations: need at least one row and one neuron, found {rows} x {columns}");
        if (data.Length != (long)rows * columns)
            throw new BadDataException($"leading-position activations: {data.Length} values, expected M x N = {rows} x {columns}");
        if (!(share > 0 && share < 1)) throw new BadDataException($"leading-position activations: share {share} is outside (0, 1)");
        (Rows, Columns, Data, Share) = (rows, columns, data, share);
    }
}
