using Microsoft.AspNetCore.Builder;
using R2M.Server;

namespace R2M.Interop.Tests.Server;

/// <summary>Fail closed: r2m-server's host refuses to start with a method that declares no (r2m.v1.access).</summary>
public sealed class AccessOptionTests
{
    [Fact]
    public void Host_ServiceWithUnannotatedMethod_FailsStartUpNamingTheMethod()
    {
        var e = Assert.Throws<InvalidOperationException>(() =>
            R2MServer.BuildHost([], o => o.Port = 0, hostModels: false, mapServices: app => app.MapGrpcService<UnannotatedService>()));

        var ping = Unannotated.Descriptor.Methods.Single(m => m.GetOptions() is null || !m.GetOptions().HasExtension(R2M.Api.V1.OptionsExtensions.Access));
        Assert.Contains($"/{Unannotated.Descriptor.FullName}/{ping.Name}", e.Message, StringComparison.Ordinal);
        Assert.Contains("declares no access", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_InteropTestService_EveryMethodInTheAccessTable()
    {
        await using var server = await InteropHost.StartAsync();
        var table = ((R2M.Server.Internal.Hosting.MethodAccessTableHolder)server.Services.GetService(typeof(R2M.Server.Internal.Hosting.MethodAccessTableHolder))!).Table;
        foreach (var m in InteropTest.Descriptor.Methods)
        {
            var declared = R2M.Server.Internal.Hosting.MethodAccessTable.DeclaredAccess(m);
            var expected = declared == R2M.Api.V1.Access.Write ? R2M.Server.Internal.Hosting.KeyRequirement.Always : R2M.Server.Internal.Hosting.KeyRequirement.WhenRequiredForAll;
            Assert.Equal(expected, table.For($"/{m.Service.FullName}/{m.Name}"));
        }
    }

    private sealed class UnannotatedService : Unannotated.UnannotatedBase;
}
