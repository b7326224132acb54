using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using Grpc.Core;
using Grpc.Net.Client;
using R2M.Api.V1;

namespace R2M.Server.Tests;

/// <summary>
/// A rollout id is the capability to score (and so set the LastReward of), train on or refresh a
/// rollout: ids are 128 random bits, so one client's ids say nothing about another's.
/// </summary>
public sealed partial class RolloutIdTests
{
    [Fact]
    public async Task RolloutIds_NeighboursOfOneClientsIds_NeverNameAnotherClientsRollouts()
    {
        await using var server = await TestServer.StartAsync();
        var mine = (await server.GenerateAsync(prompts: 1, k: 2)).Select(r => r.RolloutId).ToList();
        using var otherChannel = GrpcChannel.ForAddress(server.Address);
        var other = new Policy.PolicyClient(otherChannel);
        var theirs = new List<string>();
        using (var call = other.Generate(new GenerateRequest { Prompts = { new Prompt { Text = "sort 2 1 =" } }, SamplesPerPrompt = 4, Sampling = new SamplingParams { MaxNewTokens = 4 } }))
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout)) theirs.Add(call.ResponseStream.Current.RolloutId);
        }

        // Guesses from my ids: the numbers just after and before each, in every hex run of the id.
        var guesses = mine.SelectMany(Neighbours).Distinct().Except(mine).ToList();
        Assert.NotEmpty(guesses);
        var replies = await server.ScoreAsync(guesses.Select((g, i) => TestServer.ById($"guess-{i}", g)));
        Assert.All(replies, r => Assert.Equal((int)StatusCode.NotFound, r.Error?.Code));
        Assert.Empty(guesses.Intersect(theirs));
        Assert.All(mine.Concat(theirs), id => Assert.Matches(Random128(), id));
        Assert.Equal(6, mine.Concat(theirs).Distinct().Count());
    }

    /// <summary>For every run of hex digits in <paramref name="id"/>, the id with that run incremented and decremented by 1 to 4.</summary>
    private static IEnumerable<string> Neighbours(string id)
    {
        foreach (Match run in HexRun().Matches(id))
        {
            var value = BigInteger.Parse("0" + run.Value, NumberStyles.HexNumber);
            for (var d = -4; d <= 4; d++)
            {
                if (d == 0 || value + d < 0) continue;
                var text = (value + d).ToString("x", CultureInfo.InvariantCulture).TrimStart('0').PadLeft(run.Length, '0');
                yield return id[..run.Index] + text + id[(run.Index + run.Length)..];
            }
        }
    }

    [GeneratedRegex("[0-9a-f]+")]
    private static partial Regex HexRun();

    [GeneratedRegex("^ro-[0-9a-f]{32}$")]
    private static partial Regex Random128();
}
