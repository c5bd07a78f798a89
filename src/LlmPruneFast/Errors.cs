namespace LlmPruneFast;

/// <summary>
/// Base of every failure the engine reports to a user. Each family has its own process exit code so scripts can
/// tell them apart; the message is one line naming the file, tensor or flag and what was expected vs found.
/// </summary>
public abstract class LlmPruneException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Process exit code the CLI returns for this failure family.</summary>
    public abstract int ExitCode { get; }
}

/// <summary>A command-line argument or API argument is invalid (exit code 2).</summary>
public sealed class BadArgumentException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.BadArgument;
}

/// <summary>A model file is malformed: truncated, bad header, dtype/shape mismatch (exit code 3).</summary>
public sealed class BadModelFileException(string message, Exception? inner = null) : LlmPruneException(message, inner)
{
    public override int ExitCode => ExitCodes.BadModelFile;
}

/// <summary>The model is well formed but its architecture or a feature of it is not supported (exit code 4).</summary>
public sealed class UnsupportedArchitectureException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.UnsupportedArchitecture;
}

/// <summary>A required input (file, folder, tokenizer) does not exist (exit code 5).</summary>
public sealed class MissingInputException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.MissingInput;
}

/// <summary>The output location is unusable: equal to the input, inside it, or not empty (exit code 6).</summary>
public sealed class OutputConflictException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.OutputConflict;
}

/// <summary>The work would exceed the configured memory budget (exit code 7).</summary>
public sealed class MemoryBudgetException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.MemoryBudget;
}

/// <summary>Numeric input data is unusable: NaN/Inf, wrong size, too few samples (exit code 8).</summary>
public sealed class BadDataException(string message) : LlmPruneException(message)
{
    public override int ExitCode => ExitCodes.BadData;
}

/// <summary>
/// The file system refused a read or write the command needed: disk full, permission denied, read-only folder
/// (exit code 9). Nothing partial is left behind: outputs are written under a temporary name.
/// </summary>
public sealed class FileSystemFaultException(string message, Exception? inner = null) : LlmPruneException(message, inner)
{
    public override int ExitCode => ExitCodes.FileSystemFault;
}

/// <summary>
/// <c>--device cuda</c> was asked for and a stage cannot use CUDA here: no CUDA device or driver, a CUDA library the
/// ONNX Runtime provider needs is missing (named), or the build's ONNX Runtime is CPU-only (exit code 10).
/// </summary>
public sealed class DeviceUnavailableException(string message, Exception? inner = null) : LlmPruneException(message, inner)
{
    public override int ExitCode => ExitCodes.DeviceUnavailable;
}

/// <summary>Exit codes of the <c>llmprune</c> command, one per failure family.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Unexpected = 1;
    public const int BadArgument = 2;
    public const int BadModelFile = 3;
    public const int UnsupportedArchitecture = 4;
    public const int MissingInput = 5;
    public const int OutputConflict = 6;
    public const int MemoryBudget = 7;
    public const int BadData = 8;
    public const int FileSystemFault = 9;
    public const int DeviceUnavailable = 10;
    /// <summary>Interrupted by Ctrl-C (SIGINT).</summary>
    public const int Cancelled = 130;
    /// <summary>Stopped by SIGTERM (timeout, docker, Kubernetes, Slurm): 128 + 15, as the shell reports it.</summary>
    public const int Terminated = 143;
}
