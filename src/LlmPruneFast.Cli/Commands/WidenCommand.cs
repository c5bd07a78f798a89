using System.Globalization;
using CommandLine;
using CommandLine.Text;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Pruning;
using LlmPruneFast.Study;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune widen</c>: a constructed model with the same function and wider FFNs (<see cref="FfnWidener"/>:
/// planted copies of existing neurons), written as a checkpoint folder whose study-model.json says it is constructed
/// and exactly how.
/// </summary>
[Verb("widen", HelpText = "Construct a wider model with the same function: append to every FFN layer --copies copies of distinct neurons " +
    "(up row scaled by --scale c, down column split w/2 + w/(2c)); writes a checkpoint folder with study-model.json (provenance: constructed).")]
public sealed class WidenCommand : ICommand
{
    [Option("model", Required = true, HelpText = "Source Hugging Face LLaMA checkpoint folder.")]
    public string Model { get; set; } = "";

    [Option("copies", Required = true, HelpText = "Copies per layer, 1..FFN width (the width doubles when equal to it).")]
    public int Copies { get; set; }

    [Option("scale", Default = 2.0, HelpText = "c: a copy's up row is c times the original's (a power of two keeps every weight exact in float32).")]
    public double Scale { get; set; }

    [Option("seed", Default = 0L, HelpText = "Seed of the choice of copied neurons (unused when copies = width: all are copied, in order).")]
    public long Seed { get; set; }

    [Option("name", HelpText = "Model name recorded in study-model.json (default: the output folder's name).")]
    public string? Name { get; set; }

    [Option("out", Required = true, HelpText = "Output folder (new or empty; appears only when complete).")]
    public string Out { get; set; } = "";

    [Option("dtype", HelpText = CheckpointOutputFlags.DTypeHelp)]
    public string? DType { get; set; }

    [Option("max-shard-mb", HelpText = CheckpointOutputFlags.MaxShardHelp)]
    public double? MaxShardMb { get; set; }

    [Usage(ApplicationAlias = "llmprune")]
    public static IEnumerable<Example> Examples =>
    [
        new("Double every FFN of stories260K with exact copies", HelpExamples.Plain, new WidenCommand { Model = "models/stories260K", Copies = 172, Out = "models/stories260K-x2" }),
    ];

    public int Run(CancellationToken cancellationToken)
    {
        var output = CheckpointOutputFlags.Options(DType, MaxShardMb);
        AtomicOutputFolder.CheckOutput(Out, [Model]);
        // A LLaMA-family verb (it rewrites the checkpoint's own tensors): it calls the LLaMA adapter (Models/Llama) directly.
        using var source = LlamaCheckpoint.Open(Model);
        var wide = FfnWidener.Widen(source.Config, source.Tensors, Copies, Scale, Seed);
        var sourceInfo = StudyModelFile.Read(source.Directory);
        string sourceName = sourceInfo.Name ?? Path.GetFileName(source.Directory);
        int width = source.Config.FfnWidth(0);
        bool uniform = Enumerable.Range(0, source.Config.NumHiddenLayers).All(l => source.Config.FfnWidth(l) == width);
        string c = Scale.ToString("R", CultureInfo.InvariantCulture);
        string description = $"constructed from {sourceName} ({sourceInfo.Provenance ?? Provenance.Unstated}) by FfnWidener: {Copies} copies per FFN layer " +
            (Copies == width && uniform ? "(every neuron, in order)" : $"of distinct neurons chosen with seed {Seed}") +
            $", copy = gate row g_j, up row {c} u_j, down column w_j/(2*{c}); original's down column w_j/2; same function up to float32 summation order; " +
            $"FFN width {(uniform ? width.ToString(CultureInfo.InvariantCulture) : "per layer")} -> {wide.Config.FfnWidth(0)}{(uniform ? "" : " (layer 0)")}; not trained";
        var info = new StudyModelFile(Name ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(Out))), Provenance.Constructed, description);

        using var folder = AtomicOutputFolder.Create(Out, [source.Directory]);
        LlamaCheckpointWriter.Write(folder.TempPath, wide.Config, wide.Tensors, source.TokenizerPath,
            LlamaCheckpointWriteOptions.CarryFrom(source) with
            {
                // Widened tensors keep their names, so each is stored as the input stored it (copies scale by powers of two).
                StoreAs = output.DType is TensorDType dtype ? _ => dtype
                    : info => source.Tensors.Contains(info.Name) ? source.Tensors.GetInfo(info.Name).DType : TensorDType.F32,
                MaxShardBytes = output.MaxShardBytes,
                Sharded = source.Tensors is SafeTensorsSharded,
            }, cancellationToken);
        info.Write(folder.TempPath);
        var names = Directory.GetFiles(folder.TempPath).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        folder.Commit();

        Console.WriteLine($"widened   {source.Directory} -> {folder.FinalPath}");
        Console.WriteLine($"          {Copies} copies per layer, c = {c}; parameters {PrunedModel.Parameters(source.Config):N0} -> {PrunedModel.Parameters(wide.Config):N0}");
        Console.WriteLine($"          {description}");
        WrittenFilesPrinter.Print(Console.Out, folder.FinalPath, names.Select(n => Path.Combine(folder.FinalPath, n!)));
        return ExitCodes.Ok;
    }
}
