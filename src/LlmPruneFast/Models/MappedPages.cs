using System.Runtime.InteropServices;

namespace LlmPruneFast.Models;

/// <summary>
/// Drops a read-only file mapping's resident pages from this process (Linux <c>madvise(MADV_DONTNEED)</c>; elsewhere
/// nothing). The bytes stay in the page cache and the next read maps them again, but they no longer count in the
/// process's resident set: a pass over a checkpoint larger than memory (open's finite scan, the layer stream, the
/// write) then holds about one tensor of it resident, not every page it touched.
/// </summary>
internal static partial class MappedPages
{
    private const int MadvDontNeed = 4;
    private static readonly long PageSize = Environment.SystemPageSize;
    private static bool _unavailable;

    /// <summary>
    /// Releases the whole pages inside [<paramref name="start"/>, + <paramref name="length"/>) (pages shared with
    /// neighbouring bytes are kept). True when the kernel took the advice.
    /// </summary>
    public static unsafe bool Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || _unavailable || length <= 0) return false;
        long from = ((long)start + PageSize - 1) / PageSize * PageSize;
        long to = ((long)start + length) / PageSize * PageSize;
        if (to <= from) return false;
        try
        {
            return Madvise((nint)from, (nuint)(to - from), MadvDontNeed) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _unavailable = true;   // a C library without madvise: the pages stay until the kernel reclaims them
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
