namespace LlmPruneFast.Cli;

/// <summary>
/// <c>--threads</c> as used: negative is refused, more than the processor count is capped with a note. Why: 1,000
/// ONNX Runtime threads on a few cores made eval 75x slower and prune never finish.
/// </summary>
internal static class ThreadCount
{
    public static int Cap(int requested, TextWriter? notes = null)
    {
        if (requested < 0) throw new BadArgumentException($"--threads must be 0 (one per processor) or positive, got {requested}");
        int cores = Environment.ProcessorCount;
        if (requested <= cores) return requested;
        (notes ?? Console.Error).WriteLine($"note: --threads {requested} capped at the {cores} processors of this machine");
        return cores;
    }
}
