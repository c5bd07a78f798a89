using ILGPU;
using ILGPU.Runtime;
using LlmPruneFast.Kernels.Acceleration;

namespace LlmPruneFast.Kernels.Columns;

/// <summary>
/// An activation matrix Z (S rows = samples, N columns = neurons) in accelerator memory, float32, COLUMN-major:
/// column j is <c>Data[j*S .. (j+1)*S)</c>. Every kernel reads columns, so they are contiguous. Owns its buffer.
/// Values must be finite (the Information layer checks NaN/Inf before uploading).
/// </summary>
public sealed class DeviceColumns : IDisposable
{
    /// <summary>S, samples per column.</summary>
    public int Rows { get; }

    /// <summary>N, columns.</summary>
    public int Columns { get; }

    /// <summary>The N*S values, column-major.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Data { get; }

    private DeviceColumns(int rows, int columns, MemoryBuffer1D<float, Stride1D.Dense> data)
    {
        Rows = rows;
        Columns = columns;
        Data = data;
    }

    /// <summary>Uploads a column-major host buffer (column j = <c>columnMajor[j*rows .. (j+1)*rows)</c>).</summary>
    public static DeviceColumns FromColumnMajor(MiAccelerator accelerator, ReadOnlySpan<float> columnMajor, int rows, int columns)
    {
        CheckShape(columnMajor.Length, rows, columns);
        var buffer = accelerator.Accelerator.Allocate1D<float>(columnMajor.Length);
        buffer.Upload(columnMajor);
        return new DeviceColumns(rows, columns, buffer);
    }

    /// <summary>Uploads a row-major host buffer (row s = <c>rowMajor[s*columns .. (s+1)*columns)</c>) and transposes it on the device.</summary>
    public static DeviceColumns FromRowMajor(MiAccelerator accelerator, ReadOnlySpan<float> rowMajor, int rows, int columns)
    {
        CheckShape(rowMajor.Length, rows, columns);
        using var staged = accelerator.Accelerator.Allocate1D<float>(rowMajor.Length);
        staged.Upload(rowMajor);
        var buffer = accelerator.Accelerator.Allocate1D<float>(rowMajor.Length);
        var transpose = accelerator.Kernel("DeviceColumns." + nameof(TransposeKernel), a =>
            a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TransposeKernel));
        transpose(buffer.IntExtent, staged.View, buffer.View, rows, columns);
        accelerator.Accelerator.Synchronize();
        return new DeviceColumns(rows, columns, buffer);
    }

    /// <summary>Column-major output element <paramref name="index"/> = (column index / rows, row index % rows) of the row-major input.</summary>
    internal static void TransposeKernel(Index1D index, ArrayView<float> rowMajor, ArrayView<float> columnMajor, int rows, int columns)
    {
        int column = index / rows;
        int row = index - column * rows;
        columnMajor[index] = rowMajor[(long)row * columns + column];
    }

    /// <summary>Copies the column-major matrix back to the host (tests, debugging).</summary>
    public float[] ToHost() => Data.GetAsArray1D();

    public void Dispose() => Data.Dispose();

    private static void CheckShape(int length, int rows, int columns)
    {
        if (rows < 1 || columns < 1) throw new ArgumentException($"matrix must be at least 1 x 1, found {rows} x {columns}");
        if ((long)rows * columns > int.MaxValue) throw new ArgumentException($"matrix {rows} x {columns} exceeds {int.MaxValue} elements");
        if (length != rows * columns) throw new ArgumentException($"buffer holds {length} values, expected {rows} x {columns} = {rows * columns}");
    }
}
