namespace LlmPruneFast.Perf;

/// <summary>
/// `cli` suite: <c>llmprune</c> itself (<see cref="LlmPruneFast.Cli.Program.Main"/>), so the single file that
/// perf/device-check.sh carries to a GPU machine runs the verbs too: <c>LlmPruneFast.Perf cli prune ...</c>.
/// </summary>
internal static class CliSuite
{
    [System.Runtime.CompilerServices.ModuleInitializer]
    internal static void Register() => Suites.All["cli"] = LlmPruneFast.Cli.Program.Main;
}
