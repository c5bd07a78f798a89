using System.Runtime;

namespace LlmPruneFast.Models;

/// <summary>
/// Collects the large temporary arrays a streaming pass drops (one tensor widened, transposed, written, dropped) once
/// they add up to a budget. The collector alone lets such garbage pile up to gigabytes on a machine with free memory
/// (measured: 2.6 GB while writing the 1.1B shape); a blocking, compacting collection when almost nothing is live
/// costs milliseconds against the seconds of I/O it follows, and keeps the peak near the live set.
/// </summary>
internal sealed class LargeGarbage(long budgetBytes = LargeGarbage.DefaultBudgetBytes)
{
    public const long DefaultBudgetBytes = 512L << 20;

    private long _dropped;

    /// <summary>Counts <paramref name="bytes"/> of arrays just dropped; collects when the budget is reached.</summary>
    public void Dropped(long bytes)
    {
        _dropped += bytes;
        if (_dropped < budgetBytes) return;
        _dropped = 0;
        Collect();
    }

    /// <summary>A full blocking collection that also compacts the large-object heap.</summary>
    public static void Collect()
    {
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
    }
}
