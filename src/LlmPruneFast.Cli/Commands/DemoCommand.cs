using System.Text.Json;
using CommandLine;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune demo</c>: the main job on one model (for now: dense evaluation and generation).</summary>
[Verb("demo", HelpText = "Evaluate a model on the first 40 paragraphs of a text (reference protocol), generate from the reference prompt, print a summary.")]
public sealed class DemoCommand : ICommand
{
    public const string ReferencePrompt = "Once upon a time, there was a dog named";

    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder.")]
    public string Model { get; set; } = "";

    [Option("text", Required = true, HelpText = "Evaluation text (blank-line-separated paragraphs).")]
    public string Text { get; set; } = "";

    [Option("work", Required = true, HelpText = "Folder for the demo's outputs (model.onnx, dense.json).")]
    public string Work { get; set; } = "";

    [Option("paragraphs", Default = 40, HelpText = "Paragraphs evaluated.")]
    public int Paragraphs { get; set; }

    [Option("steps", Default = 48, HelpText = "Tokens generated from the reference prompt.")]
    public int Steps { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        string text = TextCorpus.Read(Text);
        string work = Path.GetFullPath(Work);
        Directory.CreateDirectory(work);
        using var model = LlamaOnnxModel.Open(Model, saveOnnxTo: work);
        var c = model.Config;
        Console.WriteLine($"model      {model.Directory}");
        Console.WriteLine($"           {c.NumHiddenLayers} layers, hidden {c.HiddenSize}, FFN {string.Join("/", Enumerable.Range(0, c.NumHiddenLayers).Select(c.FfnWidth).Distinct())}, " +
                          $"{c.NumAttentionHeads} heads ({c.NumKeyValueHeads} KV), vocab {c.VocabSize}, {c.MaxPositionEmbeddings} positions");
        Console.WriteLine($"onnx       {Path.Combine(work, "model.onnx")} ({string.Join("+", model.Runner.Providers)})");

        var progress = new ConsoleProgress();
        var paragraphs = TextCorpus.Paragraphs(text, Paragraphs);
        var ppl = new Perplexity(model.Runner).Paragraphs(model.Tokenizer, paragraphs, model.MaxLength, progress, cancellationToken);
        progress.Done();
        Console.WriteLine($"dense      mean NLL {ppl.MeanNll:F6} nats, perplexity {ppl.Perplexity:F4} on {ppl.Tokens} tokens of {ppl.Sequences} paragraphs ({ppl.Seconds:F2} s)");

        var (ids, continuation) = GenerateCommand.Continue(model, ReferencePrompt, Steps, cancellationToken);
        Console.WriteLine($"generate   \"{ReferencePrompt}\" ->{continuation.ReplaceLineEndings(" / ")}");

        var summary = new Dictionary<string, object>
        {
            ["model"] = model.Directory,
            ["text"] = Path.GetFullPath(Text),
            ["protocol"] = ppl.Protocol,
            ["dense"] = new Dictionary<string, object> { ["mean_nll"] = ppl.MeanNll, ["perplexity"] = ppl.Perplexity, ["tokens"] = ppl.Tokens, ["paragraphs"] = ppl.Sequences },
            ["prompt"] = ReferencePrompt,
            ["greedy_ids"] = ids,
            ["greedy_text"] = continuation,
        };
        string summaryPath = Path.Combine(work, "dense.json");
        File.WriteAllText(summaryPath + ".tmp", JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        File.Move(summaryPath + ".tmp", summaryPath, overwrite: true);
        Console.WriteLine($"summary    {summaryPath}");
        return ExitCodes.Ok;
    }
}
