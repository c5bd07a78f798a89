using System.Text.Json;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Models.Encoders;

namespace LlmPruneFast.Cli.Commands;

/// <summary>The encoder branch of <c>llmprune eval</c>: STS, embedding statistics and latency instead of perplexity.</summary>
internal static class EncoderEval
{
    public static int Run(EvalCommand o, CancellationToken ct)
    {
        if (o.Paragraphs.HasValue || o.Window.HasValue || o.Stride.HasValue)
            throw new BadArgumentException("--paragraphs, --window and --stride apply to decoders; an encoder takes --sts FILE and/or --text FILE");
        if (o.Sts == null && o.Text == null && !o.Latency) throw new BadArgumentException("give --sts FILE, --text FILE or --latency for an encoder");
        var pairs = o.Sts != null ? StsBenchmark.Read(o.Sts) : null; // check inputs before loading the model
        var sentences = o.Text != null ? SentenceFile.Read(o.Text) : null;
        using var encoder = SentenceEncoder.Open(o.Model, new SentenceEncoderOptions { Pooling = o.Pooling, BatchSize = o.Batch ?? 32, IntraOpThreads = o.Threads, UseCuda = o.Resolved.OnnxCuda });
        var json = new Dictionary<string, object?>
        {
            ["model"] = encoder.Folder.Directory,
            ["kind"] = "encoder",
            ["pooling"] = encoder.Pooling.ToString().ToLowerInvariant(),
            ["dimension"] = encoder.Dimension,
            ["device"] = o.Resolved.Onnx,
        };
        Console.WriteLine($"model      {encoder.Folder.Directory} (encoder, {encoder.Dimension}-d, {encoder.Pooling.ToString().ToLowerInvariant()} pooling, max {encoder.MaxTokens} tokens)");
        if (pairs != null)
        {
            var sts = EncoderEvaluation.Sts(encoder, pairs, ct);
            Console.WriteLine($"sts        {Path.GetFullPath(o.Sts!)}");
            Console.WriteLine($"spearman   {sts.Spearman:F4} (x100, {sts.Pairs} pairs, {sts.Sentences} sentences, {sts.Seconds:F1} s)");
            json["sts"] = Path.GetFullPath(o.Sts!);
            json["sts_spearman"] = sts.Spearman;
            json["pairs"] = sts.Pairs;
        }
        if (sentences != null)
        {
            var stats = EncoderEvaluation.Statistics(encoder, sentences, ct);
            Console.WriteLine($"text       {Path.GetFullPath(o.Text!)}: {stats.Sentences} sentences in {stats.Seconds:F1} s");
            Console.WriteLine($"norm       mean {stats.MeanNorm:F4} (min {stats.MinNorm:F4}, max {stats.MaxNorm:F4})");
            Console.WriteLine($"cosine     mean {stats.MeanPairCosine:F4} between sentences (first {Math.Min(500, stats.Sentences)})");
            json["text"] = Path.GetFullPath(o.Text!);
            json["sentences"] = stats.Sentences;
            json["mean_norm"] = stats.MeanNorm;
            json["min_norm"] = stats.MinNorm;
            json["max_norm"] = stats.MaxNorm;
            json["mean_pair_cosine"] = stats.MeanPairCosine;
        }
        if (o.Latency)
        {
            var latency = EncoderEvaluation.Latency(encoder, ct: ct);
            Console.WriteLine($"latency    {latency.MedianMs:F1} ms per {latency.Batch} x {latency.Seq} tokens ({latency.TokensPerSecond:F0} tokens/s)");
            json["latency_ms"] = latency.MedianMs;
            json["latency_batch"] = latency.Batch;
            json["latency_seq"] = latency.Seq;
            json["tokens_per_second"] = latency.TokensPerSecond;
        }
        if (o.Json) Console.WriteLine(JsonSerializer.Serialize(json));
        return ExitCodes.Ok;
    }
}
