using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace LlmPruneFast.Kernels.Acceleration;

/// <summary>
/// Owns one ILGPU <see cref="Context"/> (with the Algorithms extension: XMath, cuBLAS) and one <see cref="Accelerator"/>,
/// plus the kernels loaded on it (compiled once per accelerator and reused) and, on CUDA, a cuBLAS handle.
/// Disposing releases all of them. Not thread-safe: use one instance per thread of work.
/// </summary>
public sealed class MiAccelerator : IDisposable
{
    private static readonly Lazy<(bool Available, string Description)> CudaProbe = new(ProbeCuda);

    private readonly Context _context;
    private readonly Dictionary<string, Delegate> _kernels = new(StringComparer.Ordinal);
    private CuBlas<CuBlasPointerModeHandlers.AutomaticMode>? _cuBlas;
    private bool _disposed;

    /// <summary>The ILGPU accelerator; kernels and buffers of this instance live on it.</summary>
    public Accelerator Accelerator { get; }

    /// <summary>The kind actually created (never <see cref="MiAcceleratorKind.Auto"/>).</summary>
    public MiAcceleratorKind Kind { get; }

    /// <summary>True on a CUDA accelerator.</summary>
    public bool IsCuda => Kind == MiAcceleratorKind.Cuda;

    /// <summary>
    /// Threads per group used by the grouped kernels: the largest power of two &lt;= min(256, the accelerator's limit)
    /// (256 on CUDA, 16 on the CPU accelerator). Group reductions need a power of two.
    /// </summary>
    public int GroupSize { get; }

    /// <summary>Edge of the square thread group of the tiled GEMM: floor(sqrt(GroupSize)) (16 on CUDA, 4 on the CPU accelerator).</summary>
    public int GemmTile { get; }

    /// <summary>A one-line description (device name, memory) for logs and reports.</summary>
    public string Description => $"{Kind}: {Accelerator.Name} ({Accelerator.MemorySize / (1024 * 1024)} MiB, group {GroupSize})";

    /// <summary>True when ILGPU finds at least one CUDA device (probed once per process).</summary>
    public static bool CudaAvailable => CudaProbe.Value.Available;

    /// <summary>What the CUDA probe found: the first device's name, or why there is none (for error messages).</summary>
    public static string CudaProbeDescription => CudaProbe.Value.Description;

    private MiAccelerator(Context context, Accelerator accelerator, MiAcceleratorKind kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
        int limit = Math.Min(256, accelerator.MaxNumThreadsPerGroup);
        GroupSize = 1 << (31 - System.Numerics.BitOperations.LeadingZeroCount((uint)limit));
        GemmTile = (int)Math.Sqrt(GroupSize);
    }

    /// <summary>
    /// Creates the accelerator: <paramref name="kind"/> Cuda -> the first CUDA device or
    /// <see cref="AcceleratorUnavailableException"/>; Cpu -> the ILGPU CPU accelerator with one multiprocessor per core;
    /// Auto -> CUDA when <see cref="CudaAvailable"/>, else CPU. <paramref name="cpuThreadsPerGroup"/> (a power of two,
    /// 1..256) sets the CPU accelerator's group size: every thread of a group is an OS thread meeting at barriers, so
    /// small groups run faster there, while the default 16 exercises the group code paths (reductions, atomics) in tests.
    /// </summary>
    public static MiAccelerator Create(MiAcceleratorKind kind = MiAcceleratorKind.Auto, int cpuThreadsPerGroup = 16)
    {
        if (cpuThreadsPerGroup < 1 || cpuThreadsPerGroup > 256 || (cpuThreadsPerGroup & (cpuThreadsPerGroup - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(cpuThreadsPerGroup), cpuThreadsPerGroup, "must be a power of two in [1, 256]");
        if (kind == MiAcceleratorKind.Auto) kind = CudaAvailable ? MiAcceleratorKind.Cuda : MiAcceleratorKind.Cpu;
        if (kind == MiAcceleratorKind.Cuda && !CudaAvailable)
            throw new AcceleratorUnavailableException($"--device cuda: no CUDA device found ({CudaProbe.Value.Description}); use --device cpu or auto");

        var context = Context.Create(builder =>
        {
            if (kind == MiAcceleratorKind.Cuda) builder.Cuda();
            builder.EnableAlgorithms();
        });
        try
        {
            Accelerator accelerator = kind == MiAcceleratorKind.Cuda
                ? context.CreateCudaAccelerator(0)
                // The default CPU device simulates a single multiprocessor; give it one per core so groups run in parallel.
                : new CPUDevice(numThreadsPerWarp: Math.Min(4, cpuThreadsPerGroup), numWarpsPerMultiprocessor: Math.Max(1, cpuThreadsPerGroup / 4),
                        numMultiprocessors: Environment.ProcessorCount)
                    .CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
            return new MiAccelerator(context, accelerator, kind);
        }
        catch (Exception e) when (e is not AcceleratorUnavailableException)
        {
            context.Dispose();
            throw new AcceleratorUnavailableException($"cannot create the {kind} accelerator: {e.Message}", e);
        }
    }

    /// <summary>
    /// The kernel named <paramref name="key"/> (unique per kernel: "Class.Method"), loaded with <paramref name="load"/> on first use and cached (ILGPU
    /// compiles a kernel per load; on CUDA that costs tens of milliseconds).
    /// </summary>
    public TDelegate Kernel<TDelegate>(string key, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_kernels.TryGetValue(key, out var kernel))
        {
            kernel = load(Accelerator);
            _kernels[key] = kernel;
        }
        return (TDelegate)kernel;
    }

    /// <summary>
    /// The cuBLAS handle of a CUDA accelerator (created on first use), or null: on the CPU accelerator, or when
    /// cuBLAS cannot be loaded (it ships with the CUDA toolkit, not the driver; CUDA 13's is found through
    /// <see cref="CuBlasLibrary"/>); <see cref="CuBlasUnavailableReason"/> says why.
    /// </summary>
    internal CuBlas<CuBlasPointerModeHandlers.AutomaticMode>? CuBlas
    {
        get
        {
            if (!IsCuda || CuBlasUnavailableReason != null) return null;
            try
            {
                CuBlasLibrary.EnsureFallback();
                return _cuBlas ??= new CuBlas<CuBlasPointerModeHandlers.AutomaticMode>((CudaAccelerator)Accelerator);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or TypeInitializationException or CuBlasException)
            {
                // .NET's DllNotFoundException lists every path it tried, one per line: the first line says what.
                CuBlasUnavailableReason = $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()} (tried also {string.Join(", ", CuBlasLibrary.Fallbacks)})";
                return null;
            }
        }
    }

    /// <summary>True on a CUDA accelerator whose cuBLAS loads (tries to load it on first call).</summary>
    public bool HasCuBlas => CuBlas != null;

    /// <summary>Why cuBLAS is not used on this CUDA accelerator (null while it is, or before the first GEMM).</summary>
    public string? CuBlasUnavailableReason { get; private set; }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _cuBlas?.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }

    private static (bool, string) ProbeCuda()
    {
        try
        {
            using var context = Context.Create(builder => builder.Cuda());
            var devices = context.GetCudaDevices();
            return devices.Count > 0 ? (true, devices[0].Name) : (false, "ILGPU lists no CUDA device");
        }
        catch (Exception e)
        {
            // A missing driver library surfaces as DllNotFoundException/TypeInitializationException: no CUDA here.
            return (false, $"CUDA probe failed: {e.GetType().Name}: {e.Message}");
        }
    }
}
