using System.Diagnostics;
using LlmPruneFast.Evaluation;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Cli.Commands;

/// <summary>
/// One progress bar on stderr, redrawn in place: "stage [#####.....]  42%". Disabled when stderr is redirected or
/// when asked (--quiet). Thread-safe (selectors report from worker threads) and throttled to ~10 redraws a second.
/// </summary>
internal sealed class ProgressBar : IProgress<StageProgress>, IProgress<EvaluationProgress>
{
    private const int Width = 30;
    private readonly bool _enabled;
    private readonly object _gate = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1000;
    private string _stage = "";
    private bool _drawn;

    public ProgressBar(bool quiet = false) => _enabled = !quiet && !Console.IsErrorRedirected;

    public void Report(StageProgress value) => Draw(value.Stage, value.Fraction);

    public void Report(EvaluationProgress value) => Draw(value.Stage, value.Total > 0 ? (double)value.Done / value.Total : 1);

    private void Draw(string stage, double fraction)
    {
        if (!_enabled) return;
        lock (_gate)
        {
            long now = _clock.ElapsedMilliseconds;
            bool done = fraction >= 1;
            if (stage == _stage && !done && now - _lastDraw < 100) return;
            _stage = stage;
            _lastDraw = now;
            fraction = Math.Clamp(double.IsFinite(fraction) ? fraction : 0, 0, 1);
            int filled = (int)Math.Round(fraction * Width);
            Console.Error.Write($"\r{stage,-10} [{new string('#', filled)}{new string('.', Width - filled)}] {fraction * 100,3:F0}%   ");
            _drawn = true;
        }
    }

    /// <summary>Clears the bar's line.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            if (_drawn) Console.Error.Write("\r" + new string(' ', Width + 24) + "\r");
            _drawn = false;
            _stage = "";
        }
    }
}
