using System.Buffers.Binary;
using System.Text.Json;

namespace LlmPruneFast.Models;

/// <summary>One tensor entry of a safetensors header: offsets are relative to the start of the data section.</summary>
public sealed record SafeTensorsEntry(string Name, string DTypeName, TensorDType? DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
}

/// <summary>
/// The parsed and validated header of a safetensors file.
/// </summary>
/// <remarks>
/// File layout: 8-byte little-endian unsigned header length N, N bytes of UTF-8 JSON
/// <c>{"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {string: string}}</c>,
/// then the data section. Validation: 0 &lt; N &lt;= <see cref="MaxHeaderBytes"/> and 8 + N &lt;= file length; JSON valid
/// (valid UTF-8) with no duplicate keys at any level; every dtype known; data_offsets two integers with
/// 0 &lt;= begin &lt;= end; element size x product(shape) = end - begin; and, as the reference reader requires, the
/// tensors tile the data section exactly: sorted by offset, each starts where the previous ended, the first at 0,
/// the last ending at the end of the file (no gap, no overlap, no trailing bytes).
/// </remarks>
public sealed class SafeTensorsHeader
{
    /// <summary>Largest header accepted (the reference implementation's limit is also 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private static readonly Dictionary<string, int> ElementSizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    /// <summary>Entries in header order.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Absolute file offset of the data section: 8 + header length.</summary>
    public long DataStart { get; }

