using System.Diagnostics;

namespace LlmPruneFast.Tests;

/// <summary>
/// Runs the real `llmprune` (built beside the tests) as a separate process, so CLI tests see exactly what a user
/// sees (exit code, stdout, stderr) and can run in parallel without sharing Console redirection.
/// </summary>
public static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "llmprune.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }
}
