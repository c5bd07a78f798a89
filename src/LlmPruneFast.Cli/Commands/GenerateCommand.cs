using CommandLine;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Pipeline;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune generate</c>: greedy continuation of a prompt.</summary>
[Verb("generate", HelpText = "Greedy continuation of a prompt (argmax at every step, stops at EOS).")]
public sealed class GenerateCommand : ICommand
{
    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder, or a llama2.c .bin.")]
    public string Model { get; set; } = "";

    [Option("tokenizer", HelpText = ModelInputFlags.TokenizerHelp)]
    public string? Tokenizer { get; set; }

    [Option("prompt", Required = true, HelpText = "Prompt text (encoded as the model's tokenizer does: SentencePiece adds BOS and the dummy-prefix space).")]
    public string Prompt { get; set; } = "";

    [Option("steps", Default = 64, HelpText = "Most new tokens to generate.")]
    public int Steps { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        if (Steps < 0) throw new BadArgumentException($"--steps must be non-negative, got {Steps}");
        var device = DeviceOption.Resolve(Device, Devices.DeviceStages.Onnx);
        using var model = RunnableDecoder.Open(Model, new OnnxRunnerOptions { IntraOpThreads = Threads, UseCuda = device.OnnxCuda }, tokenizer: Tokenizer);
        if (Steps > model.MaxLength) Console.Error.WriteLine($"note: --steps {Steps} capped at the model's {model.MaxLength} positions");
        var (_, continuation) = Continue(model, Prompt, Math.Min(Steps, model.MaxLength), cancellationToken);
        Console.WriteLine(continuation);
        return ExitCodes.Ok;
    }

    /// <summary>Greedy ids after the prompt and their text (decoded with the prompt, so leading spaces are right).</summary>
    internal static (int[] Ids, string Text) Continue(RunnableDecoder model, string prompt, int steps, CancellationToken cancellationToken)
    {
        var promptIds = model.Tokenizer.Encode(prompt);
        if (promptIds.Length == 0) promptIds = [model.BosTokenId]; // an empty prompt generates from BOS, as llama2.c and transformers do
        if (promptIds.Length > model.MaxLength)
            throw new BadArgumentException($"--prompt is {promptIds.Length} tokens, more than the model's {model.MaxLength} positions");
        var ids = GreedyGenerator.Generate(model.Runner, promptIds, steps, model.EosTokenId, cancellationToken: cancellationToken);
        var shown = promptIds.Skip(promptIds[0] == model.Tokenizer.BosId ? 1 : 0).ToArray(); // Qwen2's tokenizer adds no BOS
        string before = model.Tokenizer.Decode(shown);
        string all = model.Tokenizer.Decode(shown.Concat(ids));
        return (ids, all.StartsWith(before, StringComparison.Ordinal) ? all[before.Length..] : model.Tokenizer.Decode(ids));
    }
}
