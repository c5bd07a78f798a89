
namespace LlmPruneFast.Capture;

/// <summary>Progress of a capture: <see cref="Done"/> of <see cref="Total"/> sequences run through the taps graph.</summary>
public readonly record struct CaptureProgress(string Stage, long Done, long Total);

/// <summary>How calibration activations are captured (see <see cref="CalibrationCapture"/>).</summary>
public sealed record CalibrationOptions
{
    /// <summary>Default number of sampled token positions S.</summary>
    public const int DefaultSamples = 8192;

    /// <summary>Default memory budget of the activation store and batch buffers: 4 GiB.</summary>
    public const long DefaultMemoryBudgetBytes = 4L << 30;

    /// <summary>S: token positions sampled (without replacement) from all eligible positions of the text.</summary>
    public int Samples { get; init; } = DefaultSamples;

    /// <summary>Seed of the position sample (and nothing else).</summary>
    public long Seed { get; init; }

    /// <summary>
    /// Whether the BOS position (index 0 of every sequence) may be sampled. Default false: with the same token at the
    /// same position and no context, the BOS position's activations are identical in every sequence, a point mass
    /// that would repeat one row many times and tell nothing about how neurons co-vary.
    /// </summary>
    public bool IncludeBos { get; init; }

    /// <summary>Sequences per ONNX Runtime run.</summary>
    public int BatchSize { get; init; } = 8;

    /// <summary>Tokens per sequence at most; 0 = the model's max_position_embeddings.</summary>
    public int MaxLength { get; init; }

    /// <summary>
    /// Paragraphs at the end of the text kept aside (never sampled) as held-out sequences, e.g. for the KL criterion
    /// of mi-random-pairs. 0 = none.
    /// </summary>
    public int HeldOutSequences { get; init; }

    /// <summary>
    /// What a calibration sequence is (see <see cref="CalibrationLayout"/>). Windows by default; models whose
    /// sequences are single texts (encoders) always use paragraphs.
    /// </summary>
    public CalibrationLayout Layout { get; init; } = CalibrationLayout.Windows;

    /// <summary>
    /// N: calibration sequences, drawn seeded; the S positions are sampled inside those only, so capture runs at most
    /// N x <see cref="SequenceLength"/> tokens whatever the text's size. 0 (the default): windows, the fewest that hold
    /// S positions, so capture runs about S tokens; paragraphs, every paragraph whole.
    /// </summary>
    public int Sequences { get; init; }

    /// <summary>L: tokens per calibration window at most (with paragraphs, the cut when <see cref="Sequences"/> is set).</summary>
    public int SequenceLength { get; init; } = DefaultSequenceLength;

    /// <summary>
    /// Default L: 256 tokens, longer than most paragraphs of short-story text and a quarter of the memory of attention
    /// at 512; S = 8192 then runs about 8.4K tokens: seconds on a CPU for small models, minutes per 7B layer.
    /// </summary>
    public const int DefaultSequenceLength = 256;

    /// <summary>These options with the calibration a plan recorded (text layout, N, L, S and seed), to capture it again.</summary>
    public CalibrationOptions Reproducing(CalibrationInfo info) => this with
    {
        Samples = checked((int)info.Tokens),
        Seed = info.Seed,
        Layout = info.Layout,
        Sequences = info.Sequences,
        SequenceLength = info.Sequences > 0 ? info.SequenceLength : SequenceLength,
    };

    /// <summary>Activation store + batch buffers must fit in this many bytes, or capture refuses to start.</summary>
    public long MemoryBudgetBytes { get; init; } = DefaultMemoryBudgetBytes;

    /// <summary>ONNX Runtime intra-op threads (0 = one per processor).</summary>
    public int Threads { get; init; }

    /// <summary>Run the taps graph on ONNX Runtime's CUDA provider (<see cref="Devices.ComputeDevice.OnnxCuda"/>).</summary>
    public bool Cuda { get; init; }
}
