using System.Text.Json;
using LlmPruneFast.Information;

namespace LlmPruneFast.Tests.Information;

/// <summary>The <c>mi</c> verb run as a process, as a user runs it.</summary>
public sealed class MiCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llmprune-mi-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args) => CliRunner.Run(args);

    private static JsonElement LastJson(string stdout) =>
        JsonDocument.Parse(stdout.TrimEnd().Split('\n')[^1]).RootElement;

    /// <summary>S x N row-major raw float32 with column j = sin-like function of column 0 plus noise.</summary>
    private string WriteRaw(int s, int n, out float[] rowMajor, string name = "z.f32")
    {
        var rng = new Random(n * 31 + s);
        rowMajor = new float[s * n];
        for (int i = 0; i < s; i++)
        {
            float x = (float)(rng.NextDouble() * 4 - 2);
            for (int j = 0; j < n; j++) rowMajor[i * n + j] = j == 0 ? x : (float)(Math.Sin(x * (j + 1)) + 0.3 * rng.NextDouble());
        }
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, System.Runtime.InteropServices.MemoryMarshal.AsBytes(rowMajor.AsSpan()).ToArray());
        return path;
    }

    [SharedFact]
    public void Pair_json_reports_reference_plugin_value()
    {
        var file = Path.Combine(SharedData.MiReferenceDir, "sine_noise.f32");
        var (code, stdout, _) = Run("mi", "--input", file, "--cols", "2", "--pair", "0,1", "--bins", "32", "--json");
        Assert.Equal(0, code);
        var j = LastJson(stdout);
        Assert.Equal(MiReference.Case("sine_noise").Plugin(32), j.GetProperty("mi").GetDouble(), 1e-9);
        Assert.Equal("plugin", j.GetProperty("estimator").GetString());
        Assert.Equal("nats", j.GetProperty("units").GetString());
        Assert.Equal(32, j.GetProperty("params").GetProperty("bins").GetInt32());
    }

    [SharedFact]
    public void Ksg_pair_via_k_flag()
    {
        var file = Path.Combine(SharedData.MiReferenceDir, "gauss_rho0.9.f32");
        var (code, stdout, _) = Run("mi", "--input", file, "--cols", "2", "--pair", "1,0", "--estimator", "ksg", "--k", "5", "--json");
        Assert.Equal(0, code);
        double expected = new KsgEstimator(5).Estimate(MiReference.Case("gauss_rho0.9").Y, MiReference.Case("gauss_rho0.9").X);
        Assert.Equal(expected, LastJson(stdout).GetProperty("mi").GetDouble(), 1e-15);
        Assert.Equal(5, LastJson(stdout).GetProperty("params").GetProperty("k").GetInt32());
    }

    [Theory]
    [InlineData("m.f32")]
    [InlineData("m.npy")]
    public void All_pairs_out_writes_symmetric_matrix_equal_to_pair_estimates(string outName)
    {
        var input = WriteRaw(301, 5, out var rows);
        var outPath = Path.Combine(_dir, outName);
        var (code, stdout, err) = Run("mi", "--input", input, "--cols", "5", "--all-pairs", "--bins", "8", "--out", outPath, "--json");
        Assert.True(code == 0, err);
        Assert.Equal(10, LastJson(stdout).GetProperty("pairs").GetInt64());
        var m = outName.EndsWith(".npy") ? ActivationFiles.Read(outPath, 5) : ActivationFiles.Read(outPath, 5);
        Assert.Equal(5, m.Rows);
        var z = ActivationMatrix.FromRowMajor(301, 5, rows);
        var est = new PluginEstimator(8, false);
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
            {
                float expected = i == j ? 0f : (float)est.Estimate(z.Column(i), z.Column(j));
                Assert.Equal(expected, m[i, j]);
            }
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*"));
    }

    [Fact]
    public void Npy_input_in_c_and_fortran_order_and_f8_gives_the_raw_result()
    {
        var raw = WriteRaw(200, 3, out var rows);
        double Mi(string path) => LastJson(Run("mi", "--input", path, "--cols", "3", "--pair", "0,2", "--estimator", "copula", "--json").Out).GetProperty("mi").GetDouble();
        double expected = Mi(raw);

        var c = Path.Combine(_dir, "c.npy");
        File.WriteAllBytes(c, [.. ActivationFiles.NpyHeader("<f4", 200, 3), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan()).ToArray()]);
        Assert.Equal(expected, Mi(c));

        var colMajor = ActivationMatrix.FromRowMajor(200, 3, rows).ColumnMajorData.ToArray();
        var f = Path.Combine(_dir, "f.npy");
        File.WriteAllBytes(f, [.. ActivationFiles.NpyHeader("<f4", 200, 3, fortranOrder: true), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(colMajor.AsSpan()).ToArray()]);
        Assert.Equal(expected, Mi(f));

        var d = Path.Combine(_dir, "d.npy");
        var doubles = rows.Select(v => (double)v).ToArray();
        File.WriteAllBytes(d, [.. ActivationFiles.NpyHeader("<f8", 200, 3), .. System.Runtime.InteropServices.MemoryMarshal.AsBytes(doubles.AsSpan()).ToArray()]);
        Assert.Equal(expected, Mi(d));
    }

    [Fact]
    public void Pairs_file_accepts_comma_and_space_lines()
    {
        var input = WriteRaw(128, 4, out _);
        var pairs = Path.Combine(_dir, "pairs.txt");
        File.WriteAllText(pairs, "# pairs\n0,1\n2 3\n\n1,3\n");
        var (code, stdout, _) = Run("mi", "--input", input, "--cols", "4", "--pairs", pairs, "--estimator", "renyi", "--json");
        Assert.Equal(0, code);
        var arr = LastJson(stdout).GetProperty("pairs");
        Assert.Equal(3, arr.GetArrayLength());
        Assert.Equal(2, arr[1].GetProperty("i").GetInt32());
        Assert.Equal("bits", LastJson(stdout).GetProperty("units").GetString());
    }

    [Fact]
    public void Errors_have_distinct_exit_codes_and_one_line()
    {
        var input = WriteRaw(50, 3, out var rows);
        // size not a multiple of N*4
        var (code, _, err) = Run("mi", "--input", input, "--cols", "4", "--pair", "0,1");
        Assert.Equal(ExitCodes.BadData, code);
        Assert.Contains("not a multiple of N x 4 = 16 bytes", err);
        Assert.Single(err.TrimEnd().Split('\n'));
        // missing file
        Assert.Equal(ExitCodes.MissingInput, Run("mi", "--input", Path.Combine(_dir, "nope"), "--cols", "3", "--pair", "0,1").Code);
        // no mode / two modes / bad pair / out of range / unknown estimator / bad device / cuda absent
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3").Code);
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3", "--pair", "0,1", "--all-pairs").Code);
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3", "--pair", "0;x").Code);
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3", "--pair", "0,3").Code);
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3", "--pair", "0,1", "--estimator", "mine").Code);
        Assert.Equal(ExitCodes.BadArgument, Run("mi", "--input", input, "--cols", "3", "--pair", "0,1", "--device", "tpu").Code);
        var cuda = Run("mi", "--input", input, "--cols", "3", "--pair", "0,1", "--device", "cuda");
        Assert.Equal(ExitCodes.DeviceUnavailable, cuda.Code);
        Assert.Contains("no CUDA", cuda.Err);
        // too few samples for the bins
        Assert.Equal(ExitCodes.BadData, Run("mi", "--input", input, "--cols", "3", "--pair", "0,1", "--bins", "64").Code);
        // NaN in the file
        rows[7 * 3 + 2] = float.NaN;
        File.WriteAllBytes(input, System.Runtime.InteropServices.MemoryMarshal.AsBytes(rows.AsSpan()).ToArray());
        var nan = Run("mi", "--input", input, "--cols", "3", "--pair", "0,1");
        Assert.Equal(ExitCodes.BadData, nan.Code);
        Assert.Contains("NaN at column 2, row 7", nan.Err);
        // bad .npy dtype
        var bad = Path.Combine(_dir, "bad.npy");
        File.WriteAllBytes(bad, [.. ActivationFiles.NpyHeader("<i4", 2, 3), .. new byte[24]]);
        var dtype = Run("mi", "--input", bad, "--cols", "3", "--pair", "0,1");
        Assert.Equal(ExitCodes.BadData, dtype.Code);
        Assert.Contains("'<i4'", dtype.Err);
    }
}
