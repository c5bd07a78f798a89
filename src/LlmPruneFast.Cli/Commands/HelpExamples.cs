using CommandLine;

namespace LlmPruneFast.Cli.Commands;

/// <summary>How `--help` prints usage examples: only the flags a user would type, not every default.</summary>
internal static class HelpExamples
{
    public static readonly UnParserSettings Plain = new() { SkipDefault = true };
}
