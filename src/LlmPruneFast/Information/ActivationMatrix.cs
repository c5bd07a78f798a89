using System.Runtime.InteropServices;

namespace LlmPruneFast.Information;

/// <summary>
/// A layer's activations Z: <see cref="Rows"/> = S token positions, <see cref="Columns"/> = N neurons, float32,
/// stored COLUMN-major (column j is the contiguous run <c>[j*S, (j+1)*S)</c>).
/// Column-major because every estimator works neuron by neuron: ranks, bins, normal scores and bandwidths are computed
/// per column, and a pair estimate reads two whole columns; contiguous columns make those reads sequential and let
/// the all-pairs GEMM treat Z as N vectors of length S. The capture stage produces rows (one token at a time) and
/// fills this with <see cref="FromRowMajor"/> or <see cref="SetRow"/> (a blocked transpose).
/// </summary>
public sealed class ActivationMatrix
{
    private readonly float[] _data;

    /// <summary>Number of samples S (token positions).</summary>
    public int Rows { get; }

    /// <summary>Number of neurons N.</summary>
    public int Columns { get; }

    /// <summary>An all-zero S x N matrix.</summary>
    public ActivationMatrix(int rows, int columns)
    {
        if (rows < 1) throw new BadDataException($"activation matrix needs at least 1 row (sample), found {rows}");
        if (columns < 1) throw new BadDataException($"activation matrix needs at least 1 column (neuron), found {columns}");
        if ((long)rows * columns > Array.MaxLength)
            throw new MemoryBudgetException($"activation matrix {rows} x {columns} exceeds {Array.MaxLength} elements");
        Rows = rows;
        Columns = columns;
        _data = new float[rows * columns];
    }

    private ActivationMatrix(int rows, int columns, float[] columnMajor)
    {
        Rows = rows;
        Columns = columns;
        _data = columnMajor;
    }

    /// <summary>Wraps an existing column-major buffer of length rows*columns (no copy).</summary>
    public static ActivationMatrix FromColumnMajor(int rows, int columns, float[] data)
    {
        if (rows < 1 || columns < 1) throw new BadDataException($"activation matrix must be at least 1 x 1, found {rows} x {columns}");
        if (data.Length != (long)rows * columns)
            throw new BadDataException($"column-major buffer holds {data.Length} values, expected {rows} x {columns} = {(long)rows * columns}");
        return new ActivationMatrix(rows, columns, data);
    }

    /// <summary>Copies a row-major S x N buffer (row s = token s) into a new column-major matrix (blocked transpose).</summary>
    public static ActivationMatrix FromRowMajor(int rows, int columns, ReadOnlySpan<float> rowMajor)
    {
        if ((long)rows * columns != rowMajor.Length)
            throw new BadDataException($"row-major buffer holds {rowMajor.Length} values, expected {rows} x {columns} = {(long)rows * columns}");
        var m = new ActivationMatrix(rows, columns);
        const int Block = 64;
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int r1 = Math.Min(rows, r0 + Block);
            for (int c0 = 0; c0 < columns; c0 += Block)
            {
                int c1 = Math.Min(columns, c0 + Block);
                for (int r = r0; r < r1; r++)
                {
                    var src = rowMajor.Slice(r * columns, columns);
                    for (int c = c0; c < c1; c++) m._data[c * rows + r] = src[c];
                }
            }
        }
        return m;
    }

    /// <summary>Column j (neuron j over all S samples), contiguous.</summary>
    public ReadOnlySpan<float> Column(int j) => _data.AsSpan(checked(j * Rows), Rows);

    /// <summary>Writable column j.</summary>
    public Span<float> ColumnMutable(int j) => _data.AsSpan(checked(j * Rows), Rows);

    /// <summary>Writes row s (one token position, N values) into the matrix.</summary>
    public void SetRow(int s, ReadOnlySpan<float> row)
    {
        if ((uint)s >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(s));
        if (row.Length != Columns) throw new BadDataException($"row has {row.Length} values, expected {Columns}");
        for (int c = 0; c < Columns; c++) _data[c * Rows + s] = row[c];
    }

    /// <summary>Element (row s, column j).</summary>
    public float this[int s, int j] => _data[j * Rows + s];

    /// <summary>The whole column-major buffer (S*N floats).</summary>
    public ReadOnlySpan<float> ColumnMajorData => _data;

    /// <summary>The backing array (column-major), for accelerators that copy it to device memory.</summary>
    internal float[] RawArray => _data;

    /// <summary>A new matrix holding the given columns in the given order (copies).</summary>
    public ActivationMatrix SelectColumns(ReadOnlySpan<int> columns)
    {
        var m = new ActivationMatrix(Rows, columns.Length);
        for (int c = 0; c < columns.Length; c++)
        {
            if ((uint)columns[c] >= (uint)Columns) throw new BadArgumentException($"column {columns[c]} out of range [0, {Columns})");
            Column(columns[c]).CopyTo(m.ColumnMutable(c));
        }
        return m;
    }

    /// <summary>Throws <see cref="BadArgumentException"/> naming the first pair with a column outside this matrix.</summary>
    public void EnsurePairsInRange(ReadOnlySpan<(int I, int J)> pairs)
    {
        foreach (var (i, j) in pairs)
            if ((uint)i >= (uint)Columns || (uint)j >= (uint)Columns)
                throw new BadArgumentException($"pair ({i},{j}) out of range: the matrix has {Columns} columns");
    }

    /// <summary>
    /// Throws <see cref="BadDataException"/> naming the first column and row holding NaN or +-Inf. Every estimator calls
    /// this before it computes anything, so a bad value never becomes a silent NaN in the result.
    /// </summary>
    public void EnsureFinite()
    {
        for (int j = 0; j < Columns; j++)
        {
            var col = Column(j);
            int bad = FirstNonFinite(col);
            if (bad >= 0) throw new BadDataException($"activation matrix has {Describe(col[bad])} at column {j}, row {bad}");
        }
    }

    internal static int FirstNonFinite(ReadOnlySpan<float> v)
    {
        // a vectorised screen (exponent bits all ones = NaN or +-Inf; four independent accumulators), then a scalar
        // search only on failure
        if (!AnyNonFinite(v)) return -1;
        for (int i = 0; i < v.Length; i++) if (!float.IsFinite(v[i])) return i;
        return -1;
    }

    private static bool AnyNonFinite(ReadOnlySpan<float> v)
    {
        var bits = MemoryMarshal.Cast<float, System.Numerics.Vector<uint>>(v);
        var exp = new System.Numerics.Vector<uint>(0x7F800000u);
        System.Numerics.Vector<uint> a0 = default, a1 = default, a2 = default, a3 = default;
        int i = 0;
        for (; i + 4 <= bits.Length; i += 4)
        {
            a0 |= System.Numerics.Vector.Equals(bits[i] & exp, exp);
            a1 |= System.Numerics.Vector.Equals(bits[i + 1] & exp, exp);
            a2 |= System.Numerics.Vector.Equals(bits[i + 2] & exp, exp);
            a3 |= System.Numerics.Vector.Equals(bits[i + 3] & exp, exp);
        }
        for (; i < bits.Length; i++) a0 |= System.Numerics.Vector.Equals(bits[i] & exp, exp);
        if ((a0 | a1 | a2 | a3) != System.Numerics.Vector<uint>.Zero) return true;
        for (int k = bits.Length * System.Numerics.Vector<uint>.Count; k < v.Length; k++) if (!float.IsFinite(v[k])) return true;
        return false;
    }

    internal static string Describe(float x) => float.IsNaN(x) ? "NaN" : x > 0 ? "+Inf" : "-Inf";
}
