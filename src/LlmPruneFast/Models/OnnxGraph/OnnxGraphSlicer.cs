using System.Runtime.InteropServices;
using Google.Protobuf;
using LlmPruneFast.Models.Onnx;
using LlmPruneFast.Models.Onnx.Proto;
using LlmPruneFast.Pruning;

namespace LlmPruneFast.Models.OnnxGraph;

/// <summary>
/// Writes the pruned copy of a foreign ONNX graph: the FFN initializers sliced (gate/up rows or columns, up/gate
/// biases, fused Split sizes), the compensated down projection written back in its own layout, the compensation
/// constant in the down bias (an initializer and an Add node are added when the graph has none). Everything else —
/// inputs, outputs, opset, IR version, metadata, external-data layout — is the source's. The source is only read.
/// </summary>
public static class OnnxGraphSlicer
{
    /// <summary>The pruned model in memory.</summary>
    /// <exception cref="BadArgumentException">The sliced layers do not match the graph's blocks.</exception>
    public static ModelProto Slice(OnnxGraphModel source, IReadOnlyList<SlicedFfnLayer> layers)
    {
        var blocks = source.Blocks;
        if (layers.Count != blocks.Count) throw new BadArgumentException($"{layers.Count} sliced layers for a graph of {blocks.Count} FFN blocks");
        var model = source.Model.Clone();
        var graph = model.Graph;
        var byName = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var nodes = new Dictionary<string, NodeProto>(StringComparer.Ordinal); // by first output, to find the clone of a block's node
        foreach (var n in graph.Node) if (n.Output.Count > 0) nodes[n.Output[0]] = n;
        var internalValues = new HashSet<string>(StringComparer.Ordinal);
        for (int l = 0; l < blocks.Count; l++)
        {
            var b = blocks[l];
            var x = layers[l];
            if (x.Index != l || x.Hidden != b.Hidden || x.Width < 1)
                throw new BadArgumentException($"sliced layer {x.Index} (hidden {x.Hidden}, width {x.Width}) does not fit FFN block {l} (hidden {b.Hidden})");
            int k = x.Width;
            long[]? splitSizes = b.Split is { } sp
                ? FfnBlockFinder.SplitSizes(source.Index, sp, (int)source.Index.Initializer(b.Up.Initializer)!.Dims[b.Up.NeuronAxis])
                : null;
            // gate and up: one tensor may hold both (fused); keep the kept neurons of every slice it holds.
            foreach (var group in new[] { b.Gate, b.Up }.Where(s => s != null).GroupBy(s => s!.Initializer))
            {
                var t = byName[group.Key];
                Replace(t, SelectAlong(t, group.Select(s => s!).ToArray(), x.Kept));
            }
            if (b.Split is { } split) ResizeSplit(graph, nodes[split.Output[0]], b, k, splitSizes!, byName);
            if (b.GateBias != null) Replace(byName[b.GateBias], Select(byName[b.GateBias], x.Kept));
            if (b.UpBias != null) Replace(byName[b.UpBias], Select(byName[b.UpBias], x.Kept));
            Replace(byName[b.Down.Initializer], DownTensor(b.Down, x));
            var bias = x.DownBias.Select(v => (float)v).ToArray();
            if (b.DownBias != null) Replace(byName[b.DownBias], (byName[b.DownBias].Dims.ToArray(), bias));
            else if (x.HasDownBias) AddDownBias(graph, nodes[b.DownNode.Output[0]], bias, byName);
            internalValues.UnionWith(b.Internal);
        }
        // Declared shapes of values inside a block carry the old width: drop them (ONNX Runtime infers them again).
        var stale = graph.ValueInfo.Where(v => internalValues.Contains(v.Name)).ToArray();
        foreach (var v in stale) graph.ValueInfo.Remove(v);
        return model;
    }

