namespace LlmPruneFast.Fuzz;

/// <summary>Writes one small valid input per target into DIR/TARGET/seed, the starting corpus for afl-fuzz.</summary>
public static class Seeds
{
    public static void Write(string dir)
    {
        foreach (var (target, bytes) in Build())
        {
            Directory.CreateDirectory(Path.Combine(dir, target));
            File.WriteAllBytes(Path.Combine(dir, target, "seed"), bytes);
        }
    }

    private static IEnumerable<(string, byte[])> Build()
    {
        var config = new Models.LlamaConfig
        {
            HiddenSize = 8, IntermediateSize = 12, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1, HeadDim = 4,
            VocabSize = 16, MaxPositionEmbeddings = 32, TieWordEmbeddings = true,
        };
        yield return ("config", System.Text.Encoding.UTF8.GetBytes(Models.HfConfig.ToJson(config)));
        var tensors = new Models.InMemoryTensorSource();
        var rng = new Random(1);
        foreach (var (name, shape) in Models.LlamaTensorShapes.Expected(config))
            tensors.Add(name, shape, Enumerable.Range(0, (int)shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)rng.NextDouble()).ToArray());
        string tmp = Path.Combine(Path.GetTempPath(), $"llmprune-seed-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(tmp);
            Models.SafeTensorsWriter.Write(Path.Combine(tmp, "m.safetensors"), tensors);
            yield return ("safetensors", File.ReadAllBytes(Path.Combine(tmp, "m.safetensors")));
            Information.ActivationFiles.WriteMatrix(Path.Combine(tmp, "z.npy"), Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i)).ToArray(), 8, 3);
            yield return ("npy", File.ReadAllBytes(Path.Combine(tmp, "z.npy")));
        }
        finally { Directory.Delete(tmp, recursive: true); }
        // llama2.c: dim 4, hidden 6, 1 layer, 2 heads, 1 kv head, vocab 6 (tied), seq 3, then the floats.
        var bin = new List<byte>();
        foreach (var v in new[] { 4, 6, 1, 2, 1, 6, 3 }) bin.AddRange(BitConverter.GetBytes(v));
        int floats = 6 * 4 + 4 + 16 + 2 * 8 + 16 + 4 + 3 * 24 + 4 + 3 * 1 * 2;
        for (int i = 0; i < floats; i++) bin.AddRange(BitConverter.GetBytes(i * 0.01f));
        yield return ("llama2c", [.. bin]);
        var graph = new Models.Onnx.Proto.GraphProto { Name = "g" };
        var w = new Models.Onnx.Proto.TensorProto { Name = "w", DataType = 1, RawData = Google.Protobuf.ByteString.CopyFrom(new byte[16]) };
        w.Dims.Add(4);
        graph.Initializer.Add(w);
        yield return ("onnx", Google.Protobuf.MessageExtensions.ToByteArray(new Models.Onnx.Proto.ModelProto { IrVersion = 8, Graph = graph }));
    }
}
