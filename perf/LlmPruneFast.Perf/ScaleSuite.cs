using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Perf;

public static partial class Suites
{
    [ModuleInitializer]
    internal static void RegisterScale() => All["scale"] = ScaleSuite.Run;
}

/// <summary>
/// `scale [--shape 134m|1.1b|7b] [--dtype bf16|f32] [--methods flap,default] [--dir DIR] [--max-shard-mb MB] [--keep]
/// [--cli llmprune.dll] [--calib FILE] [--prune-args "..."]`: writes a LLaMA-shaped checkpoint with seeded random
/// weights (<see cref="SyntheticLlama"/>, streamed tensor by tensor, sharded like Hugging Face over --max-shard-mb,
/// default 5000 MB, with the Llama 2 tokenizer from ../shared), then runs the real CLI,
/// <c>llmprune prune --ratio 0.3</c> with each method, under <c>/usr/bin/time -v</c>; prints stage seconds,
/// calibration tokens run, peak RSS, and whether the pruned folder reloads with the input's dtype and sharding.
/// With --keep the checkpoint stays in DIR and is reused by the next run of the same shape and dtype.
/// </summary>
internal static partial class ScaleSuite
{
    public static int Run(string[] args)
    {
        string shape = Bench.StringArg(args, "--shape") ?? "134m";
        var dtype = (Bench.StringArg(args, "--dtype") ?? "bf16").ToLowerInvariant() switch
        {
            "bf16" => TensorDType.BF16,
            "f16" => TensorDType.F16,
            "f32" => TensorDType.F32,
            var other => throw new ArgumentException($"--dtype {other}: expected bf16, f16 or f32"),
        };
        var methods = (Bench.StringArg(args, "--methods") ?? "flap,default").Split(',', StringSplitOptions.RemoveEmptyEntries);
        string root = Bench.StringArg(args, "--dir") ?? Path.Combine(Path.GetTempPath(), "llmprune-scale");
        double shardMb = double.Parse(Bench.StringArg(args, "--max-shard-mb") ?? "5000", CultureInfo.InvariantCulture);
        bool keep = args.Contains("--keep");
        string? cli = Bench.StringArg(args, "--cli") ?? Bench.RepoFile("src/LlmPruneFast.Cli/bin/Release/net10.0/llmprune.dll");
        string? shared = Bench.RepoFile("../shared/README.md") is { } readme ? Path.GetDirectoryName(readme) : null;
        string? calib = Bench.StringArg(args, "--calib") ?? (shared == null ? null : Path.Combine(shared, "corpora/tinystories/valid-sample.txt"));
        string extra = Bench.StringArg(args, "--prune-args") ?? "";
        if (cli == null || !File.Exists(cli)) { Console.Error.WriteLine("scale: llmprune.dll not found; build the CLI (./build.sh) or pass --cli"); return 2; }
        if (shared == null || calib == null) { Console.Error.WriteLine("scale: ../shared not found (tokenizer and calibration text)"); return 2; }
        string tokenizer = Path.Combine(shared, "models/llama2-tokenizer/tokenizer.model");

        var config = SyntheticLlama.Preset(shape);
        // The shard limit is part of the name, so --keep never reuses a checkpoint laid out otherwise.
        string model = Path.Combine(root, $"{shape}-{dtype.ToString().ToLowerInvariant()}" +
            (shardMb == 5000 ? "" : $"-shard{shardMb.ToString(CultureInfo.InvariantCulture)}mb"));
        Directory.CreateDirectory(root);
        Console.WriteLine($"scale {shape}: dim {config.HiddenSize}, FFN {config.IntermediateSize}, {config.NumHiddenLayers} layers, " +
            $"heads {config.NumAttentionHeads}/{config.NumKeyValueHeads} kv, vocab {config.VocabSize}; {PrunedModelParameters(config):N0} parameters, {dtype}");
        Console.WriteLine($"start: {Bench.Uptime()}");
        try
        {
            if (!File.Exists(Path.Combine(model, HfConfig.FileName)))
            {
                if (Directory.Exists(model)) Directory.Delete(model, recursive: true);
                var clock = Stopwatch.StartNew();
                new SyntheticLlama(config, seed: 7, dtype).Write(model, tokenizer, (long)(shardMb * 1e6));
                Console.WriteLine($"wrote {model} in {clock.Elapsed.TotalSeconds:F1} s ({Describe(model)}), generator peak RSS {PeakRssGb():F2} GB");
            }
            else Console.WriteLine($"reusing {model} ({Describe(model)})");
            OpenCost(model);

            Console.WriteLine();
            Console.WriteLine("| shape | dtype | method | exit | capture s | select s | slice s | write s | total s | wall s | calib tokens run | peak RSS GB | output | load before/after |");
            Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (var method in methods)
                Console.WriteLine(Prune(cli, model, calib, method, extra, shape, dtype, root));
            Console.WriteLine($"end: {Bench.Uptime()}");
            return 0;
        }
        finally
        {
            if (!keep && Directory.Exists(model)) Directory.Delete(model, recursive: true);
        }
    }

