using System.Reflection;
using System.Runtime.InteropServices;
using LlmPruneFast;

namespace LlmPruneFast.Cli;

/// <summary>
/// The one place where an exception becomes what a user sees: a single <c>error:</c> line on stderr and the exit code
/// of its family (README, "Exit codes"). Library errors keep their own code; file-system faults (disk full,
/// permission, read-only) are 9; cancellation is 130 (Ctrl-C) or 143 (SIGTERM); anything else is a bug, reported as
/// exit 1 with a hint to rerun with <c>--verbose</c> for the stack trace.
/// </summary>
public sealed class ErrorBoundary : IDisposable
{
    private readonly CancellationTokenSource _cancel = new();
    private readonly PosixSignalRegistration? _sigterm;
    private volatile bool _terminated;

    /// <summary>Print stack traces of unexpected failures.</summary>
    public bool Verbose { get; init; }

    /// <summary>Cancelled by Ctrl-C or SIGTERM; commands pass it down so temporary outputs are removed on the way out.</summary>
    public CancellationToken Token => _cancel.Token;

    public ErrorBoundary()
    {
        Console.CancelKeyPress += OnCancelKeyPress;
        // Why: timeout, docker, Kubernetes and Slurm stop a job with SIGTERM; treated like Ctrl-C so the same cleanup runs.
        if (!OperatingSystem.IsWindows())
            _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
            {
                ctx.Cancel = true; // keep the process alive until the command has unwound and cleaned up
                _terminated = true;
                _cancel.Cancel();
            });
    }

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        e.Cancel = true;
        _cancel.Cancel();
    }

    /// <summary>Runs <paramref name="body"/> and maps whatever escapes it to an exit code.</summary>
    public int Run(Func<CancellationToken, int> body)
    {
        int code;
        try
        {
            code = body(_cancel.Token);
        }
        catch (Exception ex)
        {
            code = Report(ex, Console.Error);
        }
        // A command that finished its work although a SIGTERM arrived still reports the signal, as a shell would.
        return _terminated && code == ExitCodes.Ok ? ExitCodes.Terminated : code;
    }

    /// <summary>Writes the one-line message for <paramref name="ex"/> and returns its exit code.</summary>
    public int Report(Exception ex, TextWriter err)
    {
        var (code, message) = Classify(Unwrap(ex));
        if (code == ExitCodes.Cancelled && _terminated) (code, message) = (ExitCodes.Terminated, "terminated (SIGTERM); temporary outputs removed");
        err.WriteLine(code == ExitCodes.Cancelled || code == ExitCodes.Terminated ? message : $"error: {message}");
        if (Verbose) err.WriteLine(ex.ToString());
        return code;
    }

    /// <summary>Exit code and one-line message of an exception (already unwrapped).</summary>
    public static (int Code, string Message) Classify(Exception ex) => ex switch
    {
        LlmPruneException e => (e.ExitCode, OneLine(e.Message)),
        OperationCanceledException => (ExitCodes.Cancelled, "cancelled; temporary outputs removed"),
        FileNotFoundException e => (ExitCodes.MissingInput, OneLine(e.Message)),
        DirectoryNotFoundException e => (ExitCodes.MissingInput, OneLine(e.Message)),
        UnauthorizedAccessException e => (ExitCodes.FileSystemFault, $"file system refused access: {OneLine(e.Message)}"),
        IOException e => (ExitCodes.FileSystemFault, $"file system: {OneLine(e.Message)}"),
        OutOfMemoryException => (ExitCodes.MemoryBudget, "out of memory; lower --samples, the model size or --threads"),
        InsufficientExecutionStackException => (ExitCodes.BadData, "input nested too deeply"),
        _ => (ExitCodes.Unexpected, $"unexpected {ex.GetType().Name}: {OneLine(ex.Message)} (this is a bug; rerun with --verbose for the stack trace)"),
    };

    /// <summary>The meaningful exception inside wrappers (parallel loops, reflection, type initialisers).</summary>
    public static Exception Unwrap(Exception ex)
    {
        while (true)
        {
            switch (ex)
            {
                case AggregateException { InnerExceptions.Count: > 0 } a:
                    var inner = a.Flatten().InnerExceptions;
                    // Prefer a typed error over the cancellations it caused in sibling tasks.
                    ex = inner.FirstOrDefault(e => e is not OperationCanceledException) ?? inner[0];
                    continue;
                case TargetInvocationException { InnerException: { } t }:
                    ex = t;
                    continue;
                case TypeInitializationException { InnerException: { } t }:
                    ex = t;
                    continue;
                default:
                    return ex;
            }
        }
    }

    private static string OneLine(string message) => string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()));

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancelKeyPress;
        _sigterm?.Dispose();
        _cancel.Dispose();
    }
}
