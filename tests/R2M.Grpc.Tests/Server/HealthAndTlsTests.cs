using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using R2M.Grpc.Health.V1;
using R2M.Grpc.Tests.Interop;
using ServingStatus = R2M.Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace R2M.Grpc.Tests.Server;

public sealed class HealthAndTlsTests
{
    private const string Check = "/grpc.health.v1.Health/Check";

    [Fact]
    public async Task HealthCheck_ServerKnownAndUnknownServices_StatusOrNotFound()
    {
        await using var server = await InteropTestServer.StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var health = server.Services.GetRequiredService<GrpcHealthService>();
        health.SetStatus("r2m.interop.v1.InteropTest", ServingStatus.NotServing);

        var whole = await client.CallAsync(Check, RawGrpcClient.Frame(new HealthCheckRequest()));
        var known = await client.CallAsync(Check, RawGrpcClient.Frame(new HealthCheckRequest { Service = "r2m.interop.v1.InteropTest" }));
        var unknown = await client.CallAsync(Check, RawGrpcClient.Frame(new HealthCheckRequest { Service = "nope" }));

        Assert.Equal(ServingStatus.Serving, whole.Single(HealthCheckResponse.Parser).Status);
        Assert.Equal(ServingStatus.NotServing, known.Single(HealthCheckResponse.Parser).Status);
        Assert.Equal(StatusCode.NotFound, unknown.Status);
    }

    [Fact]
    public async Task HealthWatch_StatusChanges_StreamsCurrentThenEachChange()
    {
        await using var server = await InteropTestServer.StartAsync();
        using var client = new RawGrpcClient(server.Address);
        var health = server.Services.GetRequiredService<GrpcHealthService>();
        using var call = client.Start("/grpc.health.v1.Health/Watch");
        await call.WriteAsync(new HealthCheckRequest { Service = "svc" });
        call.Content.Complete();

        Assert.Equal(ServingStatus.ServiceUnknown, HealthCheckResponse.Parser.ParseFrom(await call.ReadMessageAsync()).Status);
        health.SetStatus("svc", ServingStatus.Serving);
        Assert.Equal(ServingStatus.Serving, HealthCheckResponse.Parser.ParseFrom(await call.ReadMessageAsync()).Status);
        health.SetStatus("svc", ServingStatus.NotServing);
        Assert.Equal(ServingStatus.NotServing, HealthCheckResponse.Parser.ParseFrom(await call.ReadMessageAsync()).Status);
        health.ClearStatus("svc");
        Assert.Equal(ServingStatus.ServiceUnknown, HealthCheckResponse.Parser.ParseFrom(await call.ReadMessageAsync()).Status);
    }

    [Fact]
    public async Task Tls_CertificateConfigured_NegotiatesH2AndServes()
    {
        using var certificate = CreateSelfSignedCertificate();
        await using var server = await InteropTestServer.StartAsync(certificate: certificate);
        var https = new UriBuilder(server.Address) { Scheme = "https", Host = "localhost" }.Uri;
        // The caller demands HTTP/2 exactly (RequestVersionExact), so success means ALPN chose "h2".
        using var client = new RawGrpcClient(https, acceptAnyCertificate: true);

        var response = await client.CallAsync("/r2m.interop.v1.InteropTest/Echo",
            RawGrpcClient.Frame(new EchoRequest { Payload = ByteString.CopyFromUtf8("tls") }));

        Assert.Equal(StatusCode.OK, response.Status);
        Assert.Equal("tls", response.Single(EchoReply.Parser).Payload.ToStringUtf8());
    }

    internal static X509Certificate2 CreateSelfSignedCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }
}