    private static string Prune(string cli, string model, string calib, string method, string extra, string shape, TensorDType dtype, string root)
    {
        string output = Path.Combine(root, $"pruned-{shape}-{method}");
        if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        var psi = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "dotnet", cli, "prune", "--model", model, "--calib", calib, "--ratio", "0.3", "--out", output, "--json", "--quiet" })
            psi.ArgumentList.Add(a);
        if (method != "default") { psi.ArgumentList.Add("--method"); psi.ArgumentList.Add(method); }
        foreach (var a in extra.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(a);
        double loadBefore = Bench.Load1();
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        double wall = clock.Elapsed.TotalSeconds;
        string stderr = stderrTask.Result;
        double loadAfter = Bench.Load1();

        var rss = RssRegex().Match(stderr);
        double rssGb = rss.Success ? long.Parse(rss.Groups[1].Value, CultureInfo.InvariantCulture) / 1048576.0 : double.NaN;
        var tokens = CalibRegex().Match(stdout);
        var seconds = new Dictionary<string, double>();
        string? json = stdout.Split('\n').LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (json != null && JsonDocument.Parse(json).RootElement.TryGetProperty("seconds", out var s))
            foreach (var kv in s.EnumerateObject()) seconds[kv.Name] = kv.Value.GetDouble();
        string F(string key) => seconds.TryGetValue(key, out var v) ? v.ToString("F1", CultureInfo.InvariantCulture) : "-";

        string outcome;
        if (p.ExitCode != 0)
        {
            string last = stderr.Split('\n').Where(l => l.Contains("error") || l.Contains("Exception")).FirstOrDefault()?.Trim() ?? "";
            outcome = $"failed: {last}";
        }
        else outcome = Reload(output, dtype, model);
        if (Directory.Exists(output)) Directory.Delete(output, recursive: true);
        string row = $"| {shape} | {dtype} | {method} | {p.ExitCode} | {F("capture")} | {F("select")} | {F("slice")} | {F("write")} | {F("total")} | {wall:F1} | " +
            $"{(tokens.Success ? tokens.Groups[1].Value : "-")} | {rssGb:F2} | {outcome} | {loadBefore:F1} / {loadAfter:F1} |";
        if (p.ExitCode != 0) // the tool's own lines, without /usr/bin/time's report
        {
            string own = stderr.Split("\tCommand being timed")[0];
            Console.Error.WriteLine(own.Length > 4000 ? own[^4000..] : own);
        }
        return row;
    }

    /// <summary>
    /// Start-up cost of opening the checkpoint: <see cref="LlamaCheckpoint.Open"/> (header, shapes, the raw-bit NaN/Inf
    /// scan), against the check it replaced, which widened every tensor to float32 and tested each value.
    /// </summary>
    private static void OpenCost(string model)
    {
        using (LlamaCheckpoint.Open(model)) { } // untimed: the page cache holds the weights for both timings
        var clock = Stopwatch.StartNew();
        using var checkpoint = LlamaCheckpoint.Open(model);
        double open = clock.Elapsed.TotalSeconds;
        clock.Restart();
        foreach (var name in checkpoint.Tensors.Names)
            if (FiniteWeights.IndexOfNonFinite(checkpoint.Tensors.ReadFloat32(name)) >= 0) throw new InvalidOperationException(name);
        double widened = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"open (raw-bit finite scan) {open:F2} s; the former widen-every-tensor check alone {widened:F2} s (load {Bench.Load1():F1})");
    }

    /// <summary>Reopens the pruned folder as a user would; states its dtype and layout against the input's.</summary>
    private static string Reload(string output, TensorDType dtype, string input)
    {
        try
        {
            using var pruned = LlamaCheckpoint.Open(output);
            var dtypes = pruned.Tensors.Names.Select(n => pruned.Tensors.GetInfo(n).DType).Distinct().ToArray();
            bool sameLayout = File.Exists(Path.Combine(output, SafeTensorsSharded.IndexFileName)) == File.Exists(Path.Combine(input, SafeTensorsSharded.IndexFileName));
            return $"reloads; {string.Join("+", dtypes)}{(dtypes is [var only] && only == dtype ? " (as input)" : " (NOT the input's dtype)")}; {Describe(output)}{(sameLayout ? "" : " (NOT the input's layout)")}";
        }
        catch (Exception e) when (e is LlmPruneException or IOException)
        {
            return $"does not reload: {e.Message}";
        }
    }

    private static string Describe(string folder)
    {
        var shards = Directory.GetFiles(folder, "*.safetensors");
        long bytes = shards.Sum(f => new FileInfo(f).Length);
        return $"{shards.Length} safetensors file{(shards.Length == 1 ? "" : "s")}, {bytes / 1e6:F0} MB";
    }

    private static long PrunedModelParameters(LlamaConfig c) => LlamaTensorShapes.Expected(c).Sum(e => e.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>This process's peak resident set (VmHWM), in GB.</summary>
    private static double PeakRssGb()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:"));
        return line == null ? double.NaN : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1048576.0;
    }

    [GeneratedRegex(@"Maximum resident set size \(kbytes\): (\d+)")]
    private static partial Regex RssRegex();

    [GeneratedRegex(@"capture of (\d+) tokens")]
    private static partial Regex CalibRegex();
}
