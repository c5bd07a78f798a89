using System.Text.Json;
using System.Xml.Linq;
using LlmPruneFast.Study;
using static LlmPruneFast.Tests.Study.StudyFixtures;

namespace LlmPruneFast.Tests.Study;

/// <summary>Both families in one study's outputs, from hand-made rows: measures kept apart, scope said from the models present.</summary>
public sealed class StudyFamilyOutputTests
{
    private static StudyModel Encoder(string name = "enc", long parameters = 22_000_000, string provenance = Provenance.Pretrained) =>
        Model(name, parameters, provenance) with { Family = StudyFamily.Encoder, Format = StudyFormat.OnnxEncoder };

    private static StudyRow EncoderRow(StudyModel model, string method, double ratio, double fidelity, string setting = "none") => new()
    {
        Model = model, Method = method, Ratio = ratio, CompensationSetting = setting, Compensation = setting,
        Fidelity = fidelity, FidelityMin = fidelity - 0.1, StsBefore = 80, StsAfter = 79.5, Sentences = 10, Pairs = 6,
        ParamsBefore = model.Parameters, ParamsAfter = model.Parameters - 1000, Seconds = 2,
    };

    private static StudyResult Mixed()
    {
        var dec = Model("dec", 260_000);
        var enc = Encoder();
        var rows = new List<StudyRow>
        {
            Row(dec, "magnitude", 0.3, 4, 5), Row(dec, "flap", 0.3, 4, 4.5),
            EncoderRow(enc, "magnitude", 0.3, 0.9), EncoderRow(enc, "flap", 0.3, 0.95),
        };
        return new StudyResult
        {
            Request = new StudyRequest
            {
                Methods = ["magnitude", "flap"], Ratios = [0.3], Compensations = ["none"],
                CalibrationText = "calib.txt", EvaluationText = "eval.txt", StsText = "sts.tsv", Samples = 512, Seed = 0,
            },
            Models = [new StudyModelRun(dec, 4, 500, 6, 1, 512, 1, 1), new StudyModelRun(enc, double.NaN, 0, 0, 1, 512, 1, 1) { DenseSts = 80, Sentences = 10, Pairs = 6 }],
            Rows = rows,
            Sensitivity = Sensitivity.Compute(rows),
            Seconds = 3,
        };
    }

    [Fact]
    public void EncoderSensitivity_IsTheSpreadOfOneMinusFidelity_AndAGroupNeverMixesFamilies()
    {
        var s = Mixed().Sensitivity;
        Assert.Equal([StudyFamily.Decoder, StudyFamily.Encoder], s.Select(x => x.Family));
        var enc = s[1];
        Assert.Equal(0.075, enc.MeanD, 12);            // d = 0.1 and 0.05
        Assert.Equal(2.0, enc.MaxOverMin, 12);
        Assert.Equal(Math.Sqrt(2) * 0.025, enc.StdD, 12);
        Assert.Equal(("flap", "magnitude"), (enc.MinMethod, enc.MaxMethod));
        var dec = Model("x");
        var mixed = new[] { Row(dec, "a", 0.3, 4, 5), EncoderRow(dec with { Family = StudyFamily.Encoder }, "b", 0.3, 0.9) };
        Assert.Throws<ArgumentException>(() => Sensitivity.Of(mixed));
    }

    [Fact]
    public void Csv_Json_Markdown_KeepTheFamiliesInTheirOwnColumnsKeysAndTables()
    {
        var r = Mixed();
        var lines = StudyTables.Csv(r.Rows).TrimEnd('\n').Split('\n').Select(l => l.Split(',')).ToArray();
        var col = lines[0].ToList();
        var (decLine, encLine) = (lines[1], lines[3]);
        Assert.Equal(StudyTables.CsvColumns.Count, encLine.Length);
        Assert.Equal("encoder", encLine[col.IndexOf("family")]);
        foreach (var c in new[] { "ppl_before", "ppl_after", "delta_ppl", "delta_ppl_rel", "delta_nll", "kl", "top1", "eval_tokens" })
            Assert.Equal("", encLine[col.IndexOf(c)]);
        foreach (var c in new[] { "fidelity", "fidelity_min", "cosine_distance", "sts_before", "sts_after", "delta_sts", "sentences", "pairs" })
            Assert.Equal("", decLine[col.IndexOf(c)]);
        Assert.Equal("0.9", encLine[col.IndexOf("fidelity")]);

        using var doc = JsonDocument.Parse(StudyJson.Serialize(r));
        var root = doc.RootElement;
        Assert.Equal(2, root.GetProperty("version").GetInt32());
        Assert.Equal(["decoder", "encoder"], root.GetProperty("families").EnumerateArray().Select(f => f.GetProperty("family").GetString()));
        var models = root.GetProperty("models").EnumerateArray().ToArray();
        Assert.Equal(80, models[1].GetProperty("dense_sts").GetDouble());
        Assert.False(models[1].TryGetProperty("dense_perplexity", out _));
        Assert.False(models[0].TryGetProperty("dense_sts", out _));
        var sens = root.GetProperty("sensitivity").EnumerateArray().ToArray();
        Assert.True(sens[0].TryGetProperty("mean_delta_nll", out _));
        Assert.True(sens[1].TryGetProperty("mean_cosine_distance", out _));
        Assert.False(sens[1].TryGetProperty("mean_delta_nll", out _));

        var md = StudyTables.Markdown(r);
        Assert.Contains("| method | dec |", md);            // the perplexity table names decoders only
        Assert.DoesNotContain("| method | dec | enc |", md);
        Assert.Contains("| magnitude | 0.9000, STS 79.50 (-0.50) |", md);
        Assert.Contains(Sensitivity.Definition, md);
        Assert.Contains(Sensitivity.EncoderDefinition, md);
        Assert.Contains("| mean d = 1 - fidelity |", md);
        Assert.Throws<ArgumentException>(() => StudyTables.SensitivityTable(r.Sensitivity));
    }

