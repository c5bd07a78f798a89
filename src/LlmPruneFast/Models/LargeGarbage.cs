namespace LlmPruneFast.Models;

/// <summary>
/// Collects the large temporary arrays a streaming pass drops (one tensor widened, transposed, written, dropped) once
/// they add up to a budget. The collector alone lets such garbage pile up to gigabytes on a machine with free memory
/// (measured: 2.6 GB while writing the 1.1B shape); a blocking collection when almost nothing is live costs
/// milliseconds against the seconds of I/O it follows, and keeps the peak near the live set.
/// </summary>
internal sealed class LargeGarbage(long budgetBytes = LargeGarbage.DefaultBudgetBytes)
{
    public const long DefaultBudgetBytes = 512L << 20;
    private const long MinBudgetBytes = 64L << 20;

    /// <summary>
    /// The budget for a pass whose largest tensor is <paramref name="largestFloat32Bytes"/> once widened: two of them
    /// (a read and its transposed copy), between 64 and 512 MiB. A fixed 512 MiB let the garbage of a 134M model's
    /// write pile up to half again its whole working set (peak 1,061 MiB against 752 before the write).
    /// </summary>
    public static long BudgetFor(long largestFloat32Bytes) => Math.Clamp(2 * largestFloat32Bytes, MinBudgetBytes, DefaultBudgetBytes);

    /// <summary>A counter sized by <see cref="BudgetFor"/> for the largest of <paramref name="tensors"/>.</summary>
    public static LargeGarbage For(ITensorSource tensors) =>
        new(BudgetFor(tensors.Names.Max(n => tensors.GetInfo(n).ElementCount) * sizeof(float)));

    private long _dropped;

    /// <summary>Counts <paramref name="bytes"/> of arrays just dropped; collects when the budget is reached.</summary>
    public void Dropped(long bytes)
    {
        _dropped += bytes;
        if (_dropped < budgetBytes) return;
        _dropped = 0;
        Collect();
    }

    /// <summary>
    /// A full collection that also gives the freed memory back to the system. Between stages only: after a layer stage
    /// the collector keeps its freed regions committed (a 134M prune held 661 MiB before its write, 124 MiB after this),
    /// but doing it per layer costs a quarter of a 7B prune's time in page faults (perf/RESULTS.md, "LLM scale").
    /// </summary>
    public static void ReturnToSystem() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    /// <summary>
    /// A full blocking collection. The large-object heap is not compacted: that copied every live large array (the
    /// activation store, the hidden states) at each call, 4.1 of a 134M prune's ~40 s and 2.3 s per 7B layer in GC
    /// pauses, while its freed blocks are reused by the next layer's arrays of the same sizes anyway (peaks within 4%).
    /// </summary>
    public static void Collect() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
}
