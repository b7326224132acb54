using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Grpc.Net.Client;
using R2M.Interop.Tests.Interop;
using V1 = Grpc.Reflection.V1;
using V1Alpha = Grpc.Reflection.V1Alpha;

namespace R2M.Interop.Tests.Server;

/// <summary>
/// Server reflection (Grpc.AspNetCore.Server.Reflection, v1 and v1alpha) on r2m-server's host,
/// checked by Grpc.Net.Client, by grpcio and by grpc-js. interop.proto imports r2m/v1/options.proto,
/// which imports google/protobuf/descriptor.proto, so a file answer must carry that chain.
/// </summary>
public sealed class ReflectionTests
{
    private static readonly string[] InteropFiles = ["interop.proto", "r2m/v1/options.proto", "google/protobuf/descriptor.proto"];

    [Fact]
    public async Task Reflection_GrpcNetClient_V1AndV1Alpha_ListServicesAndFileWithDependencies()
    {
        await using var server = await InteropHost.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.Address);

        using (var v1 = new V1.ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(deadline: DateTime.UtcNow.AddSeconds(30)))
        {
            await v1.RequestStream.WriteAsync(new V1.ServerReflectionRequest { Host = "h", ListServices = "" });
            await v1.RequestStream.WriteAsync(new V1.ServerReflectionRequest { FileContainingSymbol = InteropTest.Descriptor.FullName });
            await v1.RequestStream.WriteAsync(new V1.ServerReflectionRequest { FileByFilename = "missing.proto" });
            await v1.RequestStream.CompleteAsync();
            var answers = await v1.ResponseStream.ReadAllAsync().ToListAsync();
            Assert.Equal(3, answers.Count);
            Assert.Equal(
                [Grpc.Health.V1.Health.Descriptor.FullName, V1.ServerReflection.Descriptor.FullName, V1Alpha.ServerReflection.Descriptor.FullName, InteropTest.Descriptor.FullName],
                answers[0].ListServicesResponse.Service.Select(x => x.Name).Order(StringComparer.Ordinal));
            var files = answers[1].FileDescriptorResponse.FileDescriptorProto.Select(b => FileDescriptorProto.Parser.ParseFrom(b)).ToList();
            Assert.Equal(InteropFiles.Order(StringComparer.Ordinal), files.Select(f => f.Name).Order(StringComparer.Ordinal));
            // The access option travels with the reflected descriptor (as an extension of MethodOptions).
            var built = FileDescriptor.BuildFromByteStrings(
                files.OrderBy(f => Array.IndexOf(InteropFiles, f.Name) * -1).Select(f => f.ToByteString()),
                new ExtensionRegistry { R2M.Api.V1.OptionsExtensions.Access });
            var echo = built.Single(f => f.Name == "interop.proto").Services[0].Methods[0];
            Assert.Equal(R2M.Api.V1.Access.Read, echo.GetOptions().GetExtension(R2M.Api.V1.OptionsExtensions.Access));
            Assert.Equal((int)StatusCode.NotFound, answers[2].ErrorResponse.ErrorCode);
        }

