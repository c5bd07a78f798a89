namespace LlmPruneFast.Tests;

/// <summary>
/// Locates ../shared (models, text, reference values) from the repository root. Tests that need it use
/// <see cref="SharedFactAttribute"/>, which skips them with a clear message only when the folder is absent.
/// </summary>
public static class SharedData
{
    public static readonly string? Root = Find();

    private static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("LLMPRUNE_SHARED");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return Path.GetFullPath(env);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "LlmPruneFast.sln")))
            {
                var shared = Path.Combine(dir.FullName, "..", "shared");
                return Directory.Exists(shared) ? Path.GetFullPath(shared) : null;
            }
        }
        return null;
    }

    public const string MissingMessage = "../shared is absent (set LLMPRUNE_SHARED or place shared/ beside the repository)";

    /// <summary>Absolute path of a file under ../shared; only call from a test marked <see cref="SharedFactAttribute"/>.</summary>
    public static string Path_(string relative) => System.IO.Path.Combine(Root ?? throw new InvalidOperationException(MissingMessage), relative);

    public static string Stories260KBin => Path_("models/stories260K/stories260K.bin");
    public static string Stories260KTokenizer => Path_("models/stories260K/tok512.model");
    public static string TinyStories => Path_("corpora/tinystories/valid-sample.txt");
    public static string Stories260KReference => Path_("reference/stories260K.json");
    public static string MiReferenceDir => Path_("reference/mi");
}

/// <summary>A fact that needs ../shared: skipped, with a message saying so, only when it is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (SharedData.Root == null) Skip = SharedData.MissingMessage;
    }
}

/// <summary>A theory that needs ../shared: skipped, with a message saying so, only when it is absent.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (SharedData.Root == null) Skip = SharedData.MissingMessage;
    }
}
