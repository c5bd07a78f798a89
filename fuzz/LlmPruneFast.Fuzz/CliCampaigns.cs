using System.Diagnostics;
using System.Globalization;
using System.Text;
using LlmPruneFast.Cli;

namespace LlmPruneFast.Fuzz;

/// <summary>
/// The CLI campaigns of issue 9, rerun in process: each case is a mutated input (or argument list) given to the real
/// <c>llmprune</c> entry point. A case is a crash when the process would have died with a stack trace or exit 1
/// (unexpected); a refusal must print exactly one <c>error:</c> line; an accepted case is compared with the unmutated
/// control. Prints one Markdown table; exit 1 when anything crashed.
/// </summary>
public static class CliCampaigns
{
    private sealed record Outcome(int Code, string Out, string Err);

    private sealed class Tally
    {
        public int Cases, Refused, Crashed, SameAsControl, AcceptedDiffering, Untidy;
        public readonly List<string> Crashes = [];
    }

    public static int Run(string shared, int scale)
    {
        string work = Path.Combine(Path.GetTempPath(), $"llmprune-campaign-{Guid.NewGuid():N}");
        Directory.CreateDirectory(work);
        try { return RunIn(shared, work, scale); }
        finally { Directory.Delete(work, recursive: true); }
    }

    private static Outcome Cli(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var o = new StringWriter();
        var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        int code;
        try { code = LlmPruneFast.Cli.Program.Main(args); }
        catch (Exception ex) { code = 134; e.WriteLine($"CRASH {ex.GetType().Name}: {ex.Message}"); }
        finally { Console.SetOut(stdout); Console.SetError(stderr); }
        return new Outcome(code, o.ToString(), e.ToString());
    }

    private static void Require(Outcome o, string what)
    {
        if (o.Code != 0) throw new InvalidOperationException($"{what} failed (rc {o.Code}): {o.Err}");
    }

