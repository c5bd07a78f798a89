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
        var span = data.Span;
        for (int i = 0; i < span.Length; i++)
            if (!float.IsFinite(span[i]))
                throw new BadDataException($"activations of layer {index}: {(float.IsNaN(span[i]) ? "NaN" : span[i] > 0 ? "+Inf" : "-Inf")} at sampled position {i / columns}, neuron {i % columns}; " +
                    "the model overflows float32 on the calibration text (check its weights)");
        if (leading != null)
        {
            if (leading.Columns != columns)
                throw new BadDataException($"activations of layer {index}: leading positions have {leading.Columns} neurons, the sample {columns}");
            var lead = leading.Data.Span;
            for (int i = 0; i < lead.Length; i++)
                if (!float.IsFinite(lead[i]))
                    throw new BadDataException($"activations of layer {index}: {(float.IsNaN(lead[i]) ? "NaN" : lead[i] > 0 ? "+Inf" : "-Inf")} at the leading position of sequence {i / columns}, neuron {i % columns}; " +
                        "the model overflows float32 on the calibration text (check its weights)");
        }
        (Index, Rows, Columns, Data, Leading) = (index, rows, columns, data, leading);
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
