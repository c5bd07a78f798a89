using System.Text.Json;
using CommandLine;
using CommandLine.Text;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Models.OnnxGraph;

namespace LlmPruneFast.Cli.Commands;

/// <summary><c>llmprune inspect</c>: what the generic ONNX path sees in a graph.</summary>
[Verb("inspect", HelpText = "List the FFN blocks found in an ONNX graph (width, activation, parameters), its inputs and outputs, and why other candidates were not taken.")]
public sealed class InspectCommand : ICommand
{
    [Option("model", Required = true, HelpText = "A model.onnx, or a folder holding one (external data beside it).")]
    public string Model { get; set; } = "";

    [Option("json", HelpText = "End the output with one JSON object (ffn_blocks, positions, inputs, outputs, rejected).")]
    public bool Json { get; set; }

    [Usage(ApplicationAlias = "llmprune")]
    public static IEnumerable<Example> Examples =>
    [
        new("What would be pruned in a graph", HelpExamples.Plain, new InspectCommand { Model = "models/minilm" }),
    ];

    public int Run(CancellationToken cancellationToken)
    {
        var model = OnnxGraphModel.Open(Model);
        var o = Console.Out;
        o.WriteLine($"model      {model.Path} (opset {string.Join(", ", model.Model.OpsetImport.Select(s => $"{(s.Domain.Length == 0 ? "ai.onnx" : s.Domain)} {s.Version}"))}, IR {model.Model.IrVersion}, producer {model.Model.ProducerName})");
        o.WriteLine($"parameters {OnnxGraphModel.Parameters(model.Model):N0}{(model.ExternalFiles.Count > 0 ? $", external data in {string.Join(", ", model.ExternalFiles)}" : "")}");
        o.WriteLine(model.PositionLimit is { } limit
            ? $"positions  {limit.Positions:N0} (position table read by {limit.Node}; longer sequences are cut to it)"
            : "positions  not stated by the graph (sequences are cut at the tool's defaults)");
        foreach (var i in model.Inputs) o.WriteLine($"input      {Describe(i)}");
        foreach (var x in model.Outputs) o.WriteLine($"output     {Describe(x)}");
        o.WriteLine();
        o.WriteLine($"{model.Blocks.Count} FFN block(s)");
        foreach (var b in model.Blocks)
            o.WriteLine($"  block {b.Index,-3} width {b.Width,6}  hidden {b.Hidden,6}  {b.Activation,-10} {b.Parameters,12:N0} params  activation '{b.ActivationTensor}' -> {GraphIndex.Describe(b.DownNode)}");
        if (model.Search.Rejected.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("not taken");
            foreach (var r in model.Search.Rejected)
                o.WriteLine($"  {(r.Fatal ? "REFUSED " : "")}{r.Node}: {r.Reason}");
        }
        if (Json)
        {
            var json = new Dictionary<string, object?>
            {
                ["model"] = model.Path,
                ["parameters"] = OnnxGraphModel.Parameters(model.Model),
                ["positions"] = model.PositionLimit?.Positions,
                ["prunable"] = model.Blocks.Count > 0 && !model.Search.Rejected.Any(r => r.Fatal),
                ["ffn_blocks"] = model.Blocks.Select(b => new Dictionary<string, object?>
                {
                    ["index"] = b.Index,
                    ["width"] = b.Width,
                    ["hidden"] = b.Hidden,
                    ["activation"] = b.Activation,
                    ["gated"] = b.Gated,
                    ["params"] = b.Parameters,
                    ["activation_tensor"] = b.ActivationTensor,
                    ["down_node"] = b.DownNode.Name,
                }).ToArray(),
                ["inputs"] = model.Inputs.Select(i => i.Name).ToArray(),
                ["outputs"] = model.Outputs.Select(i => i.Name).ToArray(),
                ["rejected"] = model.Search.Rejected.Select(r => new Dictionary<string, object?> { ["node"] = r.Node, ["reason"] = r.Reason, ["fatal"] = r.Fatal }).ToArray(),
            };
            o.WriteLine(JsonSerializer.Serialize(json));
        }
        return ExitCodes.Ok;
    }

    private static string Describe(ValueInfoProto v)
    {
        var t = v.Type?.TensorType;
        if (t == null) return v.Name;
        string dims = t.Shape == null ? "?" : string.Join(", ", t.Shape.Dim.Select(d => d.DimParam.Length > 0 ? d.DimParam : d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return $"{v.Name} {(TensorProto.Types.DataType)t.ElemType} [{dims}]";
    }
}