    [Fact]
    public void Svg_WithBothFamilies_IsTwoChartsInOneWellFormedFile_HtmlHasBothAndTheScope()
    {
        var r = Mixed();
        var doc = XDocument.Parse(StudyPage.SensitivitySvg(r.Sensitivity));
        Assert.Equal("http://www.w3.org/2000/svg", doc.Root!.Name.NamespaceName);
        Assert.Equal(2, doc.Root.Elements().Count(e => e.Name.LocalName == "svg"));
        Assert.Equal(2, doc.Descendants().Count(e => e.Name.LocalName == "circle"));
        string html = StudyPage.Html(r);
        XDocument.Parse(html.Replace("<!DOCTYPE html>", ""));
        Assert.Contains("id=\"sensitivity-decoder\"", html);
        Assert.Contains("id=\"sensitivity-encoder\"", html);
        Assert.Contains("id=\"runs-encoder\"", html);
        // Each family gets its sweep chart: perplexity for the decoder, fidelity for the encoder, one point per row.
        var page = XDocument.Parse(html.Replace("<!DOCTYPE html>", ""));
        var fidelity = page.Descendants().Single(e => e.Name.LocalName == "svg" && (string?)e.Attribute("id") == "chart-fidelity-1");
        var tips = fidelity.Descendants().Where(e => e.Name.LocalName == "circle").Select(e => e.Value.Trim()).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal("flap, compensation none, sparsity 30.0%: fidelity 0.95, STS 79.5", tips[0]);
        Assert.Equal("magnitude, compensation none, sparsity 30.0%: fidelity 0.9, STS 79.5", tips[1]);
        Assert.Single(page.Descendants(), e => e.Name.LocalName == "svg" && (string?)e.Attribute("id") == "chart-sweep-0");
        Assert.DoesNotContain("chart-sweep-1", html);   // no perplexity chart for the encoder
        Assert.DoesNotContain("chart-fidelity-0", html); // nor a fidelity chart for the decoder
        Assert.Contains(StudyScope.Heading, html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", ""));
    }

    [Fact]
    public void Scope_SaysWhatTheSizesCanShow_FromTheModelsPresent()
    {
        var stories = Model("stories260K", 260_032);
        var wide = Model("stories260K-x2", 600_000, Provenance.Constructed);
        var minilm = Encoder("all-MiniLM-L6-v2", 22_713_216);
        var said = string.Join("\n", StudyScope.Statements([stories, wide, minilm]));
        Assert.Contains("Across families the comparison is confounded", said);
        Assert.Contains("up to 87.3x in parameters", said); // 22,713,216 / 260,032
        Assert.Contains("Decoders: one pretrained size (stories260K: 260,032 parameters, pretrained)", said);
        Assert.Contains("planted redundancy", said);
        Assert.Contains("Encoders: one pretrained size", said);
        Assert.Contains("cannot confirm or refute the claim", said);
        Assert.False(StudyScope.ClaimTestable([stories, wide, minilm]));

        // Decoders alone: nothing about families; three pretrained sizes of one family can speak to the claim.
        var three = new[] { Model("a", 1000), Model("b", 2000), Model("c", 4000) };
        said = string.Join("\n", StudyScope.Statements(three));
        Assert.DoesNotContain("Across families", said);
        Assert.True(StudyScope.ClaimTestable(three));
        Assert.Contains("3 pretrained sizes", said);
        Assert.Contains("can speak to the claim", said);
        Assert.Contains("unstated", string.Join("\n", StudyScope.Statements([Model("u", 10, Provenance.Unstated)])));
    }
}
