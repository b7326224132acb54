using System.Text.Json;
using R2M.Api.V1;
using R2M.Client;
using R2M.Client.Tests;
using R2M.Models;

namespace R2M.Api.Tests;

// The external-trainer path (issue 14, docs/integration.md): clients/python/train_external.py owns
// the sandbox policy in PyTorch and calls only Score and Update on the real r2m-server.
// check_parity.py first shows that its PyTorch policy computes the server's numbers.
public sealed class ExternalTrainerTests
{
    private const string Python = "/usr/bin/python3";
    private const string ApiKey = "ext-secret";

    [Fact]
    public async Task ExternalTrainer_RealServer_ParityThenGrpoStepsWithoutServerPolicyCalls()
    {
        string root = RealServer.RepoRoot();
        string client = Path.Combine(root, "clients", "python");
        Assert.True(File.Exists(Python), $"{Python} not found: run scripts/setup.sh (python3-torch, python3-grpcio, python3-protobuf)");
        string work = RealServer.TempDir("ext");
        string stubs = Path.Combine(work, "stubs");
        try
        {
            (int rc, string output) = PythonClientTests.Run("bash", [Path.Combine(client, "generate_stubs.sh"), stubs], client);
            Assert.True(rc == 0, $"generate_stubs.sh failed ({rc}); run scripts/setup.sh:\n{output}");
            string policyDir = (await RealServer.ModelsAsync()).Policy;
            await using ServerProcess server = await RealServer.StartAsync(Path.Combine(work, "cp"), ApiKey);
            string address = $"127.0.0.1:{server.Port}";
            using var r2m = new R2MClient(new R2MClientOptions { Address = server.Address, ApiKey = ApiKey });
            InfoReply before = await r2m.InfoAsync();
            string keyFile = Path.Combine(work, "key"); // the key is never a command-line argument
            await File.WriteAllTextAsync(keyFile, ApiKey + "\n");

            CheckParity(client, address, policyDir, stubs, work, server, keyFile);

            string metrics = Path.Combine(work, "metrics.jsonl");
            string saved = Path.Combine(work, "trained-policy");
            (rc, output) = PythonClientTests.Run(Python, [Path.Combine(client, "train_external.py"), "--address", address, "--api-key-file", keyFile,
                "--policy", policyDir, "--stubs", stubs, "--steps", "3", "--prompts", "2", "--k", "3", "--max-new-tokens", "10",
                "--metrics", metrics, "--save", saved], client);
            Assert.True(rc == 0, $"train_external.py failed ({rc}):\n{output}\nserver:\n{server.OutputTail}");
            JsonElement[] steps = File.ReadAllLines(metrics).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
            Assert.Equal([1, 2, 3], steps.Select(s => s.GetProperty("step").GetInt32()));

            // The RM advanced once per step, and each step's rewards came from the previous step's weights.
            ulong[] rm = steps.Select(s => s.GetProperty("rmVersion").GetUInt64()).ToArray();
            Assert.Equal([before.RmVersion + 1, before.RmVersion + 2, before.RmVersion + 3], rm);
            for (int i = 0; i < steps.Length; i++)
            {
                ulong[] scored = steps[i].GetProperty("scoreRmVersions").EnumerateArray().Select(v => v.GetUInt64()).ToArray();
                Assert.Equal([i == 0 ? before.RmVersion : rm[i - 1]], scored);
            }

            // omega(t) = max(0.5 cos(pi t / T) + 0.5, 0.6) for T = 3: 0.75, then the floor.
            Assert.Equal([0.75, 0.6, 0.6], steps.Select(s => Math.Round(s.GetProperty("omega").GetDouble(), 5)));
            foreach (JsonElement s in steps)
            {
                foreach (string name in new[] { "proxyReward", "vanillaReward", "btLoss", "greLoss", "policyLoss", "kl" })
                {
                    Assert.True(double.IsFinite(s.GetProperty(name).GetDouble()), $"step {s.GetProperty("step")}: {name} is not finite");
                }
                // The last of two epochs runs after one optimizer step, so the policy has left the reference.
                Assert.True(s.GetProperty("kl").GetDouble() > 0, $"step {s.GetProperty("step")}: KL to the reference is not > 0");
                Assert.InRange(s.GetProperty("goldReward").GetDouble(), 0, 1);
            }
            double[] change = steps.Select(s => s.GetProperty("parameterChange").GetDouble()).ToArray();
            Assert.True(change[0] > 0 && change[1] > change[0] && change[2] > change[1], $"|theta - theta0| per step: {string.Join(", ", change)}");

            // The server's policy was never used for training: no Optimize reached it.
            InfoReply after = await r2m.InfoAsync();
            Assert.Equal(before.PolicyVersion, after.PolicyVersion);
            Assert.Equal(rm[^1], after.RmVersion);

            // The trained policy the trainer wrote loads in R2M.Models, and differs from the start by what it reported.
            TransformerModel start = ModelCheckpoint.Load(policyDir), trained = ModelCheckpoint.Load(saved);
            double distance = Math.Sqrt(start.Parameters.Zip(trained.Parameters, (a, b) => (double)(a - b) * (a - b)).Sum());
            Assert.Equal(change[^1], distance, change[^1] * 1e-3);

            // Without the key, Score (a read) still works and Update (a write) is refused, with a clear message.
            (rc, output) = PythonClientTests.Run(Python, [Path.Combine(client, "train_external.py"), "--address", address,
                "--policy", policyDir, "--stubs", stubs, "--steps", "1", "--prompts", "1", "--k", "2", "--max-new-tokens", "6"], client);
            Assert.NotEqual(0, rc);
            Assert.Contains("train_external: Update failed: UNAUTHENTICATED", output);
            Assert.Equal(rm[^1], (await r2m.InfoAsync()).RmVersion);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void ExternalTrainer_BadPromptsLine_NamesFileAndLine()
    {
        string root = RealServer.RepoRoot();
        string client = Path.Combine(root, "clients", "python");
        string work = RealServer.TempDir("ext-prompts");
        try
        {
            string prompts = Path.Combine(work, "prompts.jsonl");
            File.WriteAllLines(prompts, ["{\"prompt\": \"sort 3 1 2 =\"}", "", "{\"id\": 7}"]);
            // read_prompts runs without a server or a policy: importing the trainer is enough.
            (int rc, string output) = PythonClientTests.Run(Python, ["-c",
                "import sys; sys.path.insert(0, '.'); import train_external; train_external.read_prompts(sys.argv[1])", prompts], client);
            Assert.NotEqual(0, rc);
            Assert.Contains($"{prompts}:3: needs a non-empty string field 'prompt'", output);
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// The PyTorch policy against the server's C# policy on the same rollouts: tokenizer, hidden
    /// states and log-probs to float rounding; inline scores (F32, BF16) against scores by rollout
    /// id; and a wrong feedback tensor of the right shape moves the reward far more than BF16 does.
    /// </summary>
    private static void CheckParity(string client, string address, string policyDir, string stubs, string work, ServerProcess server, string keyFile)
    {
        string parityFile = Path.Combine(work, "parity.json");
        (int rc, string output) = PythonClientTests.Run(Python, [Path.Combine(client, "check_parity.py"), "--address", address, "--api-key-file", keyFile,
            "--policy", policyDir, "--stubs", stubs, "--out", parityFile], client);
        Assert.True(rc == 0, $"check_parity.py failed ({rc}):\n{output}\nserver:\n{server.OutputTail}");
        JsonElement p = JsonDocument.Parse(File.ReadAllText(parityFile)).RootElement;
        double Get(string name) => p.GetProperty(name).GetDouble();
        Assert.True(p.GetProperty("rollouts").GetInt32() >= 8, output);
        Assert.True(p.GetProperty("tokensEqual").GetBoolean(), "the Python tokenizer's prompt ids differ from the server's: " + output);
        Assert.True(p.GetProperty("textEqual").GetBoolean(), "the Python decode of the response ids differs from the server's text: " + output);
        Assert.True(Get("hiddenMaxAbsDiff") < 1e-4 * Math.Max(1, Get("hiddenMaxAbs")), "hidden states differ: " + output);
        Assert.True(Get("logprobMaxAbsDiff") < 1e-4, "log-probs differ: " + output);
        Assert.Equal(0.6, Get("omega"), 1e-6);
        Assert.True(Get("rewardByIdVsInlineF32") < 1e-5, "inline F32 feedback scores differently from the stored feedback: " + output);
        Assert.True(Get("rewardByIdVsInlineBf16") < 1e-3, "inline BF16 feedback scores too differently: " + output);
        Assert.True(Get("rewardBf16ChunkedVsWhole") < 1e-5, "hidden states sent in row chunks score differently: " + output);
        Assert.True(Get("rewardByIdVsOtherRolloutsFeedback") > 10 * Get("rewardByIdVsInlineBf16"),
            "another rollout's feedback should move the reward far more than BF16 rounding does: " + output);
    }
}
