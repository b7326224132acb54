using R2M.Grpc.Tests.Server;

namespace R2M.Grpc.Tests.Interop;

/// <summary>
/// The grpcio client over TLS against our server with a self-signed certificate made here. grpc
/// core refuses a TLS connection whose ALPN result is not "h2", so passing cases prove that our
/// endpoint negotiated h2 with a foreign TLS stack, not only with .NET's.
/// </summary>
public sealed class InteropTlsTests
{
    private static readonly string[] TlsCases = ["unary_echo", "server_stream_10k", "bidi_10k", "gzip", "metadata_bin", "unknown_method"];

    [Fact]
    public async Task GrpcioClient_OurServerOverTls_CasesPass()
    {
        Peers.RequirePython();
        using var certificate = HealthAndTlsTests.CreateSelfSignedCertificate();
        await using var server = await InteropTestServer.StartAsync(certificate: certificate);
        var pem = Path.Combine(Path.GetTempPath(), $"r2m-interop-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(pem, certificate.ExportCertificatePem());
        try
        {
            // The certificate names "localhost" (SAN), so the target must too.
            var results = await Peers.RunClientAsync(Peers.Python, "interop_client.py", $"localhost:{server.Address.Port}",
                TimeSpan.FromMinutes(2), string.Join(',', TlsCases), ["--tls-ca", pem]);
            Peers.AssertAllPassed("grpcio client -> our server over TLS", results, TlsCases);
        }
        finally
        {
            File.Delete(pem);
        }
    }
}
