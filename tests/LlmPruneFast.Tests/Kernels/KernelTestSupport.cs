using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Tests.Kernels;

/// <summary>A fact that runs only where ILGPU finds a CUDA device; skipped with a message otherwise.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!MiAccelerator.CudaAvailable) Skip = "no CUDA device: the CUDA kernel tests run where a GPU is lent";
    }
}

/// <summary>Kernel test classes share one accelerator per kind and run one at a time (an accelerator is not thread-safe).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCollection
{
    public const string Name = "Kernels";
}

/// <summary>One accelerator per kind for the whole test run (kernels compile once); created on first use.</summary>
public static class TestAccelerators
{
    private static readonly Dictionary<MiAcceleratorKind, MiAccelerator> Cache = [];

    public static MiAccelerator Get(MiAcceleratorKind kind)
    {
        lock (Cache)
        {
            if (!Cache.TryGetValue(kind, out var accelerator)) Cache[kind] = accelerator = MiAccelerator.Create(kind);
            return accelerator;
        }
    }
}

/// <summary>Seeded test matrices with awkward features: ties, constant columns, dependent columns.</summary>
public static class TestMatrices
{
    /// <summary>
    /// Column-major S x N: column 0 Gaussian, column c &gt; 0 mixes column c-1 with noise (a dependence chain),
    /// every 5th column (c % 5 == 3) rounded to a few levels (ties), column 4 constant when N &gt; 4.
    /// </summary>
    public static float[] Make(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var z = new float[rows * columns];
        for (int c = 0; c < columns; c++)
            for (int s = 0; s < rows; s++)
            {
                double noise = Gaussian(random);
                double v = c == 0 ? noise : 0.7 * z[(c - 1) * rows + s] + 0.7 * noise;
                if (c % 5 == 3) v = Math.Round(v * 2) / 2;
                if (c == 4) v = 1.5;
                z[c * rows + s] = (float)v;
            }
        return z;
    }

    public static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    /// <summary>All pairs (i, j), i &lt; j, plus a few reversed and a self pair.</summary>
    public static (int, int)[] Pairs(int columns)
    {
        var pairs = new List<(int, int)>();
        for (int i = 0; i < columns; i++)
            for (int j = i + 1; j < columns; j++) pairs.Add((i, j));
        if (columns > 1) pairs.Add((columns - 1, 0));
        pairs.Add((0, 0));
        return [.. pairs];
    }

    /// <summary>Reads a shared reference file: n rows of (x, y) float32 -> column-major 2 columns.</summary>
    public static float[] ReadReferencePair(string path, out int rows)
    {
        var bytes = File.ReadAllBytes(path);
        var xy = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes);
        rows = xy.Length / 2;
        var z = new float[xy.Length];
        for (int s = 0; s < rows; s++)
        {
            z[s] = xy[2 * s];
            z[rows + s] = xy[2 * s + 1];
        }
        return z;
    }
}
