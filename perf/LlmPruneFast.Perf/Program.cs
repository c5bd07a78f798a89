namespace LlmPruneFast.Perf;

/// <summary>Benchmark entry: `dotnet run -c Release -- SUITE [options]`. Suites register themselves in <see cref="Suites"/>.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 0 || !Suites.All.TryGetValue(args[0], out var run))
        {
            Console.Error.WriteLine($"usage: LlmPruneFast.Perf SUITE [options]; suites: {string.Join(", ", Suites.All.Keys.Order())}");
            return 2;
        }
        return run(args[1..]);
    }
}

/// <summary>Name -> benchmark suite. Each suite prints its figures and the ratio to its peer.</summary>
public static partial class Suites
{
    public static readonly Dictionary<string, Func<string[], int>> All = new(StringComparer.OrdinalIgnoreCase);
}
