using System.IO.MemoryMappedFiles;

namespace LlmPruneFast.Models;

/// <summary>
/// A memory-mapped safetensors file. The header is validated on open (see <see cref="SafeTensorsHeader"/>);
/// tensor bytes are read from the mapping only when asked for. Owns the mapping: dispose it.
/// </summary>
/// <remarks>
/// F32, F16 and BF16 tensors are exposed through <see cref="ITensorSource"/>; tensors of other dtypes (e.g. I64
/// buffers some exporters add) are validated but listed in <see cref="OtherTensors"/> instead of <see cref="Names"/>.
/// </remarks>
public sealed unsafe class SafeTensorsFile : IRawTensorSource
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, SafeTensorsEntry> _entries;
    private readonly string[] _names;
    private bool _disposed;

    public string Path { get; }
    public SafeTensorsHeader Header { get; }
    public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;
    public IReadOnlyCollection<string> Names => _names;
    /// <summary>Tensors whose dtype is valid safetensors but not a float type we read.</summary>
    public IReadOnlyList<SafeTensorsEntry> OtherTensors { get; }

    private SafeTensorsFile(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, SafeTensorsHeader header)
    {
        Path = path;
        _file = file;
        _view = view;
        Header = header;
        byte* pointer = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + view.PointerOffset;
        _entries = header.Entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
        _names = header.Entries.Where(e => e.DType != null).Select(e => e.Name).ToArray();
        OtherTensors = header.Entries.Where(e => e.DType == null).ToArray();
    }

    /// <summary>Maps and validates <paramref name="path"/>.</summary>
    /// <exception cref="MissingInputException">The file does not exist.</exception>
    /// <exception cref="BadModelFileException">The header is invalid (each check names the tensor and expected vs found).</exception>
    public static SafeTensorsFile Open(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path)) throw new MissingInputException($"safetensors file '{path}' does not exist");
        // Hugging Face cache folders hold symbolic links to blobs: size and mapping are those of the final target.
        var info = new FileInfo(path);
        if (info.LinkTarget != null && info.ResolveLinkTarget(returnFinalTarget: true) is FileInfo target) info = target;
        if (!info.Exists) throw new MissingInputException($"safetensors file '{path}' is a link to '{info.FullName}', which does not exist");
        long length = info.Length;
        string mapped = info.FullName;
        Span<byte> prefix = stackalloc byte[8];
        if (length >= 8)
        {
            using var stream = new FileStream(mapped, FileMode.Open, FileAccess.Read, FileShare.Read);
            stream.ReadExactly(prefix);
        }
        long headerLength = SafeTensorsHeader.ReadHeaderLength(prefix, length, path);

        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        try
        {
            file = MemoryMappedFile.CreateFromFile(mapped, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            SafeTensorsHeader header;
            try
            {
                header = SafeTensorsHeader.Parse(new ReadOnlySpan<byte>(pointer + view.PointerOffset + 8, (int)headerLength), length, path);
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
            return new SafeTensorsFile(path, file, view, header);
        }
        catch
        {
            view?.Dispose();
            file?.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _entries.TryGetValue(name, out var e) && e.DType != null;

    public TensorInfo GetInfo(string name)
    {
        var e = Entry(name);
        return new TensorInfo(name, e.DType!.Value, (long[])e.Shape.Clone());
    }

    /// <summary>The raw stored bytes of a tensor (little-endian elements of its dtype), valid until disposal.</summary>
    public ReadOnlySpan<byte> RawBytes(string name)
    {
        var e = Entry(name);
        if (e.ByteLength > int.MaxValue) throw new NotSupportedException($"tensor '{name}' has {e.ByteLength} bytes, more than one span holds");
        return new ReadOnlySpan<byte>(_base + Header.DataStart + e.Begin, (int)e.ByteLength);
    }

    public ReadOnlySpan<byte> RawBytes(string name, long byteOffset, int byteLength)
    {
        var e = Entry(name);
        if (byteOffset < 0 || byteLength < 0 || byteOffset + byteLength > e.ByteLength)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"bytes [{byteOffset}, +{byteLength}) outside tensor '{name}' of {e.ByteLength} bytes");
        return new ReadOnlySpan<byte>(_base + Header.DataStart + e.Begin + byteOffset, byteLength);
    }

    public float[] ReadFloat32(string name)
    {
        var e = Entry(name);
        long count = e.ByteLength / FloatWidening.SizeOf(e.DType!.Value);
        if (count > Array.MaxLength) throw new NotSupportedException($"tensor '{name}' has {count} elements, more than one array holds");
        var result = new float[count];
        int elementSize = FloatWidening.SizeOf(e.DType.Value);
        const int chunk = 1 << 26; // elements per conversion, so byte spans stay below 2 GiB
        for (long start = 0; start < count; start += chunk)
        {
            int n = (int)Math.Min(chunk, count - start);
            var source = new ReadOnlySpan<byte>(_base + Header.DataStart + e.Begin + start * elementSize, n * elementSize);
            FloatWidening.ToFloat32(e.DType.Value, source, result.AsSpan((int)start, n));
        }
        ReleasePages(name);   // widened: the mapped bytes need not stay resident
        return result;
    }

    /// <summary>
    /// Drops this process's resident pages of tensor <paramref name="name"/>'s bytes (see <see cref="MappedPages"/>);
    /// spans from <see cref="RawBytes(string, long, int)"/> stay valid (a read faults the pages in again). True when
    /// the kernel took the advice.
    /// </summary>
    public bool ReleasePages(string name)
    {
        var e = Entry(name);
        return MappedPages.Release(_base + Header.DataStart + e.Begin, e.ByteLength);
    }

    private SafeTensorsEntry Entry(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_entries.TryGetValue(name, out var e))
            throw new BadModelFileException($"safetensors file '{Path}': tensor '{name}' not found");
        if (e.DType == null)
            throw new BadModelFileException($"safetensors file '{Path}': tensor '{name}' has dtype {e.DTypeName}; expected F32, F16 or BF16");
        return e;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }
}
