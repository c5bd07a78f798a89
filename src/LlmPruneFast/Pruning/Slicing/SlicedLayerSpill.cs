using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace LlmPruneFast.Pruning;

/// <summary>
/// A scratch file holding cut FFN layers' weights in the form the writer reads them (float32: gate rows, up rows, the
/// down projection rounded once from float64), so a streaming prune's memory does not grow with depth: at the LLaMA-7B
/// shape the cut layers are about 12 GB in float32 (16 GB with down in float64) by the last layer. Each layer is
/// appended as it is cut (<see cref="Add"/>) and read back one tensor at a time when written.
/// <para>The file has a hidden name beside the output and is unlinked as soon as it is open (deleted on close on
/// Windows), so nothing is left behind whatever ends the process. Owns the file: dispose it after the write.</para>
/// </summary>
public sealed class SlicedLayerSpill : IDisposable
{
    /// <summary>Elements rounded to float32 per step when the down projection is appended.</summary>
    private const int Chunk = 1 << 18;

    private readonly SafeFileHandle _file;
    private readonly string _path;
    private long _length;
    private bool _disposed;

    private SlicedLayerSpill(SafeFileHandle file, string path) => (_file, _path) = (file, path);

    /// <summary>Bytes written so far.</summary>
    public long Bytes => _length;

    /// <summary>Creates the scratch file under <paramref name="folder"/> (null: the system temp folder).</summary>
    /// <exception cref="FileSystemFaultException">The file cannot be created.</exception>
    public static SlicedLayerSpill Create(string? folder)
    {
        folder ??= Path.GetTempPath();
        string path = Path.Combine(folder, $".llmprune-sliced-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(folder);
            var file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete,
                OperatingSystem.IsWindows() ? FileOptions.DeleteOnClose : FileOptions.None);
            if (!OperatingSystem.IsWindows()) File.Delete(path);   // the open handle keeps the data; the name goes now
            return new SlicedLayerSpill(file, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FileSystemFaultException($"cannot create the sliced-layer scratch file '{path}': {e.Message}", e);
        }
    }

    /// <summary>
    /// Appends <paramref name="layer"/>'s gate, up and float32 down projection; returns the layer as a spilled copy
    /// (<see cref="SlicedFfnLayer.IsSpilled"/>) whose arrays are read from here. The passed layer can then be dropped.
    /// </summary>
    /// <exception cref="FileSystemFaultException">The write fails (disk full).</exception>
    public SlicedFfnLayer Add(SlicedFfnLayer layer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (layer.IsSpilled) throw new ArgumentException($"sliced layer {layer.Index} is already spilled", nameof(layer));
        try
        {
            long gate = Append(layer.Gate), up = Append(layer.Up);
            long down = _length;
            var rounded = new float[Math.Min(Chunk, layer.Down.Length)];
            for (int start = 0; start < layer.Down.Length; start += Chunk)
            {
                int n = Math.Min(Chunk, layer.Down.Length - start);
                for (int i = 0; i < n; i++) rounded[i] = (float)layer.Down[start + i];   // as SlicedFfnLayer.DownFloat32 rounds
                Append(rounded.AsSpan(0, n));
            }
            return new SlicedFfnLayer(layer, new Entry(this, gate, layer.Gate.Length, up, layer.Up.Length, down, layer.Down.Length));
        }
        catch (IOException e)
        {
            throw new FileSystemFaultException($"cannot write the sliced-layer scratch file '{_path}' (layer {layer.Index}, {_length >> 20} MiB written): {e.Message}", e);
        }
    }

    private long Append(ReadOnlySpan<float> values)
    {
        long offset = _length;
        RandomAccess.Write(_file, MemoryMarshal.AsBytes(values), offset);
        _length += (long)values.Length * sizeof(float);
        return offset;
    }

    private float[] Read(long offset, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var data = new float[count];
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        for (int done = 0; done < bytes.Length;)
        {
            int n = RandomAccess.Read(_file, bytes[done..], offset + done);
            if (n == 0) throw new FileSystemFaultException($"the sliced-layer scratch file '{_path}' ended early ({offset + done} of {offset + bytes.Length} bytes)");
            done += n;
        }
        return data;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _file.Dispose();
    }

    /// <summary>Where one layer's arrays are in the file.</summary>
    internal sealed record Entry(SlicedLayerSpill Spill, long GateOffset, int GateCount, long UpOffset, int UpCount, long DownOffset, int DownCount)
    {
        public float[] Gate() => Spill.Read(GateOffset, GateCount);
        public float[] Up() => Spill.Read(UpOffset, UpCount);
        public float[] Down() => Spill.Read(DownOffset, DownCount);
    }
}
