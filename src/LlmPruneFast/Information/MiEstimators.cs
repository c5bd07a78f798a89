namespace LlmPruneFast.Information;

/// <summary>Creates estimators by name: the one entry point the CLI and the pruning stage use.</summary>
public static class MiEstimators
{
    /// <summary>Accepted names, in the order the CLI lists them.</summary>
    public static readonly IReadOnlyList<string> Names = ["plugin", "ksg", "renyi", "copula"];

    /// <summary>
    /// A CPU estimator: "plugin" (<see cref="PluginEstimator"/>: Bins, MillerMadow), "ksg" (<see cref="KsgEstimator"/>:
    /// K, ClipNegative, Jitter), "renyi" (<see cref="RenyiEstimator"/>: Alpha, Bandwidth, Seed) or "copula"
    /// (<see cref="CopulaEstimator"/>). Other names throw <see cref="BadArgumentException"/>. For a device-specific
    /// implementation use <see cref="MiBackends.Resolve"/> and the backend's Create.
    /// </summary>
    public static IMutualInformationEstimator Create(string name, MiEstimatorOptions? options = null)
    {
        options ??= new MiEstimatorOptions();
        return name.Trim().ToLowerInvariant() switch
        {
            "plugin" => new PluginEstimator(options.Bins, options.MillerMadow),
            "ksg" => new KsgEstimator(options.K, options.ClipNegative, options.Jitter),
            "renyi" => new RenyiEstimator(options.Alpha, options.Bandwidth, options.Seed),
            "copula" => new CopulaEstimator(),
            _ => throw new BadArgumentException($"unknown estimator '{name}': expected one of {string.Join(", ", Names)}"),
        };
    }
}
