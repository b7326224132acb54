using System.Diagnostics;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Reflection.V1;
using Microsoft.Extensions.DependencyInjection;
using R2M.Api.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Server.Tests;

/// <summary>r2m-server's own host: reflection lists its services; health and calls while the models load.</summary>
public sealed class HostTests
{
    [Fact]
    public async Task Reflection_ListsR2MServicesAndHealth()
    {
        await using var server = await TestServer.StartAsync();
        using var call = new ServerReflection.ServerReflectionClient(server.Channel).ServerReflectionInfo(server.Call());
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" }).WaitAsync(TestServer.Timeout);
        await call.RequestStream.CompleteAsync().WaitAsync(TestServer.Timeout);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains(Policy.Descriptor.FullName, names);
        Assert.Contains(RewardModel.Descriptor.FullName, names);
        Assert.Contains(Admin.Descriptor.FullName, names);
        Assert.Contains(Health.Descriptor.FullName, names);
    }

    [Fact]
    public async Task Loading_BeforeModelsAreLoaded_HealthNotServingAndCallsUnavailable()
    {
        // A gate the loader waits on, so the test sees the host between binding and loading.
        var gate = new Internal.LoadGate();
        var app = R2MServer.BuildHost([], o =>
        {
            (o.PolicyPath, o.RewardModelPath, o.Port, o.AttentionDim) = (TestModels.PolicyDir, TestModels.RewardDir, 0, 8);
            o.CheckpointRoot = Path.Combine(Path.GetTempPath(), $"r2m-ckpt-{Guid.NewGuid():N}");
        }, hostModels: true, mapServices: null, services: s => s.AddSingleton(gate));
        try
        {
            await app.StartAsync().WaitAsync(TestServer.Timeout);
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{R2MServer.GetPort(app)}");
            var health = new Health.HealthClient(channel);
            foreach (var service in new[] { "", Policy.Descriptor.FullName, RewardModel.Descriptor.FullName, Admin.Descriptor.FullName })
            {
                Assert.Equal(ServingStatus.NotServing, (await health.CheckAsync(new HealthCheckRequest { Service = service })).Status);
            }

            using var watch = health.Watch(new HealthCheckRequest());
            Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout));
            Assert.Equal(ServingStatus.NotServing, watch.ResponseStream.Current.Status);
            var e = await Assert.ThrowsAsync<RpcException>(() => new Admin.AdminClient(channel).InfoAsync(new InfoRequest()).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, e.StatusCode);
            Assert.Contains("loading its models", e.Status.Detail, StringComparison.Ordinal);

            gate.Open();
            await R2MServer.LoadedAsync(app).WaitAsync(TestServer.Timeout);
            Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None).WaitAsync(TestServer.Timeout));
            Assert.Equal(ServingStatus.Serving, watch.ResponseStream.Current.Status);
            Assert.True((await new Admin.AdminClient(channel).InfoAsync(new InfoRequest())).PolicyVersion >= 1);
        }
        finally
        {
            gate.Open();
            await app.StopAsync().WaitAsync(TestServer.Timeout);
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Run_Sigterm_ExitsZeroWithoutAnUnhandledException()
    {
        var root = Path.Combine(Path.GetTempPath(), $"r2m-ckpt-{Guid.NewGuid():N}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "r2m-server.dll"), "--policy", TestModels.PolicyDir, "--reward-model", TestModels.RewardDir,
                     "--port", "0", "--attention-dim", "8", "--checkpoint-root", root })
        {
            psi.ArgumentList.Add(a);
        }

        using var server = Process.Start(psi)!;
        try
        {
            string? line;
            do
            {
                line = await server.StandardOutput.ReadLineAsync().WaitAsync(TestServer.Timeout);
            }
            while (line is not null && !line.StartsWith("r2m-server listening on ", StringComparison.Ordinal));

            Assert.NotNull(line);
            var stdout = server.StandardOutput.ReadToEndAsync(); // the console log keeps writing
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(line!["r2m-server listening on ".Length..]);
            var admin = new Admin.AdminClient(channel);
            Assert.True(await Probe.UntilAsync(async () =>
            {
                try
                {
                    return (await admin.InfoAsync(new InfoRequest())).PolicyVersion >= 1;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable)
                {
                    return false; // still loading its models
                }
            }), "the models never loaded");
            var stderr = server.StandardError.ReadToEndAsync();
            using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await server.WaitForExitAsync().WaitAsync(TestServer.Timeout);
            var errors = await stderr;
            await stdout;
            Assert.True(server.ExitCode == 0, $"exit code {server.ExitCode}: {errors}");
            Assert.DoesNotContain("Unhandled exception", errors, StringComparison.Ordinal);
        }
        finally
        {
            if (!server.HasExited) server.Kill(entireProcessTree: true);
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
