using System.Text.Json;

namespace LlmPruneFast.Reports;

/// <summary>
/// Reads and writes <see cref="PruneReport"/> as JSON: UTF-8, snake_case names in declaration order, two-space
/// indentation, '\n' line ends, shortest round-trip numbers, absent (null) fields left out. The same report gives
/// the same bytes; reading and writing again gives the same bytes.
/// </summary>
public static class ReportJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        NewLine = "\n",
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The report as UTF-8 JSON bytes ending in '\n'; <see cref="BadDataException"/> on a non-finite number.</summary>
    public static byte[] Serialize(PruneReport report)
    {
        byte[] body;
        try { body = JsonSerializer.SerializeToUtf8Bytes(report, Options); }
        catch (ArgumentException e) { throw new BadDataException($"report '{report.Title}': {e.Message}"); }
        var bytes = new byte[body.Length + 1];
        body.CopyTo(bytes, 0);
        bytes[^1] = (byte)'\n';
        return bytes;
    }

    /// <summary>Parses report JSON; <see cref="BadModelFileException"/> naming <paramref name="source"/> when it is not one.</summary>
    public static PruneReport Parse(ReadOnlySpan<byte> utf8, string source = "report")
    {
        PruneReport? report;
        try { report = JsonSerializer.Deserialize<PruneReport>(utf8, Options); }
        catch (JsonException e) { throw new BadModelFileException($"{source}: not a valid report ({e.Message})"); }
        if (report == null) throw new BadModelFileException($"{source}: empty report");
        if (report.Version != PruneReport.CurrentVersion)
            throw new BadModelFileException($"{source}: report version {report.Version} is not supported (expected {PruneReport.CurrentVersion})");
        return report;
    }

    /// <summary>Reads a report file; <see cref="MissingInputException"/> when it does not exist.</summary>
    public static PruneReport Load(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"report data file '{path}' does not exist");
        return Parse(File.ReadAllBytes(path), path);
    }
}
