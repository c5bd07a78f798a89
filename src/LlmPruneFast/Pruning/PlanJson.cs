using System.Text;
using System.Text.Json;
using LlmPruneFast.Capture;

namespace LlmPruneFast.Pruning;

/// <summary>
/// Reads and writes <see cref="PruningPlan"/> as JSON: UTF-8, two-space indentation, fixed property order,
/// shortest round-trip numbers, '\n' line ends. Writing a plan read from a file gives the same bytes.
/// </summary>
public static class PlanJson
{
    /// <summary>Name of the plan file a pruned model folder (or a plan-only folder) holds.</summary>
    public const string FileName = "pruning-plan.json";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = true, NewLine = "\n" };

    /// <summary>The plan as UTF-8 JSON bytes (validated first).</summary>
    public static byte[] Serialize(PruningPlan plan)
    {
        plan.Validate();
        return SerializeUnchecked(plan);
    }

    /// <summary>The plan as JSON without validating it first (for tests of the reader's validation).</summary>
    internal static byte[] SerializeUnchecked(PruningPlan plan)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions)) Write(w, plan);
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>Writes the plan to <paramref name="path"/> atomically (temporary file, then rename).</summary>
    public static void Save(PruningPlan plan, string path)
    {
        var bytes = Serialize(plan);
        Models.AtomicFile.WriteAllBytes(path, bytes); // no plan.json.tmp-* left on a full disk
    }

    /// <summary>Reads and validates a plan file; <see cref="MissingInputException"/> when it does not exist.</summary>
    public static PruningPlan Load(string path)
    {
        if (!File.Exists(path)) throw new MissingInputException($"plan file '{path}' does not exist");
        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>
    /// Parses and validates plan JSON; <see cref="BadModelFileException"/> naming <paramref name="source"/> and
    /// the offending field when the text is not a valid plan.
    /// </summary>
    public static PruningPlan Parse(ReadOnlySpan<byte> utf8, string source = "plan")
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8)) throw new BadModelFileException($"{source}: not valid UTF-8");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(utf8.ToArray(), new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new BadModelFileException($"{source}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            var r = new Reader(source);
            PruningPlan plan;
            try { plan = r.Plan(doc.RootElement); }
            catch (InvalidOperationException e) { throw new BadModelFileException($"{source}: {e.Message}"); } // a string JSON cannot decode (lone surrogate escape)
            plan.Validate(source);
            return plan;
        }
    }

    public static PruningPlan Parse(string json, string source = "plan") => Parse(Encoding.UTF8.GetBytes(json), source);

    private static void Write(Utf8JsonWriter w, PruningPlan p)
    {
        w.WriteStartObject();
        w.WriteNumber("version", p.Version);
        w.WriteStartObject("model");
        w.WriteString("name", p.Model.Name);
        w.WriteNumber("hidden_size", p.Model.HiddenSize);
        w.WriteNumber("layers", p.Model.Layers);
        w.WriteStartArray("widths");
        foreach (int width in p.Model.Widths) w.WriteNumberValue(width);
        w.WriteEndArray();
        w.WriteString("ffn_sha256", p.Model.FfnSha256);
        w.WriteEndObject();
        w.WriteString("method", p.Method);
        WriteParameters(w, "method_parameters", p.MethodParameters);
        if (p.Estimator is { } e)
        {
            w.WriteStartObject("estimator");
            w.WriteString("name", e.Name);
            WriteParameters(w, "parameters", e.Parameters);
            w.WriteEndObject();
        }
        else w.WriteNull("estimator");
        w.WriteStartObject("budget");
        w.WriteString("kind", p.Budget.Kind);
        w.WriteNumber("min_kept_fraction", p.Budget.MinKeptFraction);
        w.WriteEndObject();
        w.WriteNumber("ratio", p.Ratio);
        w.WriteNumber("seed", p.Seed);
        w.WriteStartObject("compensation");
        w.WriteString("kind", p.Compensation.Kind);
        WriteParameters(w, "parameters", p.Compensation.Parameters);
        w.WriteEndObject();
        if (p.Calibration is { } c)
        {
            w.WriteStartObject("calibration");
            w.WriteString("text", c.Text);
            w.WriteNumber("tokens", c.Tokens);
            w.WriteNumber("seed", c.Seed);
            if (c.Layout == CalibrationLayout.Windows) w.WriteString("layout", "windows"); // absent: paragraphs, as older plans read
            if (c.Sequences > 0)   // absent for every paragraph, so older plans read the same
            {
                w.WriteNumber("sequences", c.Sequences);
                w.WriteNumber("sequence_length", c.SequenceLength);
            }
            w.WriteString("capture", CaptureModes.Name(c.Capture));
            w.WriteEndObject();
        }
        else w.WriteNull("calibration");
        w.WriteStartArray("candidates");
        foreach (var cand in p.Candidates)
        {
            w.WriteStartObject();
            w.WriteNumber("seed", cand.Seed);
            if (cand.Kl is { } kl) w.WriteNumber("kl", kl); else w.WriteNull("kl");
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("layers");
        foreach (var layer in p.Layers)
        {
            w.WriteStartObject();
            w.WriteNumber("index", layer.Index);
            w.WriteStartArray("kept");
            foreach (int k in layer.Kept) w.WriteNumberValue(k);
            w.WriteEndArray();
            w.WriteStartArray("removed");
            foreach (var r in layer.Removed)
            {
                w.WriteStartObject();
                w.WriteNumber("neuron", r.Neuron);
                if (r.Partner is { } partner) w.WriteNumber("partner", partner); else w.WriteNull("partner");
                if (r.Mi is { } mi) w.WriteNumber("mi", mi); else w.WriteNull("mi");
                w.WriteNumber("score", r.Score);
                w.WriteString("reason", r.Reason);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteParameters(Utf8JsonWriter w, string name, PlanParameters parameters)
    {
        w.WriteStartObject(name);
        foreach (var (key, value) in parameters)
        {
            switch (value)
            {
                case long l: w.WriteNumber(key, l); break;
                case double d: w.WriteNumber(key, d); break;
                case bool b: w.WriteBoolean(key, b); break;
                default: w.WriteString(key, (string)value); break;
            }
        }
        w.WriteEndObject();
    }

    /// <summary>Typed access to JSON fields with messages that name the field path.</summary>
    private sealed class Reader(string source)
    {
        private BadModelFileException Bad(string path, string what) => new($"{source}: {path}: {what}");

        private JsonElement Field(JsonElement obj, string path, string name, JsonValueKind kind)
        {
            if (obj.ValueKind != JsonValueKind.Object) throw Bad(path, "expected an object");
            if (!obj.TryGetProperty(name, out var v)) throw Bad($"{path}.{name}", "missing");
            if (v.ValueKind != kind && !(kind == JsonValueKind.True && v.ValueKind == JsonValueKind.False))
                throw Bad($"{path}.{name}", $"expected {kind}, found {v.ValueKind}");
            return v;
        }

        private JsonElement? Optional(JsonElement obj, string path, string name, JsonValueKind kind)
        {
            if (obj.ValueKind != JsonValueKind.Object) throw Bad(path, $"expected an object, found {obj.ValueKind}");
            if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind != kind) throw Bad($"{path}.{name}", $"expected {kind} or null, found {v.ValueKind}");
            return v;
        }

        private string Str(JsonElement obj, string path, string name) => Field(obj, path, name, JsonValueKind.String).GetString()!;

        private long Long(JsonElement v, string path) =>
            v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long l) ? l : throw Bad(path, $"expected an integer, found {v}");

        /// <summary>A count that later sizes buffers: 1..int.MaxValue.</summary>
        private CalibrationLayout Layout(string name) => name switch
        {
            "windows" => CalibrationLayout.Windows,
            "paragraphs" => CalibrationLayout.Paragraphs,
            _ => throw Bad("$.calibration.layout", $"'{name}' is not windows or paragraphs"),
        };

        private long Positive(long v, string path) => v is >= 1 and <= int.MaxValue ? v : throw Bad(path, $"{v} is out of range (1..{int.MaxValue})");

        private int Int(JsonElement v, string path)
        {
            long l = Long(v, path);
            return l is >= int.MinValue and <= int.MaxValue ? (int)l : throw Bad(path, $"{l} does not fit a 32-bit integer");
        }

        private double Num(JsonElement v, string path) =>
            v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && double.IsFinite(d) ? d : throw Bad(path, $"expected a finite number, found {v}");

        private int IntField(JsonElement obj, string path, string name) => Int(Field(obj, path, name, JsonValueKind.Number), $"{path}.{name}");
        private double NumField(JsonElement obj, string path, string name) => Num(Field(obj, path, name, JsonValueKind.Number), $"{path}.{name}");

        private List<int> IntArray(JsonElement obj, string path, string name)
        {
            var a = Field(obj, path, name, JsonValueKind.Array);
            var list = new List<int>(a.GetArrayLength());
            int i = 0;
            foreach (var e in a.EnumerateArray()) list.Add(Int(e, $"{path}.{name}[{i++}]"));
            return list;
        }

        private PlanParameters Parameters(JsonElement obj, string path, string name)
        {
            var p = new PlanParameters();
            foreach (var prop in Field(obj, path, name, JsonValueKind.Object).EnumerateObject())
            {
                string at = $"{path}.{name}.{prop.Name}";
                if (p.Contains(prop.Name)) throw Bad(at, "listed twice");
                var v = prop.Value;
                switch (v.ValueKind)
                {
                    case JsonValueKind.Number:
                        if (v.GetRawText().IndexOfAny(['.', 'e', 'E']) < 0 && v.TryGetInt64(out long l)) p.Set(prop.Name, l);
                        else p.Set(prop.Name, Num(v, at));
                        break;
                    case JsonValueKind.String: p.Set(prop.Name, v.GetString()!); break;
                    case JsonValueKind.True: p.Set(prop.Name, true); break;
                    case JsonValueKind.False: p.Set(prop.Name, false); break;
                    default: throw Bad(at, $"expected a number, text or boolean, found {v.ValueKind}");
                }
            }
            return p;
        }

        public PruningPlan Plan(JsonElement root)
        {
            const string r = "$";
            int version = IntField(root, r, "version");
            if (version != PruningPlan.CurrentVersion)
                throw Bad($"{r}.version", $"version {version} is not supported (expected {PruningPlan.CurrentVersion})");
            var m = Field(root, r, "model", JsonValueKind.Object);
            var widths = IntArray(m, "$.model", "widths");
            int layerCount = IntField(m, "$.model", "layers");
            if (layerCount != widths.Count) throw Bad("$.model.layers", $"{layerCount} but widths lists {widths.Count}");
            string hash = Str(m, "$.model", "ffn_sha256");
            if (hash.Length != 64 || !hash.All(char.IsAsciiHexDigit)) throw Bad("$.model.ffn_sha256", $"expected 64 hexadecimal digits, found '{hash}'");
            var model = new ModelFingerprint(Str(m, "$.model", "name"), IntField(m, "$.model", "hidden_size"), widths, hash);
            EstimatorInfo? estimator = null;
            if (Optional(root, r, "estimator", JsonValueKind.Object) is { } e)
                estimator = new EstimatorInfo(Str(e, "$.estimator", "name"), Parameters(e, "$.estimator", "parameters"));
            var b = Field(root, r, "budget", JsonValueKind.Object);
            var c = Field(root, r, "compensation", JsonValueKind.Object);
            CalibrationInfo? calibration = null;
            if (Optional(root, r, "calibration", JsonValueKind.Object) is { } cal)
                calibration = new CalibrationInfo(Str(cal, "$.calibration", "text"),
                    Positive(Long(Field(cal, "$.calibration", "tokens", JsonValueKind.Number), "$.calibration.tokens"), "$.calibration.tokens"),
                    Long(Field(cal, "$.calibration", "seed", JsonValueKind.Number), "$.calibration.seed"),
                    Optional(cal, "$.calibration", "sequences", JsonValueKind.Number) is { } sq ? checked((int)Long(sq, "$.calibration.sequences")) : 0,
                    Optional(cal, "$.calibration", "sequence_length", JsonValueKind.Number) is { } sl ? checked((int)Long(sl, "$.calibration.sequence_length")) : 0,
                    // absent in plans written before streaming: they were all dense
                    Optional(cal, "$.calibration", "capture", JsonValueKind.String) is { } cm ? CaptureModes.Parse(cm.GetString()!, "$.calibration.capture") : CaptureMode.Dense,
                    // absent in plans written before windows: every sequence was a paragraph
                    Optional(cal, "$.calibration", "layout", JsonValueKind.String) is { } ly ? Layout(ly.GetString()!) : CalibrationLayout.Paragraphs);
            var candidates = new List<CandidateInfo>();
            if (Optional(root, r, "candidates", JsonValueKind.Array) is { } ca)
            {
                int i = 0;
                foreach (var x in ca.EnumerateArray())
                {
                    string at = $"$.candidates[{i++}]";
                    double? kl = Optional(x, at, "kl", JsonValueKind.Number) is { } k ? Num(k, $"{at}.kl") : null;
                    candidates.Add(new CandidateInfo(Long(Field(x, at, "seed", JsonValueKind.Number), $"{at}.seed"), kl));
                }
            }
            var layers = new List<LayerPlan>();
            int li = 0;
            foreach (var l in Field(root, r, "layers", JsonValueKind.Array).EnumerateArray())
            {
                string at = $"$.layers[{li++}]";
                var removed = new List<RemovedNeuron>();
                int ri = 0;
                foreach (var x in Field(l, at, "removed", JsonValueKind.Array).EnumerateArray())
                {
                    string rat = $"{at}.removed[{ri++}]";
                    int? partner = Optional(x, rat, "partner", JsonValueKind.Number) is { } pe ? Int(pe, $"{rat}.partner") : null;
                    double? mi = Optional(x, rat, "mi", JsonValueKind.Number) is { } me ? Num(me, $"{rat}.mi") : null;
                    removed.Add(new RemovedNeuron(IntField(x, rat, "neuron"), partner, mi, NumField(x, rat, "score"), Str(x, rat, "reason")));
                }
                layers.Add(new LayerPlan(IntField(l, at, "index"), IntArray(l, at, "kept"), removed));
            }
            return new PruningPlan
            {
                Version = version,
                Model = model,
                Method = Str(root, r, "method"),
                MethodParameters = root.TryGetProperty("method_parameters", out _) ? Parameters(root, r, "method_parameters") : new(),
                Estimator = estimator,
                Budget = new BudgetInfo(Str(b, "$.budget", "kind"), NumField(b, "$.budget", "min_kept_fraction")),
                Ratio = NumField(root, r, "ratio"),
                Seed = Long(Field(root, r, "seed", JsonValueKind.Number), "$.seed"),
                Compensation = new CompensationInfo(Str(c, "$.compensation", "kind"), Parameters(c, "$.compensation", "parameters")),
                Calibration = calibration,
                Candidates = candidates,
                Layers = layers,
            };
        }
    }
}
