using System.Text.Json;
using CommandLine;
using LlmPruneFast.Devices;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune eval</c>: perplexity of a checkpoint folder on a text file, in ONNX Runtime.</summary>
[Verb("eval", HelpText = "Decoder: perplexity on a text file, reference paragraph protocol (--paragraphs N) or sliding windows (--window W --stride T). " +
    "Encoder (model.onnx + vocab.txt): STS Spearman on a labelled pair file (--sts), embedding statistics of a text (--text), latency (--latency).")]
public sealed class EvalCommand : ICommand
{
    [Option("model", Required = true, HelpText = "Hugging Face LLaMA checkpoint folder (config.json, safetensors, tokenizer.model or tokenizer.json), or an encoder folder (model.onnx + vocab.txt).")]
    public string Model { get; set; } = "";

    [Option("text", HelpText = "UTF-8 text file to evaluate on (required for decoders; for encoders one sentence per non-empty line).")]
    public string? Text { get; set; }

    [Option("paragraphs", HelpText = "Reference protocol: the first N blank-line-separated paragraphs, each with BOS, every next token scored.")]
    public int? Paragraphs { get; set; }

    [Option("window", HelpText = "Window protocol: the whole text encoded once, windows of W tokens.")]
    public int? Window { get; set; }

    [Option("stride", HelpText = "Window protocol: a window starts every T tokens (default W); with T < W only new tokens are scored.")]
    public int? Stride { get; set; }

    [Option("batch", HelpText = "Sequences per ONNX Runtime run (default 8 for decoders, 32 for encoders).")]
    public int? Batch { get; set; }

    [Option("sts", HelpText = "Encoders: STS Benchmark pair file (GLUE STS-B tsv or SentEval csv); reports Spearman x 100 of cosine vs gold.")]
    public string? Sts { get; set; }

    [Option("pooling", HelpText = "Encoders: mean or cls (default: the folder's sentence-transformers pooling config, else mean).")]
    public Pooling? Pooling { get; set; }

    [Option("latency", HelpText = "Encoders: also time forward passes of 32 x 128 tokens (median of 10).")]
    public bool Latency { get; set; }

    [Option("threads", Default = 0, HelpText = "ONNX Runtime intra-op threads (0 = one per processor).")]
    public int Threads { get; set; }

    [Option("device", HelpText = DeviceOption.Help)]
    public string? Device { get; set; }

    [Option("json", HelpText = "End the output with one JSON object (mean_nll, perplexity, tokens, ...).")]
    public bool Json { get; set; }

    /// <summary>--device, resolved at the start of <see cref="Run"/>.</summary>
    internal ComputeDevice Resolved { get; private set; } = ComputeDevice.Cpu;

    public int Run(CancellationToken cancellationToken)
    {
        Threads = ThreadCount.Cap(Threads);
        Resolved = DeviceOption.Resolve(Device, DeviceStages.Onnx);
        if (EncoderEval.IsEncoderModel(Model)) return EncoderEval.Run(this, cancellationToken);
        if (Pooling != null || Sts != null || Latency)
            throw new BadArgumentException($"--pooling, --sts and --latency apply to encoders (model.onnx + vocab.txt); '{Model}' is a decoder");
        if (string.IsNullOrEmpty(Text)) throw new BadArgumentException("--text FILE is required for a decoder");
        if (Paragraphs.HasValue == Window.HasValue)
            throw new BadArgumentException("give exactly one of --paragraphs N or --window W [--stride T]");
        if (Stride.HasValue && !Window.HasValue) throw new BadArgumentException("--stride needs --window");
        string text = TextCorpus.Read(Text);
        using var model = LlamaOnnxModel.Open(Model, runner: new OnnxRunnerOptions { IntraOpThreads = Threads, UseCuda = Resolved.OnnxCuda });
        var ppl = new Perplexity(model.Runner, Batch ?? 8);
        var progress = new ConsoleProgress();
        PerplexityResult result;
        if (Paragraphs is int n)
        {
            var paragraphs = TextCorpus.Paragraphs(text, n);
            if (paragraphs.Count < n) Console.Error.WriteLine($"note: '{Text}' holds only {paragraphs.Count} paragraphs");
            result = ppl.Paragraphs(model.Tokenizer, paragraphs, model.MaxLength, progress, cancellationToken);
        }
        else
        {
            int window = Window!.Value;
            if (window > model.MaxLength) throw new BadArgumentException($"--window {window} exceeds the model's max_position_embeddings {model.MaxLength}");
            result = ppl.Windows(model.Tokenizer, text, window, Stride ?? window, progress, cancellationToken);
        }
        progress.Done();
        if (!double.IsFinite(result.MeanNll)) throw new BadDataException($"model '{model.Directory}' gives a non-finite mean NLL ({result.MeanNll}) on '{Text}': its activations overflow");
        Console.WriteLine($"model      {model.Directory}");
        Console.WriteLine($"text       {Path.GetFullPath(Text)}");
        Console.WriteLine($"protocol   {result.Protocol}");
        Console.WriteLine($"tokens     {result.Tokens} scored in {result.Sequences} sequences");
        Console.WriteLine($"mean NLL   {result.MeanNll:F6} nats/token");
        Console.WriteLine($"perplexity {result.Perplexity:F4}");
        Console.WriteLine($"time       {result.Seconds:F2} s ({result.Tokens / Math.Max(result.Seconds, 1e-9):F0} tokens/s, {string.Join("+", model.Runner.Providers)})");
        if (Json)
        {
            var json = new Dictionary<string, object?>
            {
                ["model"] = model.Directory,
                ["text"] = Path.GetFullPath(Text),
                ["protocol"] = Paragraphs.HasValue ? "paragraphs" : "windows",
                ["mean_nll"] = result.MeanNll,
                ["perplexity"] = result.Perplexity,
                ["tokens"] = result.Tokens,
                [Paragraphs.HasValue ? "paragraphs" : "windows"] = result.Sequences,
                ["window"] = Window,
                ["stride"] = Window.HasValue ? Stride ?? Window : null,
                ["seconds"] = result.Seconds,
                ["device"] = Resolved.Onnx,
            };
            Console.WriteLine(JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }
}
