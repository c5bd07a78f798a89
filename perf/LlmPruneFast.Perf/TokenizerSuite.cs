using System.Diagnostics;
using System.Runtime.CompilerServices;
using LlmPruneFast.Models;

namespace LlmPruneFast.Perf;

public static partial class Suites
{
    [ModuleInitializer]
    internal static void RegisterTokenizer() => All["tokenizer"] = TokenizerSuite.Run;
}

/// <summary>
/// `tokenizer [--text FILE]`: load time and encoding speed of Meta's Llama 3 tokenizer.json (.cache, from
/// `./build.sh llama3-tokenizer`) and of the Llama 2 SentencePiece tokenizer.model (../shared) on the same text (default
/// ../shared/corpora/tinystories/valid-sample.txt, encoded whole). The peer is Hugging Face tokenizers (Rust, npm):
/// perf/peers/tokenizer_speed_peer.js on the same file.
/// </summary>
internal static class TokenizerSuite
{
    public static int Run(string[] args)
    {
        string root = Root();
        string shared = Environment.GetEnvironmentVariable("LLMPRUNE_SHARED") ?? Path.Combine(root, "..", "shared");
        string text = File.ReadAllText(args.Length == 2 && args[0] == "--text" ? args[1] : Path.Combine(shared, "corpora/tinystories/valid-sample.txt"));
        string json = Path.Combine(root, ".cache/tokenizers/llama3/tokenizer.json");
        string model = Path.Combine(shared, "models/llama2-tokenizer/tokenizer.model");
        Console.WriteLine($"tokenizer suite: {text.Length:N0} characters, {Environment.ProcessorCount} cores, {DateTime.UtcNow:u}");
        foreach (var (name, path) in new[] { ("Llama 3 tokenizer.json", json), ("Llama 2 tokenizer.model", model) })
        {
            if (!File.Exists(path)) { Console.WriteLine($"  {name}: {path} absent, skipped"); continue; }
            var load = Stopwatch.StartNew();
            var tokenizer = ModelTokenizer.Load(path);
            load.Stop();
            var cold = Stopwatch.StartNew();
            int[] ids = tokenizer.Encode(text); // the first pass fills the library's word cache
            cold.Stop();
            int tokens = ids.Length;
            string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join(",", ids))))[..16];
            double best = double.MaxValue;
            for (int r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                tokens = tokenizer.Encode(text).Length;
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
            Console.WriteLine($"  {name,-24} load {load.Elapsed.TotalSeconds,5:F2} s, {tokens,9:N0} tokens (ids sha256 {hash}), first encode {cold.Elapsed.TotalSeconds,6:F3} s, " +
                $"then {best,6:F3} s (best of 3), {tokens / best,10:N0} tokens/s");
        }
        return 0;
    }

    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmPruneFast.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root not found");
    }
}
