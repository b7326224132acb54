using R2M.Models.Safetensors;
using Xunit.Abstractions;

namespace R2M.Models.Tests;

/// <summary>Runs python/reference.py once (PyTorch forward + backward on random small configs).</summary>
public sealed class PyTorchReferenceFixture : IDisposable
{
    public PyTorchReferenceFixture()
    {
        Directory = TestSupport.NewTempDir("ref");
        TestSupport.RunPython("reference.py", Directory);
    }

    public string Directory { get; }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// Parity with PyTorch 1.13 (issue 2 "Done when"): logits, hidden states, scores and every
/// parameter gradient agree within 1e-4 by the metric max|ours - torch| / max|torch| per tensor,
/// compared at real (non-padding) positions for logits and hidden states.
/// </summary>
public sealed class ParityTests(PyTorchReferenceFixture fixture, ITestOutputHelper output) : IClassFixture<PyTorchReferenceFixture>
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string> Cases => new()
    {
        "neox_parallel", "neox_sequential_tied", "llama_gqa_llama3", "qwen2_mqa_tied_linear",
        "qwen3_gqa_head_dim", "qwen3_bias_tied", "qwen3_seqcls_default_head_dim",
        "llama_seqcls", "neox_seqcls", "neox_oa_reward",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardBackward_PyTorchCase_MatchesWithin1e4(string name)
    {
        var dir = Path.Combine(fixture.Directory, name);
        var model = ModelCheckpoint.Load(dir);
        using var exp = SafetensorsFile.Open(Path.Combine(dir, "expected.safetensors"));
        var tokens = TestSupport.ReadInts(exp, "tokens");
        var mask = TestSupport.ReadInts(exp, "mask");
        var shape = exp.GetInfo("tokens").Shape;
        int b = (int)shape[0], t = (int)shape[1], c = model.Config.HiddenSize;
        var r = exp.ReadF32("R");
        var dHidden = new float[r.Length];
        for (var i = 0; i < b * t; i++)
            for (var j = 0; j < c; j++)
                dHidden[i * c + j] = r[i * c + j] * mask[i];
        model.ZeroGrad();
        ForwardResult result;
        if (model.Config.Head == ModelHead.CausalLm)
        {
            var tau = exp.ReadF32("temperature")[0];
            var logp = new float[b * (t - 1)];
            result = model.LogProbs(tokens, mask, b, t, logp, tau, training: true);
            AssertMasked("logits", result.Logits.Span, exp.ReadF32("logits"), mask, model.Config.VocabSize);
            AssertMasked("logprobs", logp, exp.ReadF32("logprobs"), ValidPairs(mask, b, t), 1);
            var valid = ValidPairs(mask, b, t);
            var count = valid.Sum();
            var dLogp = valid.Select(v => -(float)v / count).ToArray();
            model.BackwardLogProbs(dLogp, dHidden, tau);
        }
        else
        {
            result = model.Forward(tokens, mask, b, t, training: true);
            var err = TestSupport.MaxRelError(result.Scores.Span, exp.ReadF32("scores"));
            Assert.True(err < Tolerance, $"{name} scores: relative error {err:E2}");
            model.Backward(default, dHidden, exp.ReadF32("S"));
        }
        AssertMasked("hidden", result.Hidden.Span, exp.ReadF32("hidden"), mask, c);
        var worst = (Name: "", Err: 0.0);
        foreach (var p in model.Layout.Entries)
        {
            var err = TestSupport.MaxRelError(model.Gradient(p.Name), exp.ReadF32("grad." + p.Name));
            Assert.True(err < Tolerance, $"{name} grad {p.Name}: relative error {err:E2}");
            if (err >= worst.Err)
                worst = (p.Name, err);
        }
        output.WriteLine($"{name}: worst gradient {worst.Name} relative error {worst.Err:E2}");
        Assert.Equal(model.Layout.Entries.Count, exp.Tensors.Keys.Count(k => k.StartsWith("grad.", StringComparison.Ordinal)));
    }

    /// <summary>(B, T-1) flags: both t and t+1 real (where the loss reads a log-prob).</summary>
    private static int[] ValidPairs(int[] mask, int b, int t)
    {
        var v = new int[b * (t - 1)];
        for (var bi = 0; bi < b; bi++)
            for (var ti = 0; ti < t - 1; ti++)
                v[bi * (t - 1) + ti] = mask[bi * t + ti] * mask[bi * t + ti + 1];
        return v;
    }

    /// <summary>Compares rows (width w) where mask is 1.</summary>
    private static void AssertMasked(string what, ReadOnlySpan<float> ours, float[] reference, int[] mask, int w)
    {
        var a = new List<float>();
        var e = new List<float>();
        for (var i = 0; i < mask.Length; i++)
            if (mask[i] != 0)
            {
                a.AddRange(ours.Slice(i * w, w).ToArray());
                e.AddRange(reference.AsSpan(i * w, w).ToArray());
            }
        var err = TestSupport.MaxRelError(a.ToArray(), e.ToArray());
        Assert.True(err < Tolerance, $"{what}: relative error {err:E2}");
    }
}
