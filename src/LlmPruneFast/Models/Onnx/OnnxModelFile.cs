using System.Globalization;
using Google.Protobuf;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.Onnx;

/// <summary>Options for <see cref="OnnxModelFile.Save"/>.</summary>
public sealed record OnnxSaveOptions
{
    /// <summary>
    /// Name (relative to the model's folder) of the one external data file, or null to keep every initializer
    /// inside the .onnx file. Forced to "{model file name}.data" when the model would exceed the 2 GB protobuf limit.
    /// </summary>
    public string? ExternalDataFile { get; init; }

    /// <summary>Initializers with at least this many bytes of data go to the external file (when there is one).</summary>
    public long ExternalThresholdBytes { get; init; } = 1024;
}

/// <summary>
/// Reads and writes ONNX <see cref="ModelProto"/> files, with the spec's external data: a tensor whose
/// <c>data_location</c> is EXTERNAL keeps its bytes in a file named by <c>external_data</c> entries
/// <c>location</c> (relative to the model's folder), <c>offset</c> and <c>length</c> (bytes, decimal).
/// </summary>
public static class OnnxModelFile
{
    /// <summary>Largest protobuf message (2 GiB - 1); a model file bigger than that must use external data.</summary>
    public const long ProtobufLimitBytes = int.MaxValue;

    /// <summary>
    /// Exact serialized size of <paramref name="model"/> in bytes, as a long. Protobuf's CalculateSize returns an int,
    /// which wraps past 2 GB (a 1.1B-parameter graph reads as a small or negative size), so the initializers are
    /// summed one by one here (each is under 2 GB: a ByteString cannot be larger).
    /// </summary>
    public static long SerializedSize(ModelProto model)
    {
        if (model.Graph == null) return model.CalculateSize();
        var bare = model.Graph.Clone();   // ByteStrings are shared, so the clone copies no tensor data
        bare.Initializer.Clear();
        long graph = bare.CalculateSize();
        foreach (var tensor in model.Graph.Initializer)
        {
            int size = tensor.CalculateSize();
            graph += 1 + CodedOutputStream.ComputeLengthSize(size) + size;   // field 5 tag, length, message
        }
        var outer = model.Clone();
        outer.Graph = null;
        return outer.CalculateSize() + 1 + CodedOutputStream.ComputeUInt64Size((ulong)graph) + graph;   // field 7 tag, length, graph
    }

    /// <summary>External data blocks start at multiples of this, so ONNX Runtime can memory-map them.</summary>
    private const int Alignment = 4096;

