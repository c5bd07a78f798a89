using System.Globalization;
using Google.Protobuf;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.Onnx;

/// <summary>
/// Moves the initializers of a graph being built into an ONNX external data file as they are added, so a model far
/// larger than memory (or than protobuf's 2 GB) is written holding about one tensor at a time. Until the initializers
/// total more than <see cref="InlineLimitBytes"/> they stay inline (a small model stays one self-contained file);
/// past it, those already added go out in graph order and every later one as it comes. The result is byte for byte
/// what <see cref="OnnxModelFile.Save"/> writes from the whole in-memory model with the same file, threshold and
/// inline limit (4096-byte aligned blocks, entries location/offset/length). Owns the data file until
/// <see cref="Commit"/>: disposing without it deletes the partial file.
/// </summary>
internal sealed class StreamedExternalData : IDisposable
{
    /// <summary>Same 4096-byte alignment as <see cref="OnnxModelFile.Save"/>, so ONNX Runtime can memory-map the blocks.</summary>
    private const int Alignment = 4096;

    private readonly string _folder;
    private readonly string _tempPath;
    private readonly List<TensorProto> _inline = [];
    private FileStream? _data;
    private long _total;

    /// <summary>Name of the data file, relative to the model's folder.</summary>
    public string Location { get; }
    /// <summary>Initializers of at least this many bytes go to the data file once it is used.</summary>
    public long ThresholdBytes { get; }
    /// <summary>The data file is used once the initializers total more than this.</summary>
    public long InlineLimitBytes { get; }
    /// <summary>True once the initializers went over <see cref="InlineLimitBytes"/>.</summary>
    public bool External => _data != null;

    public StreamedExternalData(string folder, string location, long inlineLimitBytes, long thresholdBytes = 1024)
    {
        _folder = Path.GetFullPath(folder);
        Location = location;
        InlineLimitBytes = inlineLimitBytes;
        ThresholdBytes = thresholdBytes;
        _tempPath = Path.Combine(_folder, location + ".tmp");
    }

    /// <summary>
    /// Goes to the data file at once when the initializers are known to total more than the inline limit: otherwise the
    /// first <see cref="InlineLimitBytes"/> are held in memory as inline copies until the total passes it (256 MB more
    /// at the peak of a 134M model's write). The files are the same either way.
    /// </summary>
    public void ExpectAtLeast(long bytes)
    {
        if (_data == null && bytes > InlineLimitBytes) GoExternal();
    }

    /// <summary>
    /// True when an initializer of <paramref name="bytes"/> bytes will go straight to the data file, so the caller can
    /// hand its bytes to <see cref="AddExternal"/> without building the inline copy. Counts the bytes either way:
    /// call exactly once per initializer, in graph order.
    /// </summary>
    public bool Reserve(long bytes)
    {
        _total += bytes;
        if (_data == null && _total > InlineLimitBytes) GoExternal();
        return _data != null && bytes > 0 && bytes >= ThresholdBytes;
    }

    /// <summary>An initializer <see cref="Reserve"/> kept inline (its raw_data set); moved out later if the limit is passed.</summary>
    public void AddInline(TensorProto tensor)
    {
        if (_data == null) _inline.Add(tensor);
    }

    /// <summary>Appends <paramref name="bytes"/> for <paramref name="tensor"/> (whose raw_data stays empty) and points it there.</summary>
    public void AddExternal(TensorProto tensor, ReadOnlySpan<byte> bytes)
    {
        var data = _data ?? throw new InvalidOperationException("the data file is not in use yet");
        long offset = (data.Position + Alignment - 1) / Alignment * Alignment;
        data.SetLength(offset);
        data.Position = offset;
        data.Write(bytes);
        tensor.ExternalData.Add(Entry("location", Location));
        tensor.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
        tensor.ExternalData.Add(Entry("length", bytes.Length.ToString(CultureInfo.InvariantCulture)));
        tensor.DataLocation = TensorProto.Types.DataLocation.External;
        tensor.RawData = ByteString.Empty;
    }

    /// <summary>Flushes the data file to disk and renames it to <see cref="Location"/> (nothing when the model stayed inline).</summary>
    public void Commit()
    {
        if (_data == null) return;
        _data.Flush(flushToDisk: true);
        _data.Dispose();
        _data = null;
        File.Move(_tempPath, Path.Combine(_folder, Location), overwrite: true);
    }

    public void Dispose()
    {
        if (_data == null) return;
        _data.Dispose();
        _data = null;
        try { File.Delete(_tempPath); }
        catch (IOException) { }   // best effort on a failure path
    }

    private void GoExternal()
    {
        Directory.CreateDirectory(_folder);
        _data = new FileStream(_tempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        foreach (var tensor in _inline)
            if (tensor.RawData.Length > 0 && tensor.RawData.Length >= ThresholdBytes)
                AddExternal(tensor, tensor.RawData.Span);
        _inline.Clear();
    }

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}
