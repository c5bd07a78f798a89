using System.Diagnostics;
using System.Text.RegularExpressions;
using LlmPruneFast.Pruning;
using LlmPruneFast.Reports;

namespace LlmPruneFast.Tests.Reports;

/// <summary>
/// Opens the report as a person would: tests/browser/render_report.sh renders it in headless Chromium (installing
/// Debian's chromium when missing), takes a screenshot and dumps the DOM. The test checks every chart is in the
/// rendered DOM and the page logged nothing to the console (it has no script, so any console message is an error
/// from the browser: a failed load, a parse or security error). A control page that does log shows the check bites.
/// Skipped only when Chromium cannot be found or installed.
/// </summary>
public sealed class BrowserReportTests
{
    internal static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmPruneFast.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (LlmPruneFast.sln) not found above the test binaries");
    }

    /// <summary>Runs the script; returns its exit code and output (stdout: the CONSOLE lines found).</summary>
    internal static (int Code, string Stdout, string Stderr) Render(string html, string outDir, string size = "1280x5000")
    {
        var psi = new ProcessStartInfo("bash", [Path.Combine(RepoRoot(), "tests", "browser", "render_report.sh"), html, outDir, size])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000)) { p.Kill(true); throw new TimeoutException("render_report.sh took more than 10 minutes"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private static readonly Regex ConsoleLine = new(@":CONSOLE[:(]", RegexOptions.Compiled);

    [ChromiumFact]
    public void Stories260KReport_RendersEveryChartWithoutConsoleErrors()
    {
        var report = ReportSamples.Stories260K;
        // Kept after the run (the screenshot is for people to look at): bin/.../browser-report/.
        string dir = Path.Combine(AppContext.BaseDirectory, "browser-report");
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        Directory.CreateDirectory(dir);
        string html = Path.Combine(dir, "report.html");
        ReportWriter.Write(report, html);
        PlanJson.Save(ReportSamples.Stories260KPlan, Path.Combine(dir, "pruning-plan.json")); // to re-render with `llmprune report`

        var (code, stdout, stderr) = Render(html, Path.Combine(dir, "chromium"));
        Assert.True(code == 0, $"render_report.sh exited {code}: {stderr}");

        string log = File.ReadAllText(Path.Combine(dir, "chromium", "chromium.log"));
        var consoleLines = log.Split('\n').Where(l => ConsoleLine.IsMatch(l)).ToArray();
        Assert.True(consoleLines.Length == 0, "the page logged to the console:\n" + string.Join("\n", consoleLines));
        Assert.True(new FileInfo(Path.Combine(dir, "chromium", "screenshot.png")).Length > 20_000, "screenshot is (nearly) empty");

        // The DOM Chromium built from the page: the same charts, as SVG elements with their marks.
        string dom = File.ReadAllText(Path.Combine(dir, "chromium", "dom.html"));
        int Count(string kind) => Regex.Matches(dom, $"<svg [^>]*data-chart=\"{kind}\"").Count;
        Assert.Equal(1, Count("kept-removed"));
        Assert.Equal(report.Layers.Count, Count("mi-histogram"));
        Assert.Equal(report.Layers.Count, Count("heatmap"));
        Assert.Equal(report.Cards.Count, Count("scatter"));
        Assert.Equal(1, Count("sweep-perplexity"));
        Assert.Equal(1, Count("sweep-kl"));
        Assert.Contains(HtmlReportRenderer.ProtocolText, System.Net.WebUtility.HtmlDecode(dom));
        Assert.True(Regex.Matches(dom, "<circle ").Count >= report.Cards.Sum(c => c.X.Length));
    }

    [ChromiumFact]
    public void ControlPage_ThatLogsAnError_IsCaught()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"llmprune-browser-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string html = Path.Combine(dir, "control.html");
            File.WriteAllText(html, "<!DOCTYPE html><html><body><p>control</p><script>console.error('control-error')</script></body></html>");
            var (code, stdout, _) = Render(html, Path.Combine(dir, "out"), "400x300");
            Assert.Equal(0, code);
            Assert.Contains("control-error", stdout);
            Assert.Contains(File.ReadAllText(Path.Combine(dir, "out", "chromium.log")).Split('\n'), l => ConsoleLine.IsMatch(l) && l.Contains("control-error"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}

/// <summary>
/// A fact that needs Chromium and ../shared. Skipped with a message only when ../shared is absent or Chromium is
/// neither on PATH nor installable (render_report.sh tries apt-get once, the first time this attribute is built).
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> Missing = new(Probe);

    public ChromiumFactAttribute()
    {
        if (SharedData.Root == null) Skip = SharedData.MissingMessage;
        else if (Missing.Value is string why) Skip = why;
    }

    private static string? Probe()
    {
        if (Which("chromium") || Which("chromium-browser")) return null;
        // Let the script install it (apt-get), rendering a one-line page.
        string dir = Path.Combine(Path.GetTempPath(), $"llmprune-chromium-probe-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string html = Path.Combine(dir, "probe.html");
            File.WriteAllText(html, "<!DOCTYPE html><html><body>probe</body></html>");
            var (code, _, stderr) = BrowserReportTests.Render(html, Path.Combine(dir, "out"), "200x100");
            return code == 3 ? $"Chromium is not available: {stderr.Trim()}" : null;
        }
        catch (Exception e) { return $"Chromium is not available: {e.Message}"; }
        finally { Directory.Delete(dir, true); }
    }

    private static bool Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => d.Length > 0 && File.Exists(Path.Combine(d, name)));
}
