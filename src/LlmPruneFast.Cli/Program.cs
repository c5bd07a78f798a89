using System.Globalization;
using System.Reflection;
using CommandLine;
using LlmPruneFast;

namespace LlmPruneFast.Cli;

/// <summary>
/// Entry point. Verbs are discovered: every class carrying <see cref="VerbAttribute"/> and implementing
/// <see cref="ICommand"/> in this assembly is one verb, so adding a command means adding one file.
/// Every failure becomes one line on stderr and its family's exit code (see <see cref="ErrorBoundary"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // Why: numbers in files and flags are never read or written in the user's locale ("0,3" is not 0.3).
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
        bool verbose = args.Contains("--verbose");
        args = [.. args.Where(a => a != "--verbose")];
        using var boundary = new ErrorBoundary { Verbose = verbose };
        return boundary.Run(ct => Dispatch(args, ct));
    }

    private static int Dispatch(string[] args, CancellationToken cancellationToken)
    {
        var verbs = typeof(Program).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<VerbAttribute>() != null && typeof(ICommand).IsAssignableFrom(t))
            .OrderBy(t => t.GetCustomAttribute<VerbAttribute>()!.Name)
            .ToArray();
        ArgumentGuard.Check(args, verbs);
        Parser NewParser(TextWriter? help) => new(s =>
        {
            s.HelpWriter = help;
            s.CaseInsensitiveEnumValues = true;
            s.AutoVersion = true;
        });
        using var parser = NewParser(null);
        var parsed = parser.ParseArguments(args, verbs);
        if (parsed is NotParsed<object> notParsed)
        {
            bool helpOnly = notParsed.Errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
            if (helpOnly || args.Length == 0)
            {
                // Asked for help (or gave nothing): parse again with the help writer, which prints the screen as usual.
                using var helpParser = NewParser(Console.Error);
                helpParser.ParseArguments(args, verbs);
                return helpOnly ? ExitCodes.Ok : ExitCodes.BadArgument;
            }
            throw new BadArgumentException(ArgumentGuard.Describe(notParsed.Errors, args, verbs));
        }
        var command = (ICommand)((Parsed<object>)parsed).Value;
        return command.Run(cancellationToken);
    }
}

/// <summary>One CLI verb: options are its properties, <see cref="Run"/> does the work and returns the exit code.</summary>
public interface ICommand
{
    int Run(CancellationToken cancellationToken);
}
