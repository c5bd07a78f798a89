using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace LlmPruneFast.Models;

/// <summary>
/// Writes tensors as safetensors. Deterministic: the same tensors in the same order (and the same metadata) give a
/// byte-identical file. Atomic: the file is written to a temporary sibling, flushed, then renamed into place, so a
/// reader never sees a half-written file. Tensors are read from the source one at a time.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>Elements narrowed per step when a tensor is stored as F16 or BF16.</summary>
    private const int NarrowChunk = 1 << 20;

    /// <summary>Store every tensor as float32 (the default).</summary>
    public static readonly Func<TensorInfo, TensorDType> AllFloat32 = _ => TensorDType.F32;
    /// <summary>Store every tensor in the dtype its source reports (F16 and BF16 round-trip exactly through float32).</summary>
    public static readonly Func<TensorInfo, TensorDType> KeepDType = info => info.DType;

    /// <summary>
    /// Writes <paramref name="names"/> (default: all of <see cref="ITensorSource.Names"/>, in order) of
    /// <paramref name="tensors"/> to <paramref name="path"/>, each stored as <paramref name="storeAs"/> says (default F32),
    /// with <c>__metadata__</c> when <paramref name="metadata"/> is given.
    /// </summary>
    public static void Write(string path, ITensorSource tensors, IReadOnlyDictionary<string, string>? metadata = null,
        Func<TensorInfo, TensorDType>? storeAs = null, IEnumerable<string>? names = null, CancellationToken cancellationToken = default)
    {
        storeAs ??= AllFloat32;
        var plan = (names ?? tensors.Names).Select(n => tensors.GetInfo(n)).Select(i => (Info: i, DType: storeAs(i))).ToArray();
        var header = BuildHeader(plan, metadata);
        WriteAtomically(path, stream =>
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            byte[]? narrow = null;
            var garbage = LargeGarbage.For(tensors);   // each tensor is read, written and dropped: keep that from piling up
            foreach (var (info, dtype) in plan)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var data = tensors.ReadFloat32(info.Name);
                garbage.Dropped(data.LongLength * sizeof(float));   // collects what earlier tensors left once they pass the budget
                if (dtype == TensorDType.F32)
                {
                    stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
                    continue;
                }
                // Narrowed through one reused buffer, so a large tensor is not held twice.
                int size = FloatWidening.SizeOf(dtype);
                narrow ??= new byte[NarrowChunk * sizeof(float)];
                for (int start = 0; start < data.Length; start += NarrowChunk)
                {
                    int n = Math.Min(NarrowChunk, data.Length - start);
                    FloatWidening.FromFloat32(dtype, data.AsSpan(start, n), narrow.AsSpan(0, n * size));
                    stream.Write(narrow, 0, n * size);
                }
            }
        });
    }

    /// <summary>
    /// Writes shards <c>model-0000i-of-0000n.safetensors</c> of at most <paramref name="maxShardBytes"/> data bytes each
    /// (a single larger tensor gets its own shard) and <c>model.safetensors.index.json</c> into
    /// <paramref name="directory"/>, which must exist; every shard carries <paramref name="metadata"/>. Returns the shard file names.
    /// </summary>
    public static IReadOnlyList<string> WriteSharded(string directory, ITensorSource tensors, long maxShardBytes,
        Func<TensorInfo, TensorDType>? storeAs = null, IReadOnlyDictionary<string, string>? metadata = null, CancellationToken cancellationToken = default)
    {
        if (maxShardBytes <= 0) throw new BadArgumentException($"shard size must be positive, got {maxShardBytes}");
        storeAs ??= AllFloat32;
        var groups = new List<List<string>>();
        long current = 0, total = 0;
        foreach (var name in tensors.Names)
        {
            var info = tensors.GetInfo(name);
            long bytes = info.ElementCount * FloatWidening.SizeOf(storeAs(info));
            if (groups.Count == 0 || (current + bytes > maxShardBytes && current > 0))
            {
                groups.Add([]);
                current = 0;
            }
            groups[^1].Add(name);
            current += bytes;
            total += bytes;
        }
        var files = groups.Select((_, i) => $"model-{i + 1:D5}-of-{groups.Count:D5}.safetensors").ToArray();
        for (int i = 0; i < groups.Count; i++)
            Write(Path.Combine(directory, files[i]), tensors, metadata, storeAs, groups[i], cancellationToken);

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", total);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            for (int i = 0; i < groups.Count; i++)
                foreach (var name in groups[i]) json.WriteString(name, files[i]);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        WriteAtomically(Path.Combine(directory, SafeTensorsSharded.IndexFileName), s => s.Write(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        return files;
    }

    /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes so the data section stays aligned.</summary>
    private static byte[] BuildHeader((TensorInfo Info, TensorDType DType)[] plan, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata != null)
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata) json.WriteString(key, value);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (info, dtype) in plan)
            {
                long bytes = info.ElementCount * FloatWidening.SizeOf(dtype);
                json.WriteStartObject(info.Name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (var d in info.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int padded = (int)((buffer.Length + 7) / 8 * 8);
        var header = new byte[padded];
        buffer.GetBuffer().AsSpan(0, (int)buffer.Length).CopyTo(header);
        header.AsSpan((int)buffer.Length).Fill((byte)' ');
        return header;
    }

    /// <summary>Writes through <paramref name="write"/> into a temporary file beside <paramref name="path"/>, flushes it to disk, then renames it over <paramref name="path"/>.</summary>
    internal static void WriteAtomically(string path, Action<FileStream> write)
    {
        path = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
