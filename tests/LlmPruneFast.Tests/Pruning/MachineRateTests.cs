using LlmPruneFast.Pruning;

namespace LlmPruneFast.Tests.Pruning;

public sealed class MachineRateTests
{
    /// <summary>The plans' rate is measured on OpenBLAS (build.sh installs it): a finite, plausible rate for any CPU of the last decade, stated as measured.</summary>
    [Fact]
    public void RateIsMeasuredOnOpenBlas_AndPlausible()
    {
        Assert.True(NativeBlas.Available, NativeBlas.Unavailable);
        double rate = MachineRate.FlopsPerThread;
        Assert.InRange(rate, 1e8, 1e12); // 0.1 to 1000 Gflop/s per thread, whatever the load
        Assert.StartsWith("at the measured ", MachineRate.Describe());
        Assert.Equal(rate, MachineRate.FlopsPerThread); // once per process
    }
}
