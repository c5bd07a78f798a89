using System.Text.Json;
using System.Text.Json.Nodes;
using LlmPruneFast.Models;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Study;

/// <summary>Where a model's weights come from, as the study reports it.</summary>
public static class Provenance
{
    /// <summary>Weights trained by someone (a released checkpoint), not altered by us.</summary>
    public const string Pretrained = "pretrained";
    /// <summary>Weights we built from another model by a stated construction (e.g. widened by planted copies).</summary>
    public const string Constructed = "constructed";
    /// <summary>Nobody said: the study never guesses "pretrained".</summary>
    public const string Unstated = "unstated";

    /// <summary>"pretrained" or "constructed"; anything else is a <see cref="BadArgumentException"/> naming <paramref name="where"/>.</summary>
    public static string Parse(string value, string where) => value switch
    {
        Pretrained or Constructed => value,
        _ => throw new BadArgumentException($"{where}: provenance '{value}' is not '{Pretrained}' or '{Constructed}'"),
    };
}

/// <summary>
/// What the study says about one model: its name, provenance (pretrained, constructed or unstated), a one-line
/// description of how it was obtained, and its shape (parameters = element count of every tensor its config implies).
/// </summary>
public sealed record StudyModel
{
    public required string Name { get; init; }
    public required string Directory { get; init; }
    /// <summary>A llama2.c .bin's tokenizer file when the caller named one (null: the model's own); not reported.</summary>
    public string? Tokenizer { get; init; }
    public required string Provenance { get; init; }
    public required string Description { get; init; }
    public required long Parameters { get; init; }
    public required int Layers { get; init; }
    public required int Hidden { get; init; }
    /// <summary>FFN neurons per layer: one number when uniform, else "min-max".</summary>
    public required string FfnWidth { get; init; }
    /// <summary>Vocabulary size; 0 when the format does not say (a decoder graph).</summary>
    public required int Vocab { get; init; }
    /// <summary><see cref="StudyFamily.Decoder"/> or <see cref="StudyFamily.Encoder"/>: which measure its rows carry.</summary>
    public string Family { get; init; } = StudyFamily.Decoder;
    /// <summary>How it is stored (<see cref="StudyFormat"/>).</summary>
    public string Format { get; init; } = StudyFormat.Checkpoint;

    /// <summary>The study row fields of a checkpoint folder of shape <paramref name="shape"/>.</summary>
    public static StudyModel Describe(string directory, DecoderShape shape, StudyModelFile info) => new()
    {
        Name = info.Name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory))),
        Directory = Path.GetFullPath(directory),
        Provenance = info.Provenance ?? LlmPruneFast.Study.Provenance.Unstated,
        Description = info.Description ?? "",
        Parameters = shape.Parameters,
        Layers = shape.Layers,
        Hidden = shape.Hidden,
        FfnWidth = Widths(shape.FfnWidths.ToArray()),
        Vocab = shape.Vocab,
    };

    /// <summary>
    /// The study row fields of a foreign ONNX graph (<paramref name="path"/>: its folder or .onnx file): parameters =
    /// elements of its floating-point initializers (as <c>prune</c> counts them), layers = FFN blocks found.
    /// </summary>
    public static StudyModel Describe(string path, Models.OnnxGraph.OnnxGraphModel graph, bool encoder, int vocab, StudyModelFile info) => new()
    {
        Name = info.Name ?? (System.IO.Directory.Exists(path) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path))) : Path.GetFileNameWithoutExtension(path)),
        Directory = Path.GetFullPath(path),
        Provenance = info.Provenance ?? LlmPruneFast.Study.Provenance.Unstated,
        Description = info.Description ?? "",
        Parameters = Models.OnnxGraph.OnnxGraphModel.Parameters(graph.Model),
        Layers = graph.Blocks.Count,
        Hidden = graph.Blocks[0].Hidden,
        FfnWidth = Widths(graph.Blocks.Select(b => b.Width).ToArray()),
        Vocab = vocab,
        Family = encoder ? StudyFamily.Encoder : StudyFamily.Decoder,
        Format = encoder ? StudyFormat.OnnxEncoder : StudyFormat.OnnxDecoder,
    };

    private static string Widths(int[] w)
    {
        return w.Min() == w.Max() ? w[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : $"{w.Min()}-{w.Max()}";
    }
}

/// <summary>
/// The optional <c>study-model.json</c> of a model folder: <c>{"name": ..., "provenance": "pretrained" |
/// "constructed", "description": ...}</c>, every field optional. Written by <c>llmprune widen</c> for the models it
/// constructs; a user adds one to a checkpoint to name it and state where it comes from.
/// </summary>
public sealed record StudyModelFile(string? Name, string? Provenance, string? Description)
{
    public const string FileName = "study-model.json";

    /// <summary>The folder's file, or all fields null when it has none.</summary>
    /// <exception cref="BadModelFileException">The file is not a JSON object of strings or names an unknown provenance.</exception>
    public static StudyModelFile Read(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return new StudyModelFile(null, null, null);
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new BadModelFileException($"{path}: expected a JSON object");
        }
        catch (JsonException e) { throw new BadModelFileException($"{path}: not valid JSON ({e.Message})"); }
        string? Field(string key)
        {
            if (!obj.TryGetPropertyValue(key, out var node) || node == null) return null;
            return node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>()
                : throw new BadModelFileException($"{path}: '{key}' must be a string");
        }
        string? provenance = Field("provenance");
        if (provenance != null && provenance is not (LlmPruneFast.Study.Provenance.Pretrained or LlmPruneFast.Study.Provenance.Constructed))
            throw new BadModelFileException($"{path}: provenance '{provenance}' is not 'pretrained' or 'constructed'");
        return new StudyModelFile(Field("name"), provenance, Field("description"));
    }

    /// <summary>Writes the file into <paramref name="directory"/> (UTF-8, two-space indentation, '\n' line ends).</summary>
    public void Write(string directory)
    {
        var obj = new JsonObject();
        if (Name != null) obj["name"] = Name;
        if (Provenance != null) obj["provenance"] = Provenance;
        if (Description != null) obj["description"] = Description;
        File.WriteAllText(Path.Combine(directory, FileName), obj.ToJsonString(new JsonSerializerOptions { WriteIndented = true, NewLine = "\n" }) + "\n");
    }

    /// <summary>
    /// This file with the caller's provenance applied: <paramref name="stated"/> (from <c>--provenance</c>) fills an
    /// absent field; one that contradicts the file is a <see cref="BadArgumentException"/> (a constructed model is
    /// never relabelled pretrained, nor the reverse).
    /// </summary>
    public StudyModelFile WithStated(string? stated, string directory)
    {
        if (stated == null) return this;
        if (Provenance != null && Provenance != stated)
            throw new BadArgumentException($"--provenance says '{stated}' for '{directory}', but its {FileName} says '{Provenance}'");
        return this with { Provenance = stated };
    }
}