    /// <summary>
    /// Parses <paramref name="path"/>; every EXTERNAL tensor is read into <c>raw_data</c> (so the returned model is
    /// self-contained). Throws <see cref="MissingInputException"/> when the file is absent and
    /// <see cref="BadModelFileException"/> when it does not parse or an external reference is invalid.
    /// </summary>
    public static ModelProto Load(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"ONNX model '{path}' does not exist");
        using var stream = File.OpenRead(path);
        return Load(stream, path);
    }

    /// <summary>As <see cref="Load(string)"/>, parsing <paramref name="stream"/>; external data is resolved beside <paramref name="path"/>.</summary>
    public static ModelProto Load(Stream stream, string path)
    {
        ModelProto model;
        try
        {
            var input = new CodedInputStream(stream, leaveOpen: true);
            model = ModelProto.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new BadModelFileException($"ONNX model '{path}': not a valid ModelProto ({ex.Message})", ex);
        }
        if (model.Graph == null) throw new BadModelFileException($"ONNX model '{path}': no graph");
        ResolveExternalData(model, path);
        return model;
    }

    /// <summary>
    /// Reads every EXTERNAL initializer of <paramref name="model"/> (loaded from <paramref name="path"/> without
    /// resolving, e.g. to see its external-data layout first) into its raw_data.
    /// </summary>
    public static void ResolveExternalData(ModelProto model, string path)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var tensor in model.Graph.Initializer)
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
                ResolveExternal(tensor, folder, path);
    }

    /// <summary>
    /// Writes <paramref name="model"/> to <paramref name="path"/> (through a temporary name, then renamed). With
    /// <see cref="OnnxSaveOptions.ExternalDataFile"/>, initializers of at least the threshold size are written to that
    /// one file, 4096-byte aligned, and referenced from the model; the passed model itself is not modified.
    /// </summary>
    public static void Save(ModelProto model, string path, OnnxSaveOptions? options = null)
    {
        options ??= new OnnxSaveOptions();
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(folder);
        string? external = options.ExternalDataFile;
        if (external == null && SerializedSize(model) >= ProtobufLimitBytes - (1 << 20))
            external = Path.GetFileName(full) + ".data";
        if (external != null) ValidateLocation(external, path);

        var toWrite = model;
        string? tmpData = null;
        if (external != null)
        {
            toWrite = model.Clone(); // ByteStrings are immutable and shared, so this copies no tensor data
            tmpData = Path.Combine(folder, external + ".tmp");
            using (var data = new FileStream(tmpData, FileMode.Create, FileAccess.Write))
            {
                foreach (var tensor in toWrite.Graph.Initializer)
                {
                    if (tensor.RawData.Length == 0 || tensor.RawData.Length < options.ExternalThresholdBytes) continue;
                    long offset = (data.Position + Alignment - 1) / Alignment * Alignment;
                    data.SetLength(offset);
                    data.Position = offset;
                    data.Write(tensor.RawData.Span);
                    tensor.ExternalData.Add(Entry("location", external));
                    tensor.ExternalData.Add(Entry("offset", offset.ToString(CultureInfo.InvariantCulture)));
                    tensor.ExternalData.Add(Entry("length", tensor.RawData.Length.ToString(CultureInfo.InvariantCulture)));
                    tensor.DataLocation = TensorProto.Types.DataLocation.External;
                    tensor.RawData = ByteString.Empty;
                }
            }
        }
        if (SerializedSize(toWrite) >= ProtobufLimitBytes)
            throw new BadModelFileException($"ONNX model '{path}': {SerializedSize(toWrite)} bytes exceed the 2 GB protobuf limit even with external data");
        string tmpModel = full + ".tmp";
        using (var stream = new FileStream(tmpModel, FileMode.Create, FileAccess.Write))
            toWrite.WriteTo(stream);
        if (tmpData != null) File.Move(tmpData, Path.Combine(folder, external!), overwrite: true);
        File.Move(tmpModel, full, overwrite: true);
    }

    /// <summary>Bytes per element of an ONNX tensor data type, or 0 when variable (strings) or unknown.</summary>
    public static int ElementSize(int dataType) => (TensorProto.Types.DataType)dataType switch
    {
        TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Int32 or TensorProto.Types.DataType.Uint32 => 4,
        TensorProto.Types.DataType.Uint8 or TensorProto.Types.DataType.Int8 or TensorProto.Types.DataType.Bool => 1,
        TensorProto.Types.DataType.Uint16 or TensorProto.Types.DataType.Int16 or TensorProto.Types.DataType.Float16
            or TensorProto.Types.DataType.Bfloat16 => 2,
        TensorProto.Types.DataType.Int64 or TensorProto.Types.DataType.Uint64 or TensorProto.Types.DataType.Double
            or TensorProto.Types.DataType.Complex64 => 8,
        TensorProto.Types.DataType.Complex128 => 16,
        _ => 0,
    };

    /// <summary>Reads the external bytes of <paramref name="tensor"/> into its raw_data, validating the reference.</summary>
    private static void ResolveExternal(TensorProto tensor, string folder, string modelPath)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var e in tensor.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offset = ParseNonNegative(e.Value, "offset", tensor, modelPath); break;
                case "length": length = ParseNonNegative(e.Value, "length", tensor, modelPath); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}' is EXTERNAL but has no location");
        ValidateLocation(location, modelPath, tensor.Name);
        string file = Path.GetFullPath(Path.Combine(folder, location));
        if (!File.Exists(file))
            throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}': external data file '{file}' does not exist");
        long fileLength = new FileInfo(file).Length;
        long count = tensor.Dims.Aggregate(1L, (a, b) => a * b);
        int elementSize = ElementSize(tensor.DataType);
        long expected = elementSize > 0 ? count * elementSize : -1;
        if (length < 0) length = expected >= 0 ? expected : fileLength - offset;
        if (expected >= 0 && length != expected)
            throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}': external length {length} bytes, expected {expected} for shape [{string.Join(", ", tensor.Dims)}]");
        if (offset > fileLength || length > fileLength - offset)
            throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}': external range [{offset}, {offset + length}) is beyond the end of '{location}' ({fileLength} bytes)");
        if (length > int.MaxValue)
            throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}': {length} bytes is too large for one tensor");
        var bytes = new byte[length];
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            stream.Position = offset;
            stream.ReadExactly(bytes);
        }
        tensor.RawData = UnsafeByteOperations.UnsafeWrap(bytes);
        tensor.ExternalData.Clear();
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
    }

    /// <summary>External locations must be relative paths that stay inside the model's folder.</summary>
    private static void ValidateLocation(string location, string modelPath, string? tensor = null)
    {
        string who = tensor == null ? "" : $"tensor '{tensor}': ";
        if (location.IndexOfAny(['\0', .. Path.GetInvalidPathChars()]) >= 0)
            throw new BadModelFileException($"ONNX model '{modelPath}': {who}external location holds a character no path may hold");
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Any(p => p == ".."))
            throw new BadModelFileException($"ONNX model '{modelPath}': {who}external location '{location}' must be a relative path inside the model's folder");
    }

    private static long ParseNonNegative(string text, string key, TensorProto tensor, string modelPath) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v)
            ? v
            : throw new BadModelFileException($"ONNX model '{modelPath}': tensor '{tensor.Name}': external {key} '{text}' is not a non-negative integer");

    private static StringStringEntryProto Entry(string key, string value) => new() { Key = key, Value = value };
}
