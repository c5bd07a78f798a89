using System.IO.MemoryMappedFiles;

namespace LlmPruneFast.Capture;

/// <summary>
/// The hidden states carried between layers, one block [batch, seq, D] per calibration batch: in managed memory, or
/// in a memory-mapped scratch file when they do not fit (<see cref="Create"/>). Owns the scratch file: dispose it.
/// </summary>
public abstract class HiddenStates : IDisposable
{
    /// <summary>Block <paramref name="batch"/> (a fresh copy for the file-backed store, the stored array in memory).</summary>
    public abstract float[] Read(int batch);

    /// <summary>Replaces block <paramref name="batch"/> (the array may be kept: do not reuse it).</summary>
    public abstract void Write(int batch, float[] data);

    /// <summary>True when the blocks live in a scratch file.</summary>
    public abstract bool FileBacked { get; }

    public abstract void Dispose();

    /// <summary>
    /// Stores <paramref name="data"/> as block <paramref name="batch"/> and returns an array of the block's length that
    /// is free to reuse: the replaced block in memory (the store keeps <paramref name="data"/>), <paramref name="data"/>
    /// itself for the file (copied in).
    /// </summary>
    public abstract float[] Replace(int batch, float[] data);

    /// <summary>
    /// A store of blocks of <paramref name="lengths"/> floats: in memory when their total is at most
    /// <paramref name="inMemoryLimitBytes"/>, else in a scratch file under <paramref name="scratchFolder"/> (the
    /// system temp folder when null), deleted on dispose.
    /// </summary>
    public static HiddenStates Create(IReadOnlyList<long> lengths, long inMemoryLimitBytes, string? scratchFolder)
    {
        long total = lengths.Sum() * sizeof(float);
        return total <= inMemoryLimitBytes ? new InMemory(lengths.Count) : new Mapped(lengths, scratchFolder ?? Path.GetTempPath());
    }

    private sealed class InMemory(int count) : HiddenStates
    {
        private readonly float[]?[] _blocks = new float[count][];
        public override bool FileBacked => false;
        public override float[] Read(int batch) => _blocks[batch] ?? throw new InvalidOperationException($"hidden block {batch} was never written");
        public override void Write(int batch, float[] data) => _blocks[batch] = data;
        public override float[] Replace(int batch, float[] data)
        {
            var old = _blocks[batch] ?? throw new InvalidOperationException($"hidden block {batch} was never written");
            _blocks[batch] = data;
            return old;
        }
        public override void Dispose() => Array.Clear(_blocks);
    }

    private sealed class Mapped : HiddenStates
    {
        private readonly long[] _offsets;
        private readonly long[] _lengths;
        private readonly string _path;
        private readonly MemoryMappedFile _file;
        private readonly MemoryMappedViewAccessor _view;

        public Mapped(IReadOnlyList<long> lengths, string folder)
        {
            _lengths = [.. lengths];
            _offsets = new long[lengths.Count];
            for (int b = 1; b < lengths.Count; b++) _offsets[b] = _offsets[b - 1] + lengths[b - 1] * sizeof(float);
            long total = Math.Max(1, lengths.Sum() * sizeof(float));
            Directory.CreateDirectory(folder);
            _path = Path.Combine(folder, $".llmprune-hidden-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
            try
            {
                _file = MemoryMappedFile.CreateFromFile(_path, FileMode.CreateNew, null, total, MemoryMappedFileAccess.ReadWrite);
                _view = _file.CreateViewAccessor(0, total, MemoryMappedFileAccess.ReadWrite);
            }
            catch (IOException e)
            {
                _file?.Dispose();
                TryDelete(_path);
                throw new FileSystemFaultException($"cannot create the hidden-state scratch file '{_path}' ({total >> 20} MiB): {e.Message}", e);
            }
        }

        public override bool FileBacked => true;

        public override float[] Read(int batch)
        {
            var data = new float[_lengths[batch]];
            _view.SafeMemoryMappedViewHandle.ReadSpan((ulong)_offsets[batch], data.AsSpan());
            return data;
        }

        public override void Write(int batch, float[] data)
        {
            if (data.LongLength != _lengths[batch]) throw new ArgumentException($"hidden block {batch} holds {_lengths[batch]} values, got {data.LongLength}");
            _view.SafeMemoryMappedViewHandle.WriteSpan((ulong)_offsets[batch], (ReadOnlySpan<float>)data);
        }

        public override float[] Replace(int batch, float[] data)
        {
            Write(batch, data);
            return data;
        }

        public override void Dispose()
        {
            _view.Dispose();
            _file.Dispose();
            TryDelete(_path);
        }

        private static void TryDelete(string path)
        {
            try { File.Delete(path); }
            catch (IOException) { }   // best effort: a leftover scratch file is not worth failing the run for
            catch (UnauthorizedAccessException) { }
        }
    }
}
