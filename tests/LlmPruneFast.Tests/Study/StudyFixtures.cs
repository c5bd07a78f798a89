using LlmPruneFast.Study;

namespace LlmPruneFast.Tests.Study;

/// <summary>Hand-made study rows and models for the maths and formatting tests.</summary>
internal static class StudyFixtures
{
    public static StudyModel Model(string name, long parameters = 1000, string provenance = Provenance.Pretrained) => new()
    {
        Name = name, Directory = "/models/" + name, Provenance = provenance, Description = "hand-made",
        Parameters = parameters, Layers = 2, Hidden = 8, FfnWidth = "16", Vocab = 32,
    };

    public static StudyRow Row(StudyModel model, string method, double ratio, double before, double after, string setting = "none") => new()
    {
        Model = model, Method = method, Ratio = ratio, CompensationSetting = setting, Compensation = setting == "default" ? "bias" : setting,
        PerplexityBefore = before, PerplexityAfter = after, Kl = 0.25, Top1Agreement = 0.75,
        ParamsBefore = model.Parameters, ParamsAfter = model.Parameters - 100, EvalTokens = 500, Seconds = 1.5,
    };
}
