namespace LlmPruneFast.Capture;

/// <summary>
/// Calibration text, number of sampled token positions S, and the sampling seed. <paramref name="Layout"/> says what a
/// sequence was: windows, S was sampled inside <paramref name="Sequences"/> windows of at most
/// <paramref name="SequenceLength"/> tokens of seeded paragraphs; paragraphs, inside that many seeded paragraphs cut to
/// <paramref name="SequenceLength"/> tokens (0 and 0: every paragraph, whole). <paramref name="Capture"/>: whose
/// activations layer l's were, the dense model's (the default) or, sequential, those of the model whose layers before l
/// were already pruned.
/// </summary>
public sealed record CalibrationInfo(string Text, long Tokens, long Seed, int Sequences = 0, int SequenceLength = 0, CaptureMode Capture = CaptureMode.Dense,
    CalibrationLayout Layout = CalibrationLayout.Paragraphs);

/// <summary>
/// What one calibration sequence is. Windows (the default for decoders): paragraphs drawn seeded and cut into windows
/// of at most L tokens, each starting as a document does, taken until they hold S positions, so capture runs only the
/// tokens the sample needs. Paragraphs: each paragraph its own sequence, every one unless N are drawn (encoders
/// always; decoders with <c>--calib-paragraphs</c>; plans written before windows existed).
/// </summary>
public enum CalibrationLayout { Paragraphs, Windows }

/// <summary>
/// Which model calibration activations come from. Dense: the original model, every layer's at once or streamed (the
/// same values). Sequential: layer l sees the outputs of layers 0..l-1 already pruned and compensated, as SparseGPT
/// does (streamed only).
/// </summary>
public enum CaptureMode { Dense, Sequential }

/// <summary>Names of <see cref="CaptureMode"/> in plans and flags.</summary>
public static class CaptureModes
{
    public static string Name(CaptureMode mode) => mode == CaptureMode.Sequential ? "sequential" : "dense";

    public static CaptureMode Parse(string name, string where) => name switch
    {
        "dense" => CaptureMode.Dense,
        "sequential" => CaptureMode.Sequential,
        _ => throw new BadModelFileException($"{where}: capture '{name}' is not dense or sequential"),
    };
}
