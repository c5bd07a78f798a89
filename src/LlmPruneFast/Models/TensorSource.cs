namespace LlmPruneFast.Models;

/// <summary>Element types of stored tensors we read. Everything is computed in float32 or float64.</summary>
public enum TensorDType { F32, F16, BF16 }

/// <summary>A stored tensor's name, element type and shape (row-major, outermost first).</summary>
public sealed record TensorInfo(string Name, TensorDType DType, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Named tensors of a checkpoint, whatever their storage (memory-mapped safetensors, shards, in memory).
/// Owns what it opens: dispose it.
/// </summary>
public interface ITensorSource : IDisposable
{
    IReadOnlyCollection<string> Names { get; }
    bool Contains(string name);
    /// <summary>Throws <see cref="BadModelFileException"/> naming the tensor when it is absent.</summary>
    TensorInfo GetInfo(string name);
    /// <summary>The tensor converted to float32, row-major. F16 and BF16 are widened exactly.</summary>
    float[] ReadFloat32(string name);
}

/// <summary>
/// A source whose tensors are stored bytes readable in place (memory-mapped safetensors), so a scan need not widen
/// them to float32 first.
/// </summary>
public interface IRawTensorSource : ITensorSource
{
    /// <summary>
    /// Stored little-endian bytes [<paramref name="byteOffset"/>, + <paramref name="byteLength"/>) of tensor
    /// <paramref name="name"/> (elements of its <see cref="TensorInfo.DType"/>), valid until the source is disposed.
    /// </summary>
    ReadOnlySpan<byte> RawBytes(string name, long byteOffset, int byteLength);

    /// <summary>
    /// Hint that tensor <paramref name="name"/>'s bytes are not needed soon: a mapped source drops its resident pages
    /// (they stay readable). True when something was released.
    /// </summary>
    bool ReleasePages(string name);
}

/// <summary>Tensors held in managed memory: built by importers, tests and the slicer before writing.</summary>
public sealed class InMemoryTensorSource : ITensorSource
{
    private readonly Dictionary<string, (long[] Shape, float[] Data)> _tensors = new(StringComparer.Ordinal);
    private readonly List<string> _order = [];

    public IReadOnlyCollection<string> Names => _order;

    /// <summary>Adds a float32 tensor; the data array is kept, not copied.</summary>
    public void Add(string name, long[] shape, float[] data)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length)
            throw new ArgumentException($"tensor '{name}': shape [{string.Join(", ", shape)}] needs {count} elements, got {data.Length}");
        if (!_tensors.ContainsKey(name)) _order.Add(name);
        _tensors[name] = (shape, data);
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo GetInfo(string name) => new(name, TensorDType.F32, Get(name).Shape);

    public float[] ReadFloat32(string name) => (float[])Get(name).Data.Clone();

    /// <summary>The stored array itself (no copy), for writers.</summary>
    public float[] GetData(string name) => Get(name).Data;

    private (long[] Shape, float[] Data) Get(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new BadModelFileException($"tensor '{name}' not found");

    public void Dispose() { }
}