    private SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata, long dataStart)
    {
        Entries = entries;
        Metadata = metadata;
        DataStart = dataStart;
    }

    /// <summary>Reads the 8-byte length prefix; throws <see cref="BadModelFileException"/> unless it fits <paramref name="fileLength"/>.</summary>
    public static long ReadHeaderLength(ReadOnlySpan<byte> prefix, long fileLength, string file)
    {
        if (fileLength < 8)
            throw new BadModelFileException($"safetensors file '{file}' is truncated: expected at least 8 bytes, found {fileLength}");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (n == 0 || n > MaxHeaderBytes)
            throw new BadModelFileException($"safetensors file '{file}' has an invalid header length: expected 1..{MaxHeaderBytes} bytes, found {n}");
        if (8 + (long)n > fileLength)
            throw new BadModelFileException($"safetensors file '{file}' is truncated: the header needs {8 + (long)n} bytes, found {fileLength}");
        return (long)n;
    }

    /// <summary>Parses and validates the JSON header of a file of <paramref name="fileLength"/> bytes.</summary>
    public static SafeTensorsHeader Parse(ReadOnlySpan<byte> json, long fileLength, string file)
    {
        long dataStart = 8 + json.Length;
        long dataLength = fileLength - dataStart;
        if (!System.Text.Unicode.Utf8.IsValid(json))
            throw new BadModelFileException($"safetensors file '{file}' has a header that is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { AllowDuplicateProperties = false, MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw new BadModelFileException($"safetensors file '{file}' has a header that is not valid JSON: {ex.Message}", ex);
        }
        using (doc)
        {
            try { return FromDocument(doc, dataStart, dataLength, file); }
            catch (InvalidOperationException ex) // a name or dtype JSON cannot decode (a lone "\ud800" escape)
            {
                throw new BadModelFileException($"safetensors file '{file}' has a header string that is not valid text: {ex.Message}", ex);
            }
        }
    }

    private static SafeTensorsHeader FromDocument(JsonDocument doc, long dataStart, long dataLength, string file)
    {
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new BadModelFileException($"safetensors file '{file}': header must be a JSON object, found {doc.RootElement.ValueKind}");
            var entries = new List<SafeTensorsEntry>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name))
                    throw new BadModelFileException($"safetensors file '{file}': tensor '{property.Name}' appears twice in the header");
                if (property.Name == "__metadata__")
                {
                    ReadMetadata(property.Value, metadata, file);
                    continue;
                }
                entries.Add(ParseEntry(property.Name, property.Value, dataLength, file));
            }
            CheckTiling(entries, dataLength, file);
            return new SafeTensorsHeader(entries, metadata, dataStart);
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string file)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new BadModelFileException($"safetensors file '{file}': __metadata__ must be an object of strings, found {value.ValueKind}");
        foreach (var m in value.EnumerateObject())
        {
            if (m.Value.ValueKind != JsonValueKind.String)
                throw new BadModelFileException($"safetensors file '{file}': __metadata__ '{m.Name}' must be a string, found {m.Value.ValueKind}");
            metadata[m.Name] = m.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ParseEntry(string name, JsonElement e, long dataLength, string file)
    {
        string Where() => $"safetensors file '{file}', tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object)
            throw new BadModelFileException($"{Where()}: entry must be an object, found {e.ValueKind}");
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new BadModelFileException($"{Where()}: missing string 'dtype'");
        string dtypeName = dtypeElement.GetString()!;
        if (!ElementSizes.TryGetValue(dtypeName, out int elementSize))
            throw new BadModelFileException($"{Where()}: unknown dtype '{dtypeName}' (expected one of {string.Join(", ", ElementSizes.Keys)})");
        TensorDType? dtype = dtypeName switch { "F32" => TensorDType.F32, "F16" => TensorDType.F16, "BF16" => TensorDType.BF16, _ => null };

        if (!e.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new BadModelFileException($"{Where()}: missing array 'shape'");
        var shape = new long[shapeElement.GetArrayLength()];
        int d = 0;
        foreach (var s in shapeElement.EnumerateArray())
        {
            if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt64(out long dim) || dim < 0)
                throw new BadModelFileException($"{Where()}: shape entries must be non-negative integers, found {s.GetRawText()}");
            shape[d++] = dim;
        }

        if (!e.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new BadModelFileException($"{Where()}: 'data_offsets' must be [begin, end]");
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number ||
            !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end))
            throw new BadModelFileException($"{Where()}: 'data_offsets' must be integers, found {offsets.GetRawText()}");
        if (begin < 0 || end < begin || end > dataLength)
            throw new BadModelFileException($"{Where()}: data_offsets [{begin}, {end}) out of range: the data section has {dataLength} bytes" +
                (end > dataLength ? " (is the file truncated?)" : ""));

        long expected;
        try
        {
            expected = checked(shape.Aggregate((long)elementSize, (a, b) => a * b));
        }
        catch (OverflowException)
        {
            throw new BadModelFileException($"{Where()}: shape [{string.Join(", ", shape)}] is too large");
        }
        if (expected != end - begin)
            throw new BadModelFileException($"{Where()}: dtype {dtypeName} x shape [{string.Join(", ", shape)}] needs {expected} bytes, data_offsets span {end - begin}");
        return new SafeTensorsEntry(name, dtypeName, dtype, shape, begin, end);
    }

    /// <summary>The tensors must cover [0, dataLength) exactly once, in offset order (zero-byte tensors anywhere on the way).</summary>
    private static void CheckTiling(List<SafeTensorsEntry> entries, long dataLength, string file)
    {
        var sorted = entries.OrderBy(x => x.Begin).ThenBy(x => x.End).ToArray();
        long cursor = 0;
        SafeTensorsEntry? previous = null;
        foreach (var e in sorted)
        {
            if (e.Begin < cursor)
                throw new BadModelFileException($"safetensors file '{file}': tensor '{e.Name}' bytes [{e.Begin}, {e.End}) " +
                    $"overlap tensor '{previous!.Name}' bytes [{previous.Begin}, {previous.End})");
            if (e.Begin > cursor)
                throw new BadModelFileException($"safetensors file '{file}': {e.Begin - cursor} bytes [{cursor}, {e.Begin}) of the data section belong to no tensor " +
                    $"(before tensor '{e.Name}'); is the header length or an offset wrong?");
            cursor = e.End;
            previous = e;
        }
        if (cursor != dataLength)
            throw new BadModelFileException($"safetensors file '{file}': the tensors end at data byte {cursor}, the data section has {dataLength} bytes " +
                "(a wrong header length, or trailing data)");
    }
}
