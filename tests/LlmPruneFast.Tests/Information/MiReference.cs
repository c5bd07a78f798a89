using System.Text.Json;

namespace LlmPruneFast.Tests.Information;

/// <summary>One case of ../shared/reference/mi/mi_reference.json with its (x, y) samples.</summary>
public sealed record MiCase(string Name, float[] X, float[] Y, double? Analytic, JsonElement Json)
{
    public override string ToString() => Name;

    public double Ksg(int k) => Json.GetProperty("ksg_sklearn_nats_by_k").GetProperty(k.ToString()).GetDouble();
    public double Plugin(int bins) => Json.GetProperty("plugin_quantile_bins_nats_by_bins").GetProperty(bins.ToString()).GetDouble();
    public double Renyi(double alpha) => Json.GetProperty("renyi_matrix_bits").GetProperty(alpha == 2 ? "alpha=2.0" : $"alpha={alpha}").GetDouble();
    public double SigmaX => Json.GetProperty("renyi_sigma_x").GetDouble();
    public double SigmaY => Json.GetProperty("renyi_sigma_y").GetDouble();
}

/// <summary>Loads the MI reference cases (only from tests marked SharedFact/SharedTheory).</summary>
public static class MiReference
{
    private static readonly Lazy<IReadOnlyList<MiCase>> Cached = new(Load);

    public static IReadOnlyList<MiCase> Cases => Cached.Value;

    public static MiCase Case(string name) => Cases.Single(c => c.Name == name);

    /// <summary>Case names for [MemberData]; a fixed list so test discovery does not need ../shared.</summary>
    public static readonly string[] Names =
    [
        "gauss_rho0.0", "gauss_rho0.3", "gauss_rho0.6", "gauss_rho0.9", "gauss_rho0.99",
        "square_noise", "sine_noise", "silu_gate", "heavy_tail_lognormal",
    ];

    private static IReadOnlyList<MiCase> Load()
    {
        var dir = SharedData.MiReferenceDir;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "mi_reference.json")));
        var list = new List<MiCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, c.GetProperty("file").GetString()!));
            var all = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            int n = c.GetProperty("n").GetInt32();
            Assert.Equal(2 * n, all.Length);
            var x = new float[n];
            var y = new float[n];
            for (int i = 0; i < n; i++) { x[i] = all[2 * i]; y[i] = all[2 * i + 1]; }
            var analytic = c.GetProperty("analytic_mi_nats");
            list.Add(new MiCase(c.GetProperty("name").GetString()!, x, y,
                analytic.ValueKind == JsonValueKind.Null ? null : analytic.GetDouble(), c.Clone()));
        }
        Assert.Equal(Names, list.Select(c => c.Name).ToArray());
        return list;
    }
}
