using LlmPruneFast.Evaluation;

namespace LlmPruneFast.Cli.Commands;

/// <summary>Draws evaluation progress on one stderr line when stderr is a terminal; silent otherwise.</summary>
internal sealed class ConsoleProgress : IProgress<EvaluationProgress>
{
    private readonly bool _enabled = !Console.IsErrorRedirected;
    private bool _drawn;

    public void Report(EvaluationProgress value)
    {
        if (!_enabled) return;
        Console.Error.Write($"\r{value.Stage} {value.Done}/{value.Total}   ");
        _drawn = true;
    }

    /// <summary>Clears the progress line.</summary>
    public void Done()
    {
        if (_drawn) Console.Error.Write("\r" + new string(' ', 40) + "\r");
        _drawn = false;
    }
}
