using System.Diagnostics;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Builder;
using R2M.Grpc.Reflection.V1;
using R2M.Grpc.Tests.Interop;

namespace R2M.Grpc.Tests.Server;

/// <summary>Server reflection (v1 and v1alpha) checked by our raw caller and by grpcio.</summary>
public sealed class ReflectionTests
{
    private const string V1Path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

    /// <summary>
    /// A service built at run time whose file imports google/protobuf/timestamp.proto, to check that
    /// reflection returns transitive dependencies. Its methods stay unbound (UNIMPLEMENTED).
    /// </summary>
    internal static ServiceDescriptor DependentService()
    {
        var proto = new FileDescriptorProto
        {
            Name = "r2m/deptest/clock.proto",
            Package = "r2m.deptest",
            Syntax = "proto3",
            Dependency = { "google/protobuf/timestamp.proto" },
            Service =
            {
                new ServiceDescriptorProto
                {
                    Name = "Clock",
                    Method = { new MethodDescriptorProto { Name = "Now", InputType = ".google.protobuf.Timestamp", OutputType = ".google.protobuf.Timestamp" } },
                },
            },
        };
        var files = FileDescriptor.BuildFromByteStrings([TimestampReflection.Descriptor.SerializedData, proto.ToByteString()]);
        return files[^1].Services[0];
    }

    [Fact]
    public async Task Reflection_ListAndLookups_AnswersEachRequestOnOneStream()
    {
        await using var server = await StartAsync();
        using var client = new RawGrpcClient(server.Address);
        ServerReflectionRequest[] requests =
        [
            new() { Host = "h", ListServices = "" },
            new() { FileContainingSymbol = "r2m.deptest.Clock" },
            new() { FileByFilename = "interop.proto" },
            new() { FileContainingSymbol = "r2m.interop.v1.EchoRequest.payload" },
            new() { FileByFilename = "missing.proto" },
            new() { AllExtensionNumbersOfType = "r2m.interop.v1.EchoRequest" },
            new(),
        ];

        var response = await client.CallAsync(V1Path, requests.SelectMany(r => RawGrpcClient.Frame(r)).ToArray());

        Assert.Equal(StatusCode.OK, response.Status);
        var answers = response.Messages.Select(m => ServerReflectionResponse.Parser.ParseFrom(m.Payload)).ToArray();
        Assert.Equal(requests.Length, answers.Length);
        Assert.Equal("h", answers[0].ValidHost);
        Assert.Equal(requests[0], answers[0].OriginalRequest);
        Assert.Equal(
            ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
             "r2m.deptest.Clock", "r2m.interop.v1.InteropTest"],
            answers[0].ListServicesResponse.Service.Select(s => s.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["r2m/deptest/clock.proto", "google/protobuf/timestamp.proto"], FileNames(answers[1]));
        Assert.Equal(["interop.proto"], FileNames(answers[2]));
        Assert.Equal(["interop.proto"], FileNames(answers[3]));
        Assert.Equal((int)StatusCode.NotFound, answers[4].ErrorResponse.ErrorCode);
        Assert.Equal("r2m.interop.v1.EchoRequest", answers[5].AllExtensionNumbersResponse.BaseTypeName);
        Assert.Empty(answers[5].AllExtensionNumbersResponse.ExtensionNumber);
        Assert.Equal((int)StatusCode.InvalidArgument, answers[6].ErrorResponse.ErrorCode);
    }

    [Fact]
    public async Task Reflection_V1Alpha_SameAnswersAsV1()
    {
        await using var server = await StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var request = new R2M.Grpc.Reflection.V1Alpha.ServerReflectionRequest { FileContainingSymbol = "grpc.health.v1.Health" };

        var response = await client.CallAsync("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", RawGrpcClient.Frame(request));

        var answer = response.Single(R2M.Grpc.Reflection.V1Alpha.ServerReflectionResponse.Parser);
        var file = FileDescriptorProto.Parser.ParseFrom(answer.FileDescriptorResponse.FileDescriptorProto[0]);
        Assert.Equal("grpc/health/v1/health.proto", file.Name);
        Assert.Equal("Health", file.Service[0].Name);
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
            await using var server = await StartAsync();
            var script = Path.Combine(repo, "tests", "R2M.Grpc.Tests", "Server", "reflection_client.py");

            var output = await RunAsync("/usr/bin/python3", [script, gen, $"127.0.0.1:{server.Address.Port}", version]);

            using var json = JsonDocument.Parse(output);
            var root = json.RootElement;
            Assert.Equal("h", root.GetProperty("valid_host").GetString());
            Assert.Contains("r2m.interop.v1.InteropTest", root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
            Assert.Contains($"grpc.reflection.{version}.ServerReflection", root.GetProperty("services").EnumerateArray().Select(e => e.GetString()));
            var methods = root.GetProperty("interop_methods");
            Assert.Equal("[false,false]", methods.GetProperty("Echo").GetRawText().Replace(" ", ""));
            Assert.Equal("[false,true]", methods.GetProperty("ServerStream").GetRawText().Replace(" ", ""));
            Assert.Equal("[true,false]", methods.GetProperty("ClientStream").GetRawText().Replace(" ", ""));
            Assert.Equal("[true,true]", methods.GetProperty("BidiStream").GetRawText().Replace(" ", ""));
            Assert.Equal("google.protobuf.Timestamp", root.GetProperty("clock_now_input").GetString());
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

    private static Task<InteropTestServer> StartAsync() =>
        InteropTestServer.StartAsync(map: app => app.MapGrpcService(new GrpcServiceDefinition(DependentService())));

    private static string[] FileNames(ServerReflectionResponse answer) =>
        answer.FileDescriptorResponse.FileDescriptorProto.Select(b => FileDescriptorProto.Parser.ParseFrom(b).Name).ToArray();

    // The generated modules go under "r2mrefl/" because a top-level "grpc" package would shadow grpcio.
    private static void GeneratePythonStubs(string repo, string gen)
    {
        foreach (var version in new[] { "v1", "v1alpha" })
        {
            var dir = Path.Combine(gen, "r2mrefl", version);
            Directory.CreateDirectory(dir);
            File.Copy(Path.Combine(repo, "src", "R2M.Grpc", "Protos", "grpc", "reflection", version, "reflection.proto"),
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
        if (!File.Exists(file))
        {
            Assert.Fail($"{file} is missing: run scripts/setup.sh (as root) to install the foreign peers.");
        }

        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
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
