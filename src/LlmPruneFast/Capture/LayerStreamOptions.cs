namespace LlmPruneFast.Capture;

/// <summary>How a layer-by-layer run (a family's layer stream, or its layer-streamed evaluation) runs.</summary>
public sealed record LayerStreamOptions
{
    /// <summary>ONNX Runtime intra-op threads (0 = one per processor).</summary>
    public int Threads { get; init; }

    /// <summary>Carried hidden states larger than this go to a memory-mapped scratch file (default: always in memory).</summary>
    public long HiddenInMemoryLimitBytes { get; init; } = long.MaxValue;

    /// <summary>Folder of the scratch file (null = the system temp folder).</summary>
    public string? ScratchFolder { get; init; }

    /// <summary>Run the layer graph on ONNX Runtime's CUDA provider (see <see cref="CalibrationOptions.Cuda"/>).</summary>
    public bool Cuda { get; init; }
}
