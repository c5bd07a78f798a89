namespace LlmPruneFast.Kernels.Columns;

/// <summary>Plain reference for <see cref="ColumnRanks"/>: a stable sort of row indices by value, per column.</summary>
public static class ColumnRanksReference
{
    /// <summary>Ranks [N x S] of a column-major S x N matrix.</summary>
    public static int[] Compute(ReadOnlySpan<float> columnMajor, int rows, int columns)
    {
        var ranks = new int[rows * columns];
        var order = new int[rows];
        for (int j = 0; j < columns; j++)
        {
            var v = columnMajor.Slice(j * rows, rows).ToArray();
            for (int s = 0; s < rows; s++) order[s] = s;
            // Comparison sort with the row as the tie-break: stable by construction.
            Array.Sort(order, (a, b) => v[a] != v[b] ? v[a].CompareTo(v[b]) : a.CompareTo(b));
            for (int p = 0; p < rows; p++) ranks[j * rows + order[p]] = p;
        }
        return ranks;
    }
}
