using System.Text.Json;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Tests.Models;
using LlmPruneFast.Tests.Models.OnnxGraph;

namespace LlmPruneFast.Tests.Cli;

public sealed class InspectCommandTests
{
    [Fact]
    public void Json_ListsBlocks_InputsOutputs_AndRejectedCandidates()
    {
        using var dir = new TempFolder();
        OnnxModelFile.Save(FfnGraphs.Build(new FfnGraphShape { Gated = true, Activation = "silu" }), dir["model.onnx"]);
        var (code, output, err) = CliRunner.Run("inspect", "--model", dir.Path, "--json");
        Assert.True(code == 0, err);
        Assert.Contains("2 FFN block(s)", output);
        using var json = JsonDocument.Parse(output.TrimEnd().Split('\n')[^1]);
        var blocks = json.RootElement.GetProperty("ffn_blocks");
        Assert.Equal(2, blocks.GetArrayLength());
        Assert.All(blocks.EnumerateArray(), b =>
        {
            Assert.Equal(10, b.GetProperty("width").GetInt32());
            Assert.Equal("swiglu", b.GetProperty("activation").GetString());
        });
        Assert.Equal(["x"], json.RootElement.GetProperty("inputs").EnumerateArray().Select(e => e.GetString()));
        Assert.True(json.RootElement.GetProperty("prunable").GetBoolean());
    }

    [Fact]
    public void MissingModel_IsOneErrorLine()
    {
        using var dir = new TempFolder();
        var (code, _, err) = CliRunner.Run("inspect", "--model", dir.Path);
        Assert.Equal(ExitCodes.MissingInput, code);
        Assert.StartsWith("error: ", err);
        Assert.Contains("model.onnx", err);
    }
}
