using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>Certificates made in-process with <see cref="CertificateRequest"/>: a root CA, an intermediate CA and leaves.</summary>
internal sealed class TestPki : IDisposable
{
    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public TestPki(string name = "Postern Test")
    {
        Root = CreateCa($"CN={name} Root CA", null);
        Intermediate = CreateCa($"CN={name} Intermediate CA", Root);
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    public X509Certificate2Collection Roots => [Root];

    public static X509Certificate2 CreateCa(string subject, X509Certificate2? issuer)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            return request.CreateSelfSigned(Now.AddYears(-1), Now.AddYears(10));
        }

        var serial = RandomNumberGenerator.GetBytes(12);
        using var cert = request.Create(issuer, Now.AddYears(-1), Now.AddYears(5), serial);
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>A server certificate for <paramref name="names"/> (subjectAltName DNS names), issued by the intermediate unless told otherwise.</summary>
    public X509Certificate2 Leaf(string[] names, X509Certificate2? issuer = null, DateTimeOffset? notBefore = null,
        DateTimeOffset? notAfter = null, bool serverAuth = true, string? commonName = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName ?? (names.Length > 0 ? names[0] : "no name")}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.4")], false));
        if (names.Length > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var n in names)
            {
                san.AddDnsName(n);
            }

            request.CertificateExtensions.Add(san.Build());
        }

        var signer = issuer ?? Intermediate;
        var serial = RandomNumberGenerator.GetBytes(12);
        using var cert = request.Create(signer, notBefore ?? Now.AddDays(-30), notAfter ?? Now.AddDays(60), serial);
        return cert.CopyWithPrivateKey(key);
    }

    /// <summary>A self-signed server certificate.</summary>
    public static X509Certificate2 SelfSigned(string name, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSelfSigned(notBefore ?? Now.AddDays(-30), notAfter ?? Now.AddDays(60));
    }

    public static TlsaRecord Tlsa(X509Certificate2 cert, byte usage, byte selector, byte matching, string host = "mx.example.com") =>
        new(DnsName.TlsaName(host, 25), 300, usage, selector, matching, DaneVerifier.ComputeAssociationData(cert, selector, matching));

    public void Dispose()
    {
        Root.Dispose();
        Intermediate.Dispose();
    }
}
