namespace LlmPruneFast.Kernels.AllPairs;

/// <summary>
/// Receives one tile of the symmetric N x N MI matrix: rows [rowStart, rowStart+rowCount), columns
/// [colStart, colStart+colCount), colStart &gt;= rowStart (upper block triangle), row-major within the tile:
/// tile[r*colCount + c] = MI(rowStart+r, colStart+c). In a diagonal tile both halves are filled and the
/// diagonal i == j holds 0 (a neuron is not redundant with itself). The span is only valid during the call.
/// </summary>
public delegate void PairTileSink(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile);

/// <summary>One tile of the upper block triangle of an N x N matrix.</summary>
public readonly record struct PairTile(int RowStart, int RowCount, int ColStart, int ColCount)
{
    /// <summary>Tiles of edge <paramref name="tile"/> covering the upper block triangle (ColStart &gt;= RowStart), row-block major.</summary>
    public static IEnumerable<PairTile> UpperTriangle(int n, int tile)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "need at least one column");
        if (tile < 1) throw new ArgumentOutOfRangeException(nameof(tile), tile, "tile edge must be positive");
        for (int i0 = 0; i0 < n; i0 += tile)
            for (int j0 = i0; j0 < n; j0 += tile)
                yield return new PairTile(i0, Math.Min(tile, n - i0), j0, Math.Min(tile, n - j0));
    }

    /// <summary>Number of tiles <see cref="UpperTriangle"/> yields.</summary>
    public static long Count(int n, int tile)
    {
        long blocks = (n + tile - 1) / tile;
        return blocks * (blocks + 1) / 2;
    }
}

/// <summary>Collects tiles into a dense symmetric N x N float32 matrix, row-major (each tile mirrored).</summary>
public sealed class DenseTileCollector
{
    public int N { get; }

    /// <summary>Matrix[i*N + j] = MI(i, j).</summary>
    public float[] Matrix { get; }

    public DenseTileCollector(int n)
    {
        N = n;
        Matrix = new float[(long)n * n];
    }

    /// <summary>A sink writing into <see cref="Matrix"/>.</summary>
    public PairTileSink Sink => Accept;

    private void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
    {
        for (int r = 0; r < rowCount; r++)
            for (int c = 0; c < colCount; c++)
            {
                float v = tile[r * colCount + c];
                Matrix[(long)(rowStart + r) * N + colStart + c] = v;
                Matrix[(long)(colStart + c) * N + rowStart + r] = v;
            }
    }
}
