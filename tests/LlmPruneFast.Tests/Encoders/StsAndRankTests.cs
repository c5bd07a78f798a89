using LlmPruneFast.Evaluation;
using LlmPruneFast.Tests.Models;

namespace LlmPruneFast.Tests.Encoders;

public sealed class StsAndRankTests
{
    [Fact]
    public void Ranks_average_ties()
    {
        Assert.Equal([2.5, 1, 2.5, 4], RankCorrelation.Ranks([5.0, 1.0, 5.0, 7.0]));
    }

    [Fact]
    public void Spearman_matches_hand_computed_values()
    {
        Assert.Equal(1.0, RankCorrelation.Spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 12);
        Assert.Equal(-1.0, RankCorrelation.Spearman([1, 2, 3, 4], [4, 3, 2, 1]), 12);
        // x ranks 1..5, y = [2, 1, 4, 3, 5]: sum d^2 = 4, rho = 1 - 6*4/(5*24) = 0.8
        Assert.Equal(0.8, RankCorrelation.Spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 12);
        // with ties: Pearson of ranks [1.5, 1.5, 3, 4] and [1, 2, 3, 4] = 0.9486832980505138 (sqrt(0.9))
        Assert.Equal(Math.Sqrt(0.9), RankCorrelation.Spearman([1, 1, 2, 3], [1, 2, 3, 4]), 12);
        Assert.Throws<BadArgumentException>(() => RankCorrelation.Spearman([1, 2], [1]));
    }

    [Fact]
    public void Reads_glue_tsv_with_header_and_senteval_csv()
    {
        using var tmp = new TempFolder();
        File.WriteAllLines(tmp["glue.tsv"],
        [
            "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
            "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane is taking off.\tAn air plane is taking off.\t5.000",
            "1\tmain-captions\tMSRvid\t2012test\t0004\tnone\tnone\tA man is playing a flute.\tA man is playing a bamboo flute.\t3.800",
        ]);
        var glue = StsBenchmark.Read(tmp["glue.tsv"]);
        Assert.Equal([new("A plane is taking off.", "An air plane is taking off.", 5.0), new StsPair("A man is playing a flute.", "A man is playing a bamboo flute.", 3.8)], glue);

        File.WriteAllLines(tmp["sent.csv"],
        [
            "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.",
            "main-news\theadlines\t2013\t0002\t0.5\tSomething \"quoted\", here.\tOther.\tsrc1\tsrc2",
        ]);
        var senteval = StsBenchmark.Read(tmp["sent.csv"]);
        Assert.Equal(2, senteval.Count);
        Assert.Equal(new StsPair("Something \"quoted\", here.", "Other.", 0.5), senteval[1]);
    }

    [Theory]
    [InlineData("just one column")]
    [InlineData("g\tf\t2012\t1\tfive\ta\tb")]
    [InlineData("g\tf\t2012\t1\t7.5\ta\tb")]
    public void Malformed_sts_files_name_the_file_and_line(string badLine)
    {
        using var tmp = new TempFolder();
        File.WriteAllLines(tmp["bad.csv"], ["g\tf\t2012\t1\t3.0\ta\tb", badLine]);
        var ex = Assert.Throws<BadDataException>(() => StsBenchmark.Read(tmp["bad.csv"]));
        Assert.Contains("bad.csv' line 2", ex.Message);
        Assert.Throws<MissingInputException>(() => StsBenchmark.Read(tmp["absent.tsv"]));
    }

    [SharedFact]
    public void Shared_sts_b_files_hold_the_documented_pair_counts()
    {
        Assert.Equal(1500, StsBenchmark.Read(MiniLm.StsDev).Count);
        Assert.Equal(4249, StsBenchmark.Read(MiniLm.StsTrain).Count);
    }
}
