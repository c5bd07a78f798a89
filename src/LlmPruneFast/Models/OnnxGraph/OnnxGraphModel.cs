using Google.Protobuf;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// A foreign ONNX graph opened for pruning: the model (external data read in), its FFN blocks and rejected
/// candidates, its folder (sidecar files such as tokenizer.model or vocab.txt live there) and how its weights were
/// laid out on disk (so the pruned copy keeps the same layout).
/// </summary>
public sealed class OnnxGraphModel
{
    public const string ModelFileName = "model.onnx";

    /// <summary>Absolute path of the .onnx file.</summary>
    public required string Path { get; init; }
    /// <summary>Folder holding it.</summary>
    public required string Folder { get; init; }
    public required ModelProto Model { get; init; }
    public required GraphIndex Index { get; init; }
    public required FfnSearch Search { get; init; }
    /// <summary>External data files the source uses (relative to <see cref="Folder"/>), in first-use order; empty when self-contained.</summary>
    public required IReadOnlyList<string> ExternalFiles { get; init; }
    /// <summary>Smallest external tensor in bytes (the threshold the writer reuses), when any.</summary>
    public long? ExternalThreshold { get; init; }

    public IReadOnlyList<OnnxFfnBlock> Blocks => Search.Blocks;

    /// <summary>Token positions the graph holds (its smallest position table) and the node reading it; null when unknown.</summary>
    public (int Positions, string Node)? PositionLimit { get; init; }

    /// <summary><paramref name="tokens"/> capped at <see cref="PositionLimit"/>: longer sequences make the graph fail.</summary>
    public int CapLength(int tokens) => PositionLimit is { } limit ? Math.Min(tokens, limit.Positions) : tokens;

    /// <summary>Graph inputs that are not initializers (what a caller must feed).</summary>
    public IReadOnlyList<ValueInfoProto> Inputs => Model.Graph.Input.Where(i => Index.Initializer(i.Name) == null).ToArray();

    public IReadOnlyList<ValueInfoProto> Outputs => Model.Graph.Output;

    /// <summary>
    /// True when <paramref name="path"/> names an ONNX graph for the generic path: a .onnx file, or a folder with a
    /// model.onnx and no config.json (a folder with config.json is a Hugging Face checkpoint).
    /// </summary>
    public static bool IsGraphPath(string path)
    {
        if (File.Exists(path)) return path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);
        return Directory.Exists(path) && File.Exists(System.IO.Path.Combine(path, ModelFileName)) && !File.Exists(System.IO.Path.Combine(path, "config.json"));
    }

    /// <summary>
    /// Opens a .onnx file or a folder holding model.onnx, with its external data, and finds its FFN blocks (none
    /// found is not an error here: see <see cref="RequirePrunable"/>).
    /// </summary>
    /// <exception cref="MissingInputException">No such file, or a folder without model.onnx.</exception>
    /// <exception cref="BadModelFileException">Not a ModelProto, or external data missing or out of range.</exception>
    public static OnnxGraphModel Open(string path)
    {
        string file = Directory.Exists(path) ? System.IO.Path.Combine(path, ModelFileName) : path;
        if (Directory.Exists(path) && !File.Exists(file))
            throw new MissingInputException($"model folder '{path}' holds no {ModelFileName}");
        if (!File.Exists(file)) throw new MissingInputException($"ONNX model '{path}' does not exist");
        file = System.IO.Path.GetFullPath(file);
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(file);
            model = ModelProto.Parser.ParseFrom(new CodedInputStream(stream));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new BadModelFileException($"ONNX model '{file}': not a valid ModelProto ({ex.Message})", ex);
        }
        if (model.Graph == null) throw new BadModelFileException($"ONNX model '{file}': no graph");
        var external = model.Graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External).ToArray();
        var files = external.Select(t => t.ExternalData.FirstOrDefault(e => e.Key == "location")?.Value ?? "").Where(l => l.Length > 0).Distinct().ToArray();
        long? threshold = external.Length == 0 ? null : external.Min(t => t.Dims.Aggregate(1L, (a, b) => a * b) * Math.Max(1, OnnxModelFile.ElementSize(t.DataType)));
        OnnxModelFile.ResolveExternalData(model, file);
        var index = new GraphIndex(model.Graph);
        return new OnnxGraphModel
        {
            Path = file,
            Folder = System.IO.Path.GetDirectoryName(file)!,
            Model = model,
            Index = index,
            Search = FfnBlockFinder.Find(index),
            PositionLimit = PositionTables.Limit(index),
            ExternalFiles = files,
            ExternalThreshold = threshold,
        };
    }

    /// <summary>
    /// Refuses a graph that cannot be pruned: no FFN block found, or a candidate rejected as fatal (ambiguous match,
    /// width used outside its block, shared weight); the message names the node.
    /// </summary>
    /// <exception cref="UnsupportedArchitectureException">Naming the node and the reason.</exception>
    public void RequirePrunable()
    {
        if (Search.Rejected.FirstOrDefault(r => r.Fatal) is { } fatal)
            throw new UnsupportedArchitectureException($"ONNX model '{Path}': node {fatal.Node}: {fatal.Reason}");
        if (Blocks.Count == 0)
        {
            string why = Search.Rejected.Count > 0 ? $"; e.g. node {Search.Rejected[0].Node}: {Search.Rejected[0].Reason}" : "";
            throw new UnsupportedArchitectureException($"ONNX model '{Path}': no FFN block found (a MatMul/Gemm to width f > d, an activation, a MatMul back to d){why}");
        }
    }

    /// <summary>Elements of every floating-point initializer: the model's parameters.</summary>
    public static long Parameters(ModelProto model) => model.Graph.Initializer
        .Where(t => (TensorProto.Types.DataType)t.DataType is TensorProto.Types.DataType.Float or TensorProto.Types.DataType.Float16
            or TensorProto.Types.DataType.Bfloat16 or TensorProto.Types.DataType.Double)
        .Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b));
}
