using R2M.Interop.Tests.Server;

namespace R2M.Interop.Tests.Interop;

/// <summary>
/// The grpcio client over TLS against r2m-server's host, with a self-signed certificate made here
/// and given to the host through its configuration. grpc core refuses a TLS connection whose ALPN
/// result is not "h2", so passing cases prove that the endpoint negotiated h2 with a foreign TLS
/// stack, not only with .NET's.
/// </summary>
public sealed class InteropTlsTests
{
    private static readonly string[] TlsCases = ["unary_echo", "server_stream_10k", "bidi_10k", "gzip", "metadata_bin", "unknown_method"];

    [Fact]
    public async Task GrpcioClient_R2MHostOverTls_CasesPass()
    {
        Peers.RequirePython();
        using var certificate = new TestCertificate();
        await using var server = await InteropHost.StartAsync(o => (o.CertificatePath, o.CertificateKeyPath) = (certificate.CertificatePath, certificate.KeyPath));
        // The certificate names "localhost" (SAN), so the target must too.
        var results = await Peers.RunClientAsync(Peers.Python, "interop_client.py", $"localhost:{server.Port}",
            TimeSpan.FromMinutes(2), string.Join(',', TlsCases), ["--tls-ca", certificate.CertificatePath]);
        Peers.AssertAllPassed("grpcio client -> r2m-server host over TLS", results, TlsCases);
    }
}
