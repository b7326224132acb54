namespace R2M.Benchmarks;

/// <summary>
/// One benchmark per area (tensors, models, tokenizer, transport, alignment, server). Each one runs
/// ours and a foreign peer side by side in the same process run and prints ratios, never absolute
/// pass/fail thresholds: these machines are noisy, so a benchmark is a report, not a test.
/// Usage: r2m-bench [name ...] (no name: list them; "all": run every one).
/// </summary>
public static class Program
{
    /// <summary>Whether <see cref="R2M.Client.SharedArrayPoolCapacity.TryRaise"/> took effect (the grpc benchmark reports it).</summary>
    public static bool ArrayPoolRaised { get; private set; }

    public static async Task<int> Main(string[] args)
    {
        // Before anything uses the shared array pool: the runtime reads its capacity once.
        // (--default-array-pool leaves it alone, to measure what raising it buys.)
        ArrayPoolRaised = !args.Contains("--default-array-pool") && R2M.Client.SharedArrayPoolCapacity.TryRaise();
        var all = typeof(Program).Assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(IBenchmark).IsAssignableFrom(t))
            .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToList();
        if (args.Length == 0)
        {
            Console.WriteLine("benchmarks: " + string.Join(", ", all.Select(b => b.Name)) + " (or 'all')");
            return 0;
        }
        var names = args.TakeWhile(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        var rest = args.Skip(names.Count).ToArray();
        var chosen = names.Contains("all") ? all : all.Where(b => names.Contains(b.Name)).ToList();
        var unknown = names.Where(n => n != "all" && all.All(b => b.Name != n)).ToList();
        if (unknown.Count > 0)
        {
            Console.Error.WriteLine("unknown benchmark(s): " + string.Join(", ", unknown));
            return 2;
        }
        foreach (var b in chosen)
        {
            Console.WriteLine($"== {b.Name}: {b.Description}");
            await b.RunAsync(rest);
        }
        return 0;
    }
}

/// <summary>A side-by-side benchmark; implementations are discovered by reflection.</summary>
public interface IBenchmark
{
    string Name { get; }
    string Description { get; }
    Task RunAsync(string[] args);
}
