namespace LlmPruneFast.Information;

/// <summary>Unit of an MI value: natural log (nats) or log base 2 (bits).</summary>
public enum MiUnits { Nats, Bits }

/// <summary>Progress of an all-pairs or pair-list run: pairs finished out of the total.</summary>
public readonly record struct MiProgress(long PairsDone, long PairsTotal);

/// <summary>
/// A mutual-information estimator between neurons (columns of an <see cref="ActivationMatrix"/>).
/// Implementations precompute what depends on one column only (ranks, bins, normal scores, scaled values, kernel
/// marginal terms) once per column per call, never once per pair. All methods are thread-safe for concurrent calls
/// on different data. A constant column (every value equal) carries no information: its MI with anything is 0.
/// </summary>
public interface IMutualInformationEstimator
{
    /// <summary>Short name as accepted by <see cref="MiEstimators.Create"/> ("plugin", "ksg", "renyi", "copula").</summary>
    string Name { get; }

    /// <summary>Unit of every value this estimator returns.</summary>
    MiUnits Units { get; }

    /// <summary>The parameters that define the estimate (bins, k, alpha, bandwidth rule...), for reports and JSON.</summary>
    IReadOnlyDictionary<string, object> Parameters { get; }

    /// <summary>Minimum number of samples S this configuration accepts (e.g. B bins need S &gt;= B, KSG needs S &gt; k).</summary>
    int MinimumSamples { get; }

    /// <summary>MI between two equally long sample vectors (x_s, y_s), s = 0..S-1.</summary>
    double Estimate(ReadOnlySpan<float> x, ReadOnlySpan<float> y);

    /// <summary>MI of each listed column pair of <paramref name="z"/>, written to <paramref name="result"/> in list order.</summary>
    void EstimatePairs(ActivationMatrix z, ReadOnlySpan<(int I, int J)> pairs, Span<double> result,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// MI of every pair of columns of <paramref name="z"/>, delivered tile by tile to <paramref name="sink"/> (so memory
    /// stays bounded: the estimator never holds the N x N result). See <see cref="IMiTileSink"/> for the tile contract.
    /// </summary>
    void EstimateAllPairs(ActivationMatrix z, IMiTileSink sink,
        IProgress<MiProgress>? progress = null, CancellationToken cancellationToken = default);
}

/// <summary>
/// Receives all-pairs results as tiles. A tile covers rows [RowStart, RowStart+RowCount) and columns
/// [ColStart, ColStart+ColCount) of the symmetric N x N MI matrix, with ColStart &gt;= RowStart (upper block triangle);
/// values are row-major within the tile, tile[r*ColCount+c] = MI(RowStart+r, ColStart+c). Within a diagonal tile
/// (RowStart == ColStart) both halves are filled and the diagonal i == j holds 0 by convention (a neuron is not
/// redundant with itself). Tiles may arrive concurrently from several threads: implementations must be thread-safe.
/// </summary>
public interface IMiTileSink
{
    void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile);
}

/// <summary>Collects tiles into a dense symmetric N x N float32 matrix, row-major (mirrors each tile).</summary>
public sealed class DenseMiSink : IMiTileSink
{
    public int N { get; }

    /// <summary>The N x N matrix, row-major: Matrix[i*N+j] = MI(i, j).</summary>
    public float[] Matrix { get; }

    public DenseMiSink(int n)
    {
        if ((long)n * n > Array.MaxLength) throw new MemoryBudgetException($"dense {n} x {n} MI matrix exceeds {Array.MaxLength} elements");
        N = n;
        Matrix = new float[(long)n * n];
    }

    public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
    {
        for (int r = 0; r < rowCount; r++)
        {
            int i = rowStart + r;
            for (int c = 0; c < colCount; c++)
            {
                int j = colStart + c;
                float v = tile[r * colCount + c];
                Matrix[(long)i * N + j] = v;
                Matrix[(long)j * N + i] = v;
            }
        }
    }
}

/// <summary>Keeps every pair i &lt; j whose MI is at least <see cref="Threshold"/> (a streaming screen).</summary>
public sealed class ThresholdMiSink(double threshold) : IMiTileSink
{
    private readonly List<(int I, int J, float Mi)> _pairs = [];

    public double Threshold { get; } = threshold;

    /// <summary>Pairs found so far, sorted by (I, J) on each read.</summary>
    public IReadOnlyList<(int I, int J, float Mi)> Pairs
    {
        get { lock (_pairs) return _pairs.OrderBy(p => p.I).ThenBy(p => p.J).ToArray(); }
    }

    public void Accept(int rowStart, int colStart, int rowCount, int colCount, ReadOnlySpan<float> tile)
    {
        List<(int, int, float)>? local = null;
        for (int r = 0; r < rowCount; r++)
            for (int c = 0; c < colCount; c++)
            {
                int i = rowStart + r, j = colStart + c;
                if (j <= i) continue;
                float v = tile[r * colCount + c];
                if (v >= Threshold) (local ??= []).Add((i, j, v));
            }
        if (local != null) lock (_pairs) _pairs.AddRange(local);
    }
}
