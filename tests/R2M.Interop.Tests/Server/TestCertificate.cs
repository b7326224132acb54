using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace R2M.Interop.Tests.Server;

/// <summary>
/// A self-signed ECDSA certificate for localhost and 127.0.0.1 made by the test
/// (<see cref="CertificateRequest"/>), written as PEM certificate and key files for the host's
/// configuration (R2M:CertificatePath, R2M:CertificateKeyPath); deleted on dispose.
/// </summary>
internal sealed class TestCertificate : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"r2m-tls-{Guid.NewGuid():N}");

    public TestCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Directory.CreateDirectory(_dir);
        File.WriteAllText(CertificatePath, Certificate.ExportCertificatePem());
        File.WriteAllText(KeyPath, key.ExportPkcs8PrivateKeyPem());
    }

    public X509Certificate2 Certificate { get; }

    public string CertificatePath => Path.Combine(_dir, "cert.pem");

    public string KeyPath => Path.Combine(_dir, "key.pem");

    /// <summary>Trusts exactly this certificate (by thumbprint), as a client pinned to it would.</summary>
    public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == Certificate.Thumbprint;

    public void Dispose()
    {
        Certificate.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
