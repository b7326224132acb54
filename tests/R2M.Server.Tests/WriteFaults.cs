using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using R2M.Api.V1;
using R2M.Server.Internal;

namespace R2M.Server.Tests;

/// <summary>What the fault hook does at the planned step of the next write.</summary>
public enum Fault { None, Throw, Cancel, Deadline }

/// <summary>
/// The test side of <see cref="IWriteStepHook"/>: at a planned step of the next write it throws, or lets
/// the test cancel the call (and waits until the server has seen the cancellation), or moves the
/// injected clock past the call's deadline. Every outcome is decided by the plan, not by timing.
/// </summary>
internal sealed class FaultHook(FakeTimeProvider? clock = null) : IWriteStepHook
{
    private readonly Lock _lock = new();
    private (Fault Fault, int Step) _plan;
    private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Steps the hook has seen, per write kind ("Update", "Optimize").</summary>
    public List<(string Write, int Step)> Seen { get; } = [];

    /// <summary>Completes when a Cancel fault reached its step (the test then cancels the call).</summary>
    public Task Reached => _reached.Task;

    public void Plan(Fault fault, int step)
    {
        lock (_lock)
        {
            _plan = (fault, step);
            _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    public void AfterStep(string write, int step, CancellationToken cancellationToken)
    {
        (Fault Fault, int Step) plan;
        lock (_lock)
        {
            Seen.Add((write, step));
            plan = _plan;
            if (plan.Fault == Fault.None || plan.Step != step) return;
            _plan = (Fault.None, 0);
        }

        switch (plan.Fault)
        {
            case Fault.Throw:
                throw new InvalidOperationException($"test fault after {write} step {step}");
            case Fault.Cancel:
                _reached.TrySetResult();
                // Blocks until the caller's cancellation (or disconnect) reaches the server.
                if (!cancellationToken.WaitHandle.WaitOne(TestServer.Timeout)) throw new TimeoutException("the call was never cancelled");
                break;
            case Fault.Deadline:
                clock!.Advance(TimeSpan.FromHours(2));
                break;
        }
    }
}

/// <summary>Calls with their own cancellation and deadline, and the served state of a server, for the write tests.</summary>
internal static class WriteCalls
{
    public static Task<TestServer> StartWithHookAsync(FaultHook hook, FakeTimeProvider? clock = null, Action<R2MServerOptions>? configure = null) =>
        TestServer.StartAsync(o =>
        {
            // With a fake clock the batching window would never close: take what is queued.
            if (clock is not null) o.ScoreBatchWindowMs = 0;
            configure?.Invoke(o);
        }, services: s =>
        {
            s.AddSingleton<IWriteStepHook>(hook);
            if (clock is not null) s.AddSingleton<TimeProvider>(clock);
        });

    /// <summary>A deadline one hour after the server's clock (the fake one runs ahead of the real one after Deadline faults).</summary>
    public static CallOptions Options(TestServer server, CancellationToken ct, FakeTimeProvider? clock) =>
        new(deadline: (clock?.GetUtcNow().UtcDateTime ?? DateTime.UtcNow) + TimeSpan.FromHours(1), cancellationToken: ct);

    public static async Task<UpdateReply> UpdateAsync(TestServer server, IEnumerable<PreferenceGroup> groups, CallOptions options)
    {
        using var call = server.Reward.Update(options);
        foreach (var g in groups) await call.RequestStream.WriteAsync(g).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        return await call.ResponseAsync.WaitAsync(TestServer.Timeout);
    }

    public static async Task<OptimizeReply> OptimizeAsync(TestServer server, PolicyBatch batch, CallOptions options)
    {
        using var call = server.Policy.Optimize(options);
        await call.RequestStream.WriteAsync(batch).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        return await call.ResponseAsync.WaitAsync(TestServer.Timeout);
    }

    /// <summary>Everything a write may change, as served: weights, moments, steps, noise position, versions.</summary>
    public static Served Snapshot(TestServer server)
    {
        var p = server.Get<PolicyHost>();
        var r = server.Get<RewardHost>();
        return new Served(
            p.Served.Policy.Parameters.ToArray(), (float[])p.Served.Optimizer.M.Clone(), (float[])p.Served.Optimizer.V.Clone(), p.Served.Optimizer.Step, p.Version,
            (float[])r.Served.Head.Parameters.Clone(), (float[])r.Served.Optimizer.M.Clone(), (float[])r.Served.Optimizer.V.Clone(), r.Served.Optimizer.Step,
            r.Served.NoiseRngState, r.Version);
    }

    /// <summary>Bit for bit (arrays compared element by element with their float bits).</summary>
    public static void AssertSame(Served expected, Served actual, string when)
    {
        Bits(expected.Policy, actual.Policy, $"{when}: policy weights");
        Bits(expected.PolicyM, actual.PolicyM, $"{when}: policy AdamW m");
        Bits(expected.PolicyV, actual.PolicyV, $"{when}: policy AdamW v");
        Bits(expected.Head, actual.Head, $"{when}: head weights");
        Bits(expected.HeadM, actual.HeadM, $"{when}: head AdamW m");
        Bits(expected.HeadV, actual.HeadV, $"{when}: head AdamW v");
        var (e, a) = ((expected.PolicyStep, expected.HeadStep, expected.Noise, expected.PolicyVersion, expected.RmVersion),
            (actual.PolicyStep, actual.HeadStep, actual.Noise, actual.PolicyVersion, actual.RmVersion));
        Assert.True(e.Equals(a), $"{when}: (policy step, head step, noise, policy_version, rm_version) {e} vs {a}");
    }

    private static void Bits(float[] expected, float[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: length {expected.Length} vs {actual.Length}");
        for (var i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
            {
                Assert.Fail($"{what}[{i}]: {expected[i]:R} vs {actual[i]:R}");
            }
        }
    }
}

internal sealed record Served(
    float[] Policy, float[] PolicyM, float[] PolicyV, long PolicyStep, ulong PolicyVersion,
    float[] Head, float[] HeadM, float[] HeadV, long HeadStep, Tensors.Rng.State Noise, ulong RmVersion);