    private static int RunIn(string shared, string work, int scale)
    {
        string Shared(string p) => Path.Combine(shared, p);
        string model = Path.Combine(work, "model");
        Require(Cli("import", "--from", "llama2c", "--model", Shared("models/stories260K/stories260K.bin"), "--tokenizer", Shared("models/stories260K/tok512.model"), "--out", model), "import");
        var paragraphs = File.ReadAllText(Shared("corpora/tinystories/valid-sample.txt")).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        string eval = Path.Combine(work, "eval.txt"), calib = Path.Combine(work, "calib.txt");
        File.WriteAllText(eval, string.Join("\n\n", paragraphs.Take(2)));
        File.WriteAllText(calib, string.Join("\n\n", paragraphs.Skip(100).Take(60)));
        string plan = Path.Combine(work, "plan.json");
        Require(Cli("prune", "--model", model, "--calib", calib, "--method", "magnitude", "--ratio", "0.2", "--samples", "256", "--plan-only", "--out", plan, "--quiet"), "prune --plan-only");
        string sharded = Path.Combine(work, "sharded");
        Require(Cli("import", "--from", "hf", "--model", model, "--out", sharded, "--max-shard-mb", "0.25"), "sharded import");
        var z = new float[64 * 4];
        for (int i = 0; i < z.Length; i++) z[i] = MathF.Sin(i * 0.7f) + (i % 4) * 0.1f;
        var raw = System.Runtime.InteropServices.MemoryMarshal.AsBytes(z.AsSpan()).ToArray();
        string npySource = Path.Combine(work, "z.npy");
        LlmPruneFast.Information.ActivationFiles.WriteMatrix(npySource, z, 64, 4);

        int caseNo = 0;
        string NewCase()
        {
            string dir = Path.Combine(work, $"case{caseNo++}");
            Directory.CreateDirectory(dir);
            return dir;
        }
        string CopyModel(string from, string dir)
        {
            string to = Path.Combine(dir, "m");
            Directory.CreateDirectory(to);
            foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            return to;
        }
        string[] Eval(string m, bool json) => json
            ? ["eval", "--model", m, "--text", eval, "--paragraphs", "2", "--threads", "1", "--json"]
            : ["eval", "--model", m, "--text", eval, "--paragraphs", "2", "--threads", "1"];

        var rows = new List<(string Name, Tally T)>();
        var clock = Stopwatch.StartNew();
        void Campaign(string name, int count, Func<Mutator, bool, string[]?> prepare, Func<string[]> control)
        {
            var t = new Tally();
            string controlOut = Normalize(Cli(control()).Out);
            var mutator = new Mutator(Fnv(name)); // fixed per campaign: every run checks the same cases
            for (int i = 0; i < count * scale; i++)
            {
                var args = prepare(mutator, i % 2 == 1);
                if (args == null) continue;
                var r = Cli(args);
                t.Cases++;
                if (r.Code is 1 or >= 128 && r.Code != 130 && r.Code != 143)
                {
                    t.Crashed++;
                    if (t.Crashes.Count < 5) t.Crashes.Add($"rc {r.Code}: {r.Err.Trim().Split('\n')[0]} ({string.Join(' ', args)})");
                }
                else if (r.Code == 0)
                {
                    if (Normalize(r.Out) == controlOut) t.SameAsControl++; else t.AcceptedDiffering++;
                }
                else
                {
                    t.Refused++;
                    if (r.Err.Split('\n').Count(l => l.StartsWith("error: ", StringComparison.Ordinal)) != 1) t.Untidy++;
                }
            }
            rows.Add((name, t));
            Console.Error.WriteLine($"{name}: {t.Cases} cases, {t.Crashed} crashes ({clock.Elapsed.TotalSeconds:F0} s)");
        }

        string st = Path.Combine(model, "model.safetensors");
        byte[] stBytes = File.ReadAllBytes(st);
        int headerEnd = 8 + (int)BitConverter.ToUInt64(stBytes, 0);
        Campaign("safetensors header/data (`eval`, half with `--json`)", 313, (m, json) =>
        {
            string dir = CopyModel(model, NewCase());
            File.WriteAllBytes(Path.Combine(dir, "model.safetensors"), m.Mutate(stBytes, headerEnd));
            return Eval(dir, json);
        }, () => Eval(model, false));

        byte[] config = File.ReadAllBytes(Path.Combine(model, "config.json"));
        Campaign("config.json (`eval`)", 235, (m, json) =>
        {
            string dir = CopyModel(model, NewCase());
            File.WriteAllBytes(Path.Combine(dir, "config.json"), m.Mutate(config));
            return Eval(dir, json);
        }, () => Eval(model, false));

        byte[] bin = File.ReadAllBytes(Shared("models/stories260K/stories260K.bin"));
        byte[] tok = File.ReadAllBytes(Shared("models/stories260K/tok512.model"));
        Campaign("llama2.c `.bin` + tokenizer (`import`)", 109, (m, _) =>
        {
            string dir = NewCase();
            bool mutateTokenizer = m.Next(4) == 0;
            File.WriteAllBytes(Path.Combine(dir, "m.bin"), mutateTokenizer ? bin : m.Mutate(bin, 28));
            File.WriteAllBytes(Path.Combine(dir, "t.model"), mutateTokenizer ? m.Mutate(tok) : tok);
            return ["import", "--from", "llama2c", "--model", Path.Combine(dir, "m.bin"), "--tokenizer", Path.Combine(dir, "t.model"), "--out", Path.Combine(dir, "out")];
        }, () => ["eval", "--model", model, "--text", eval, "--paragraphs", "1"]);

        byte[] planBytes = File.ReadAllBytes(plan);
        Campaign("plan JSON (`apply`)", 156, (m, _) =>
        {
            string dir = NewCase();
            File.WriteAllBytes(Path.Combine(dir, "plan.json"), m.Mutate(planBytes));
            return ["apply", "--plan", Path.Combine(dir, "plan.json"), "--model", model, "--out", Path.Combine(dir, "out")];
        }, () => ["apply", "--plan", plan, "--model", model, "--out", Path.Combine(NewCase(), "out")]);

        byte[] npy = File.ReadAllBytes(npySource);
        Campaign("`mi --input` raw/.npy", 126, (m, odd) =>
        {
            string dir = NewCase();
            string input = Path.Combine(dir, odd ? "z.npy" : "z.f32");
            File.WriteAllBytes(input, odd ? m.Mutate(npy, 128) : m.Mutate(raw));
            return ["mi", "--input", input, "--cols", "4", "--all-pairs", "--estimator", "plugin", "--bins", "4", "--json"];
        }, () => ["mi", "--input", npySource, "--cols", "4", "--all-pairs", "--estimator", "plugin", "--bins", "4", "--json"]);

        string index = Path.Combine(sharded, "model.safetensors.index.json");
        byte[] indexBytes = File.Exists(index) ? File.ReadAllBytes(index) : [];
        Campaign("tokenizer.model / sharded index (`eval`)", 46, (m, odd) =>
        {
            if (odd || indexBytes.Length == 0)
            {
                string dir = CopyModel(model, NewCase());
                File.WriteAllBytes(Path.Combine(dir, "tokenizer.model"), m.Next(10) == 0 ? [] : m.Mutate(tok));
                return Eval(dir, false);
            }
            string sdir = CopyModel(sharded, NewCase());
            File.WriteAllBytes(Path.Combine(sdir, "model.safetensors.index.json"), m.Mutate(indexBytes));
            return Eval(sdir, false);
        }, () => Eval(model, false));

        string[] verbs = ["eval", "prune", "apply", "mi", "generate", "report", "import", "widen", "study", "demo", "nope", ""];
        string[] flags = ["--model", "--text", "--paragraphs", "--window", "--stride", "--ratio", "--out", "--calib", "--method", "--estimator",
            "--threads", "--steps", "--prompt", "--cols", "--input", "--pair", "--plan", "--json", "--seed", "--samples", "--from", "--copies",
            "--budget", "--compensate", "--eval", "--report", "--force", "--verbose", "--memory-mb", "--bins", "-k", "--help", "--version"];
        string[] values = ["0", "-1", "0,3", "0.3", "1e9", "2147483647", "-2147483648", "NaN", "", " ", "x", "1,2", "1,1", model, eval, plan,
            Path.Combine(work, "nowhere"), "/", "/proc/self/mem", "mi-conditional", "plugin", "ksg", "1.0000001", "0.001", "global", "refit"];
        Campaign("CLI arguments, all verbs", 145, (m, _) =>
        {
            string dir = NewCase();
            var args = new List<string> { verbs[m.Next(verbs.Length)] };
            int n = m.Next(8);
            for (int i = 0; i < n; i++)
            {
                args.Add(flags[m.Next(flags.Length)]);
                if (m.Next(5) > 0) args.Add(values[m.Next(values.Length)]);
            }
            for (int i = 0; i < args.Count; i++) if (args[i] == "--out" && i + 1 < args.Count) args[i + 1] = Path.Combine(dir, "out");
            if (args.Contains("--help") || args.Contains("--version")) return null; // the help screens are not a case
            if (args[0] == "demo" || args[0] == "study" || args[0] == "prune") args.AddRange(["--samples", "64", "--quiet"]);
            return [.. args.Where(a => a.Length > 0 || m.Next(2) == 0)];
        }, () => Eval(model, false));

        Console.WriteLine("| campaign | cases | clean refusal (one `error:` line) | refusal, more lines | crash | rc 0, same output as control | rc 0, output differs |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var (name, t) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {t.Cases} | {t.Refused - t.Untidy} | {t.Untidy} | {t.Crashed} | {t.SameAsControl} | {t.AcceptedDiffering} |"));
        int crashes = rows.Sum(r => r.T.Crashed);
        Console.WriteLine($"total: {rows.Sum(r => r.T.Cases)} cases, {crashes} crashes, {clock.Elapsed.TotalSeconds:F0} s");
        foreach (var (name, t) in rows) foreach (var c in t.Crashes) Console.WriteLine($"crash in {name}: {c}");
        return crashes == 0 ? 0 : 1;
    }

    /// <summary>Output without timings and paths, so an accepted case can be compared with the control.</summary>
    private static string Normalize(string output) => string.Join('\n', output.Split('\n')
        .Where(l => !l.StartsWith("time", StringComparison.Ordinal) && !l.StartsWith("model", StringComparison.Ordinal) && !l.Contains("\"seconds\"", StringComparison.Ordinal)));

    private static int Fnv(string s)
    {
        uint h = 2166136261;
        foreach (char c in s) h = (h ^ c) * 16777619;
        return (int)(h & 0x7fffffff);
    }
}
