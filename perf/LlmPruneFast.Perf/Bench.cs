using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LlmPruneFast.Models.Llama;
using LlmPruneFast.Models;

namespace LlmPruneFast.Perf;

/// <summary>Shared helpers of the model-level suites: timing, machine load, argument parsing, random checkpoints, peers.</summary>
internal static class Bench
{
    /// <summary>Median wall-clock seconds of <paramref name="iters"/> calls after <paramref name="warmup"/> untimed ones.</summary>
    public static double MedianSeconds(Action action, int warmup, int iters)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            action();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        return Median(times);
    }

    public static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : 0.5 * (v[v.Length / 2 - 1] + v[v.Length / 2]);
    }

    /// <summary>The 1-minute load average from /proc/loadavg (NaN where absent): how busy the shared cores were.</summary>
    public static double Load1()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException) { return double.NaN; }
        catch (UnauthorizedAccessException) { return double.NaN; }
    }

    /// <summary>The whole `uptime` line (or /proc/loadavg where uptime is missing), for the record.</summary>
    public static string Uptime()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("uptime") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string s = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return s;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "loadavg " + Load1().ToString(CultureInfo.InvariantCulture);
        }
    }

    public static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    public static string? StringArg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    /// <summary>The repository file at <paramref name="relative"/>, found by walking up from the binary's folder.</summary>
    public static string? RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Runs a peer script and returns the JSON object of the last line it printed (null and a message on failure).</summary>
    public static JsonElement? RunPeer(string python, string script, string arguments, out string error)
    {
        var psi = new ProcessStartInfo(python, $"\"{script}\" {arguments}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            string last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
            if (p.ExitCode != 0 || !last.StartsWith('{'))
            {
                error = $"peer exited {p.ExitCode}: {stderr.Result.Trim().Split('\n').LastOrDefault()}";
                return null;
            }
            error = "";
            return JsonDocument.Parse(last).RootElement.Clone();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            error = $"cannot start {python}: {e.Message}";
            return null;
        }
    }

    /// <summary>A LLaMA checkpoint with seeded random weights, in memory (see <see cref="SyntheticLlama"/>).</summary>
    public static InMemoryTensorSource RandomTensors(LlamaConfig c, int seed = 7) => new SyntheticLlama(c, seed).Materialise();
}