        using var alpha = new V1Alpha.ServerReflection.ServerReflectionClient(channel).ServerReflectionInfo(deadline: DateTime.UtcNow.AddSeconds(30));
        await alpha.RequestStream.WriteAsync(new V1Alpha.ServerReflectionRequest { FileContainingSymbol = Grpc.Health.V1.Health.Descriptor.FullName });
        await alpha.RequestStream.CompleteAsync();
        var answer = Assert.Single(await alpha.ResponseStream.ReadAllAsync().ToListAsync());
        var health = FileDescriptorProto.Parser.ParseFrom(answer.FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.Equal("Health", health.Service[0].Name);
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v1alpha")]
    public async Task Reflection_GrpcioClient_ListsServicesAndLoadsDescriptors(string version)
    {
        var repo = Peers.RepoRoot;
        var gen = Path.Combine(Path.GetTempPath(), $"r2m-refl-{Guid.NewGuid():N}");
        try
        {
            GeneratePythonStubs(repo, gen);
            await using var server = await InteropHost.StartAsync();
            var script = Path.Combine(repo, "tests", "R2M.Interop.Tests", "Server", "reflection_client.py");

            var output = await RunAsync("/usr/bin/python3", [script, gen, server.Target, version]);

            using var json = JsonDocument.Parse(output);
            var root = json.RootElement;
            Assert.Contains(InteropTest.Descriptor.FullName, root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains($"grpc.reflection.{version}.ServerReflection", root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(InteropFiles.Order(StringComparer.Ordinal), root.GetProperty("files")[0].EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal));
            var methods = root.GetProperty("methods");
            foreach (var m in InteropTest.Descriptor.Methods)
            {
                var got = methods.GetProperty(m.Name);
                Assert.Equal(m.IsClientStreaming, got[0].GetBoolean());
                Assert.Equal(m.IsServerStreaming, got[1].GetBoolean());
                Assert.Equal(m.InputType.FullName, got[2].GetString());
                Assert.Equal(m.OutputType.FullName, got[3].GetString());
            }

            Assert.Equal("grpc.health.v1.HealthCheckResponse", root.GetProperty("health_check_output").GetString());
            Assert.Equal((int)StatusCode.NotFound, root.GetProperty("error_code").GetInt32());
        }
        finally
        {
            try
            {
                Directory.Delete(gen, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Theory]
    [InlineData("v1")]
    [InlineData("v1alpha")]
    public async Task Reflection_GrpcJsClient_ListsServicesAndDecodesDescriptors(string version)
    {
        Peers.RequireNode();
        await using var server = await InteropHost.StartAsync();
        var script = Path.Combine(Peers.RepoRoot, "tests", "R2M.Interop.Tests", "Server", "reflection_client.js");

        var output = await RunAsync("node", [script, server.Target, version, InteropTest.Descriptor.FullName]);

        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Contains(InteropTest.Descriptor.FullName, root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains(Grpc.Health.V1.Health.Descriptor.FullName, root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("interop.proto", root.GetProperty("files")[0].GetString());
        Assert.Equal(InteropFiles.Length, root.GetProperty("files").GetArrayLength());
        var service = root.GetProperty("file_services")[0];
        Assert.Equal(InteropTest.Descriptor.Name, service.GetProperty("name").GetString());
        Assert.Equal(InteropTest.Descriptor.Methods.Select(m => m.Name), service.GetProperty("methods").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal((int)StatusCode.NotFound, root.GetProperty("error_code").GetInt32());
    }

    // The generated modules go under "r2mrefl/" because a top-level "grpc" package would shadow grpcio.
    private static void GeneratePythonStubs(string repo, string gen)
    {
        foreach (var version in new[] { "v1", "v1alpha" })
        {
            var dir = Path.Combine(gen, "r2mrefl", version);
            Directory.CreateDirectory(dir);
            File.Copy(Path.Combine(repo, "tests", "R2M.Interop.Tests", "Protos", "grpc", "reflection", version, "reflection.proto"),
                Path.Combine(dir, "reflection.proto"));
        }

        if (!File.Exists("/usr/bin/protoc") || !File.Exists("/usr/bin/grpc_python_plugin"))
        {
            Assert.Fail("Debian protoc and grpc_python_plugin are missing: run scripts/setup.sh (as root) to install them.");
        }

        RunAsync("/usr/bin/protoc",
            ["-I", gen, $"--python_out={gen}", $"--grpc_python_out={gen}", "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
             "r2mrefl/v1/reflection.proto", "r2mrefl/v1alpha/reflection.proto"]).GetAwaiter().GetResult();
    }

    private static async Task<string> RunAsync(string file, string[] args)
    {
        if (Path.IsPathRooted(file) && !File.Exists(file))
        {
            Assert.Fail($"{file} is missing: run scripts/setup.sh (as root) to install the foreign peers.");
        }

        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment.Remove("PYTHONPATH"); // another interpreter's path would shadow Debian's grpcio
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"{file} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }
}
