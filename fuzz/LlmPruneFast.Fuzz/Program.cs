using LlmPruneFast.Fuzz;

// llmprune-fuzz afl TARGET        one SharpFuzz target under afl-fuzz (stdin or the file afl passes)
// llmprune-fuzz run TARGET FILE.. each file once through a target (replaying afl's crashes and queue)
// llmprune-fuzz seeds DIR [PLAN]   a valid starting input per target
// llmprune-fuzz campaign SHARED [--scale K]   the CLI mutation campaigns of issue 9, in process
switch (args.FirstOrDefault())
{
    case "afl" when args.Length == 2 && Targets.All.ContainsKey(args[1]):
        SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
        {
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            Targets.Run(args[1], buffer.ToArray());
        });
        return 0;
    case "run" when args.Length >= 3 && Targets.All.ContainsKey(args[1]):
        foreach (var file in args.Skip(2)) Targets.Run(args[1], File.ReadAllBytes(file));
        return 0;
    case "seeds" when args.Length is 2 or 3:
        Seeds.Write(args[1]);
        if (args.Length == 3) // a plan written by `llmprune prune --plan-only` seeds the plan target
        {
            Directory.CreateDirectory(Path.Combine(args[1], "plan"));
            File.Copy(args[2], Path.Combine(args[1], "plan", "seed"), overwrite: true);
        }
        return 0;
    case "campaign" when args.Length >= 2:
        int scale = args.Length >= 4 && args[2] == "--scale" ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1;
        return CliCampaigns.Run(args[1], scale);
    default:
        Console.Error.WriteLine($"usage: llmprune-fuzz afl TARGET | run TARGET FILE... | seeds DIR [PLAN] | campaign SHARED [--scale K]; targets: {string.Join(", ", Targets.All.Keys)}");
        return 2;
}
