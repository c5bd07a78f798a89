namespace LlmPruneFast.Capture;

/// <summary>
/// Activations of one FFN layer on calibration text: Z [S x N] float32, row-major, S sampled token positions
/// (padding excluded), column j = z_j of neuron j; with <see cref="Leading"/>, the same layer at the leading special
/// positions the sample leaves out. Filled by capture; synthetic in tests.
/// </summary>
public sealed class LayerActivations
{
    /// <summary>Layer index in the model.</summary>
    public int Index { get; }
    /// <summary>S: number of token positions (rows).</summary>
    public int Rows { get; }
    /// <summary>N: number of neurons (columns).</summary>
    public int Columns { get; }
    /// <summary>Z, row-major [S x N].</summary>
    public ReadOnlyMemory<float> Data { get; }
    /// <summary>The layer at the leading positions the sample excludes ([CLS], BOS), or null when none were left out.</summary>
    public LeadingActivations? Leading { get; }

    public LayerActivations(int index, int rows, int columns, ReadOnlyMemory<float> data, LeadingActivations? leading = null)
    {
        if (rows < 2) throw new BadDataException($"activations of layer {index}: need at least 2 token positions, found {rows}");
        if (columns < 1) throw new BadDataException($"activations of layer {index}: no neurons");
        if (data.Length != (long)rows * columns)
            throw new BadDataException($"activations of layer {index}: {data.Length} values, expected S x N = {rows} x {columns}");
        ThrowIfNotFinite(data.Span, index, columns, "sampled position");
        if (leading != null)
        {
            if (leading.Columns != columns)
                throw new BadDataException($"activations of layer {index}: leading positions have {leading.Columns} neurons, the sample {columns}");
            ThrowIfNotFinite(leading.Data.Span, index, columns, "the leading position of sequence");
        }
        (Index, Rows, Columns, Data, Leading) = (index, rows, columns, data, leading);
    }

    /// <summary>NaN or Inf anywhere in <paramref name="z"/> (rows of <paramref name="columns"/>), named by row and neuron.</summary>
    private static void ThrowIfNotFinite(ReadOnlySpan<float> z, int index, int columns, string row)
    {
        int bad = Information.ActivationMatrix.FirstNonFinite(z);
        if (bad >= 0)
            throw new BadDataException($"activations of layer {index}: {Information.ActivationMatrix.Describe(z[bad])} at {row} {bad / columns}, neuron {bad % columns}; " +
                "the model overflows float32 on the calibration text (check its weights)");
    }

    /// <summary>Column j as float64 (length S).</summary>
    public double[] Column(int j)
    {
        var c = new double[Rows];
        var z = Data.Span;
        for (int s = 0; s < Rows; s++) c[s] = z[s * Columns + j];
        return c;
    }
}
