using System.Reflection;
using CommandLine;
using CommandLine.Text;
using LlmPruneFast;

namespace LlmPruneFast.Cli;

/// <summary>
/// Argument checks the parser does not make, and parser errors as one line. Why: CommandLineParser converts numbers
/// with NumberStyles.AllowThousands, so <c>--ratio 0,3</c> would be read as 3; a number flag holding a comma is refused.
/// </summary>
internal static class ArgumentGuard
{
    private static readonly Type[] NumberTypes = [typeof(double), typeof(float), typeof(decimal), typeof(int), typeof(long), typeof(short)];

    /// <summary>Refuses a comma in the value of any number-typed option of the chosen verb.</summary>
    public static void Check(string[] args, Type[] verbs)
    {
        if (args.Length == 0) return;
        var verb = verbs.FirstOrDefault(t => t.GetCustomAttribute<VerbAttribute>()!.Name == args[0]);
        if (verb == null) return;
        var numeric = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in verb.GetProperties())
        {
            if (p.GetCustomAttribute<OptionAttribute>() is not { } o) continue;
            var type = Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType;
            if (!NumberTypes.Contains(type)) continue;
            if (!string.IsNullOrEmpty(o.LongName)) numeric["--" + o.LongName] = o.LongName;
            if (!string.IsNullOrEmpty(o.ShortName)) numeric["-" + o.ShortName] = o.LongName is { Length: > 0 } l ? l : o.ShortName;
        }
        for (int i = 1; i < args.Length; i++)
        {
            string arg = args[i], flag = arg, value;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 0)
            {
                flag = arg[..eq];
                value = arg[(eq + 1)..];
            }
            else if (i + 1 < args.Length) value = args[i + 1];
            else continue;
            if (numeric.TryGetValue(flag, out var name) && value.Contains(','))
                throw new BadArgumentException($"--{name} '{value}' is not a number: use '.' as the decimal point and no thousands separator");
        }
    }

    /// <summary>The parser's errors as one sentence naming each flag.</summary>
    public static string Describe(IEnumerable<Error> errors, string[] args, Type[] verbs)
    {
        var sentences = SentenceBuilder.Create();
        var parts = errors.Select(e => sentences.FormatError(e).Trim().TrimEnd('.')).Where(s => s.Length > 0).Distinct().ToArray();
        string verb = args.Length > 0 && verbs.Any(t => t.GetCustomAttribute<VerbAttribute>()!.Name == args[0]) ? args[0] + " " : "";
        return (parts.Length == 0 ? "the arguments could not be parsed" : string.Join("; ", parts)) + $" (see llmprune {verb}--help)";
    }
}
