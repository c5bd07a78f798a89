using System.Globalization;
using System.Reflection;
using CommandLine;
using LlmPruneFast;

namespace LlmPruneFast.Cli;

/// <summary>
/// Entry point. Verbs are discovered: every class carrying <see cref="VerbAttribute"/> and implementing
/// <see cref="ICommand"/> in this assembly is one verb, so adding a command means adding one file.
/// Library failures become one line on stderr and the failure family's exit code (see <see cref="ExitCodes"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        var verbs = typeof(Program).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<VerbAttribute>() != null && typeof(ICommand).IsAssignableFrom(t))
            .OrderBy(t => t.GetCustomAttribute<VerbAttribute>()!.Name)
            .ToArray();
        using var parser = new Parser(s =>
        {
            s.HelpWriter = Console.Error;
            s.CaseInsensitiveEnumValues = true;
            s.AutoVersion = true;
        });
        var parsed = parser.ParseArguments(args, verbs);
        if (parsed is NotParsed<object> notParsed)
        {
            bool helpOnly = notParsed.Errors.All(e => e.Tag is ErrorType.HelpRequestedError or ErrorType.HelpVerbRequestedError or ErrorType.VersionRequestedError);
            return helpOnly ? ExitCodes.Ok : ExitCodes.BadArgument;
        }
        var command = (ICommand)((Parsed<object>)parsed).Value;
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        try
        {
            return command.Run(cts.Token);
        }
        catch (LlmPruneException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return ex.ExitCode;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return ExitCodes.Cancelled;
        }
    }
}

/// <summary>One CLI verb: options are its properties, <see cref="Run"/> does the work and returns the exit code.</summary>
public interface ICommand
{
    int Run(CancellationToken cancellationToken);
}
