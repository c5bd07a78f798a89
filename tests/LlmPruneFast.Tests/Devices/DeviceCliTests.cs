using System.Text.Json;
using LlmPruneFast.Kernels.Acceleration;
using LlmPruneFast.Tests.Cli;

namespace LlmPruneFast.Tests.Devices;

/// <summary>
/// <c>--device</c> through the real CLI on stories260K, on a machine without CUDA (CI): cuda is exit 10 with one
/// error line and no output; auto falls back with one note line; cpu gives exactly what no flag gives.
/// </summary>
public sealed class DeviceCliTests : IClassFixture<EvalCommandsTests.ImportedStories>
{
    private readonly EvalCommandsTests.ImportedStories _stories;

    public DeviceCliTests(EvalCommandsTests.ImportedStories stories) => _stories = stories;

    private static bool HasCuda => MiAccelerator.CudaAvailable;

    private string[] PruneArgs(string output, params string[] more) =>
        ["prune", "--model", _stories.Model, "--calib", SharedData.TinyStories, "--ratio", "0.3", "--samples", "1024", "--calib-seqs", "16",
         "--out", output, "--plan-only", "--threads", "1", "--quiet", .. more];

    [SharedFact]
    public void Cuda_is_refused_with_exit_10_and_one_error_line_before_any_work()
    {
        if (HasCuda) return; // where CUDA works, perf/device-check.sh compares plans instead
        string plan = _stories.Folder["cuda-plan.json"];
        foreach (var args in new[]
        {
            new[] { "eval", "--model", _stories.Model, "--text", SharedData.TinyStories, "--paragraphs", "2", "--device", "cuda" },
            new[] { "generate", "--model", _stories.Model, "--prompt", "Once", "--steps", "2", "--device", "cuda" },
            PruneArgs(plan, "--device", "cuda"),
        })
        {
            var (code, output, err) = CliRunner.Run(args);
            Assert.True(code == ExitCodes.DeviceUnavailable, $"{args[0]}: exit {code}: {err}");
            Assert.Equal("", output);
            var lines = err.TrimEnd().Split('\n');
            Assert.Single(lines);
            Assert.StartsWith("error: --device cuda: ", lines[0]);
            Assert.Contains("use --device cpu or auto", lines[0]);
        }
        Assert.False(File.Exists(plan));
    }

    [SharedFact]
    public void Auto_falls_back_to_the_cpu_and_says_so_once()
    {
        if (HasCuda) return;
        var (code, output, err) = CliRunner.Run("eval", "--model", _stories.Model, "--text", SharedData.TinyStories, "--paragraphs", "2", "--json", "--threads", "1", "--device", "auto");
        Assert.True(code == 0, err);
        var lines = err.TrimEnd().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("note: --device auto: running on the CPU", lines[0]);
        using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
        Assert.Equal("cpu", json.RootElement.GetProperty("device").GetString());
    }

    [SharedFact]
    public void Cpu_gives_the_same_plan_and_perplexity_as_no_flag_and_records_the_devices()
    {
        string a = _stories.Folder["plan-default.json"], b = _stories.Folder["plan-cpu.json"];
        var plain = CliRunner.Run(PruneArgs(a, "--json"));
        var cpu = CliRunner.Run(PruneArgs(b, "--json", "--device", "cpu"));
        Assert.True(plain.Code == 0, plain.Err);
        Assert.True(cpu.Code == 0, cpu.Err);
        Assert.Equal("", cpu.Err);
        Assert.Equal(File.ReadAllText(a).Replace(a, b), File.ReadAllText(b));
        using (var json = JsonDocument.Parse(cpu.Out.TrimEnd().Split('\n')[^1]))
        {
            var devices = json.RootElement.GetProperty("devices");
            Assert.Equal("cpu", devices.GetProperty("capture").GetString());
            Assert.Equal("cpu", devices.GetProperty("select").GetString());
        }

        // the estimator path (mi-weighted with plug-in) too
        string c = _stories.Folder["plan-mi-default.json"], d = _stories.Folder["plan-mi-cpu.json"];
        var mi = CliRunner.Run(PruneArgs(c, "--method", "mi-weighted", "--estimator", "plugin"));
        var miCpu = CliRunner.Run(PruneArgs(d, "--method", "mi-weighted", "--estimator", "plugin", "--device", "cpu"));
        Assert.True(mi.Code == 0 && miCpu.Code == 0, mi.Err + miCpu.Err);
        Assert.Equal(File.ReadAllText(c), File.ReadAllText(d));

        string[] eval = ["eval", "--model", _stories.Model, "--text", SharedData.TinyStories, "--paragraphs", "10", "--json", "--threads", "1"];
        var e1 = CliRunner.Run(eval);
        var e2 = CliRunner.Run([.. eval, "--device", "cpu"]);
        Assert.True(e1.Code == 0 && e2.Code == 0, e1.Err + e2.Err);
        double Nll(string o) => JsonDocument.Parse(o.TrimEnd().Split('\n')[^1]).RootElement.GetProperty("mean_nll").GetDouble();
        Assert.Equal(Nll(e1.Out), Nll(e2.Out));
    }
}