    /// <summary>
    /// Writes the pruned graph and the plan to <paramref name="outDir"/> (appears only when complete), with the
    /// source folder's sidecar files (tokenizer, vocab, configs) copied beside it. Returns the files written.
    /// </summary>
    /// <exception cref="OutputConflictException">The output equals, lies inside or contains the source, or is not empty.</exception>
    public static IReadOnlyList<string> Write(string outDir, OnnxGraphModel source, PruningPlan plan, IReadOnlyList<SlicedFfnLayer> layers,
        IEnumerable<string>? otherInputs = null, CancellationToken cancellationToken = default)
    {
        string[] inputs = [source.Folder, .. otherInputs ?? []];
        AtomicOutputFolder.CheckOutput(outDir, inputs);
        var planBytes = PlanJson.Serialize(plan);
        var pruned = Slice(source, layers);
        using var folder = AtomicOutputFolder.Create(outDir, inputs);
        string name = Path.GetFileName(source.Path);
        var options = source.ExternalFiles.Count > 0
            ? new OnnxSaveOptions { ExternalDataFile = source.ExternalFiles[0], ExternalThresholdBytes = source.ExternalThreshold ?? 1024 }
            : null;
        OnnxModelFile.Save(pruned, folder.PathOf(name), options);
        cancellationToken.ThrowIfCancellationRequested();
        CopySidecars(source, folder.TempPath, cancellationToken);
        File.WriteAllBytes(folder.PathOf(PlanJson.FileName), planBytes);
        var written = Directory.GetFiles(folder.TempPath, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(folder.TempPath, f)).Order(StringComparer.Ordinal).ToArray();
        folder.Commit();
        return written.Select(f => Path.Combine(folder.FinalPath, f)).ToArray();
    }

    /// <summary>
    /// Copies what sits beside the model (tokenizer.model, vocab.txt, configs, pooling folders) when the model is the
    /// folder's model.onnx; weight files (see <see cref="IsWeights"/>), the model's external data and an old plan are not copied.
    /// </summary>
    private static void CopySidecars(OnnxGraphModel source, string target, CancellationToken ct)
    {
        if (!string.Equals(Path.GetFileName(source.Path), OnnxGraphModel.ModelFileName, StringComparison.Ordinal)) return;
        var skip = new HashSet<string>(source.ExternalFiles.Select(f => Path.GetFullPath(Path.Combine(source.Folder, f))), StringComparer.Ordinal) { source.Path };
        foreach (var file in Directory.EnumerateFiles(source.Folder, "*", SearchOption.AllDirectories))
        {
            ct.ThrowIfCancellationRequested();
            string rel = Path.GetRelativePath(source.Folder, file);
            if (skip.Contains(Path.GetFullPath(file)) || IsWeights(file) || rel == PlanJson.FileName
                || rel.Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.'))) continue;
            string dest = Path.Combine(target, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
    }

    /// <summary>
    /// Weight files of any format (other ONNX graphs and their data, safetensors, PyTorch, GGUF, ...): copied beside
    /// the pruned graph they would be stale, unpruned weights, so only tokenizer and config files travel.
    /// </summary>
    private static bool IsWeights(string file) =>
        WeightExtensions.Any(e => file.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    private static readonly string[] WeightExtensions =
        [".onnx", ".onnx.data", ".onnx_data", ".data", ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack", ".gguf", ".ot"];

    /// <summary>Keeps, along the neuron axis, the entries <paramref name="kept"/> of every slice; entries outside all slices stay.</summary>
    private static (long[] Dims, float[] Data) SelectAlong(TensorProto t, WeightSlice[] slices, int[] kept)
    {
        var data = GraphIndex.Floats(t);
        int rows = (int)t.Dims[0], cols = (int)t.Dims[1];
        int axis = slices[0].NeuronAxis;
        int length = axis == 0 ? rows : cols;
        var keep = new bool[length];
        Array.Fill(keep, true);
        foreach (var s in slices)
        {
            if (s.NeuronAxis != axis) throw new InvalidOperationException($"slices of '{t.Name}' disagree on the neuron axis");
            for (int j = 0; j < s.Count; j++) keep[s.Offset + j] = false;
            foreach (int j in kept) keep[s.Offset + j] = true;
        }
        var index = Enumerable.Range(0, length).Where(i => keep[i]).ToArray();
        if (axis == 0)
        {
            var m = new float[(long)index.Length * cols];
            for (int r = 0; r < index.Length; r++) data.AsSpan(index[r] * cols, cols).CopyTo(m.AsSpan(r * cols, cols));
            return ([index.Length, cols], m);
        }
        var c = new float[(long)rows * index.Length];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < index.Length; i++) c[(long)r * index.Length + i] = data[(long)r * cols + index[i]];
        return ([rows, index.Length], c);
    }

    private static (long[] Dims, float[] Data) Select(TensorProto t, int[] kept)
    {
        var data = GraphIndex.Floats(t);
        return ([kept.Length], kept.Select(j => data[j]).ToArray());
    }

    /// <summary>The compensated down projection [D x K] (rounded once from float64) in the source tensor's layout.</summary>
    private static (long[] Dims, float[] Data) DownTensor(WeightSlice down, SlicedFfnLayer x)
    {
        int k = x.Width, d = x.Hidden;
        if (down.Offset != 0) throw new InvalidOperationException($"down weight '{down.Initializer}' is a slice of a larger tensor");
        var w = x.DownFloat32();
        if (down.NeuronAxis != 0) return ([d, k], w);
        var m = new float[(long)k * d];
        for (int r = 0; r < d; r++)
            for (int j = 0; j < k; j++) m[(long)j * d + r] = w[(long)r * k + j];
        return ([k, d], m);
    }

    /// <summary>New sizes for a fused projection's Split: the block's gate and up outputs now have <paramref name="k"/> columns.</summary>
    private static void ResizeSplit(GraphProto graph, NodeProto split, OnnxFfnBlock block, int k, long[] sizes, Dictionary<string, TensorProto> byName)
    {
        var ranges = new[] { block.Gate!, block.Up };
        long[] resized = sizes.ToArray();
        long offset = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            if (ranges.Any(r => r.Offset == offset && r.Count == sizes[i])) resized[i] = k;
            offset += sizes[i];
        }
        if (split.Input.Count > 1 && split.Input[1].Length > 0)
        {
            string name = split.Input[1] + ".pruned";
            for (int n = 1; byName.ContainsKey(name); n++) name = $"{split.Input[1]}.pruned{n}";
            var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(resized.AsSpan())) };
            t.Dims.Add(resized.Length);
            graph.Initializer.Add(t);
            byName[name] = t;
            string old = split.Input[1];
            split.Input[1] = name;
            if (!graph.Node.Any(n => n.Input.Contains(old)) && byName.Remove(old, out var unused)) graph.Initializer.Remove(unused);
        }
        else if (split.Attribute.FirstOrDefault(a => a.Name == "split") is { } attr)
        {
            attr.Ints.Clear();
            attr.Ints.AddRange(resized);
        }
        else if (resized.Distinct().Count() != 1)
            throw new UnsupportedArchitectureException($"Split {GraphIndex.Describe(split)} divides evenly and also holds outputs outside the FFN block");
    }

    /// <summary>down -> Add(down, bias) under the old output name, so every reader now sees the compensated output.</summary>
    private static void AddDownBias(GraphProto graph, NodeProto down, float[] bias, Dictionary<string, TensorProto> byName)
    {
        string output = down.Output[0];
        string raw = output + ".unbiased", biasName = output + ".compensation";
        for (int n = 1; byName.ContainsKey(biasName) || graph.Node.Any(x => x.Output.Contains(raw)); n++)
            (raw, biasName) = ($"{output}.unbiased{n}", $"{output}.compensation{n}");
        down.Output[0] = raw;
        var t = new TensorProto { Name = biasName, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(bias.AsSpan())) };
        t.Dims.Add(bias.Length);
        graph.Initializer.Add(t);
        byName[biasName] = t;
        var add = new NodeProto { OpType = "Add", Name = (down.Name.Length > 0 ? down.Name : output) + "/compensation" };
        add.Input.Add(raw);
        add.Input.Add(biasName);
        add.Output.Add(output);
        graph.Node.Insert(graph.Node.IndexOf(down) + 1, add);
    }

    private static void Replace(TensorProto t, (long[] Dims, float[] Data) value)
    {
        t.Dims.Clear();
        t.Dims.AddRange(value.Dims);
        t.FloatData.Clear();
        t.DataType = (int)TensorProto.Types.DataType.Float;
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(value.Data.AsSpan()));
    }
}
