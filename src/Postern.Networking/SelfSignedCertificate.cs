using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Postern.Networking;

/// <summary>
/// A self-signed certificate so that a fresh install can offer TLS at once: ECDSA P-256, the host name and
/// <c>localhost</c> in the subject alternative names, valid about two years.
/// </summary>
public static class SelfSignedCertificate
{
    /// <summary>File name of the certificate.</summary>
    public const string CertificateFileName = "selfsigned.crt.pem";

    /// <summary>File name of the private key (mode 0600).</summary>
    public const string KeyFileName = "selfsigned.key.pem";

    /// <summary>
    /// Loads <c>folder/selfsigned.crt.pem</c> and <c>folder/selfsigned.key.pem</c>; when they do not exist,
    /// creates them first (the key file readable by the owner only).
    /// </summary>
    public static X509Certificate2 CreateOrLoad(string folder, string hostName, TimeProvider? timeProvider = null, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentException.ThrowIfNullOrWhiteSpace(hostName);
        var files = FilesFor(folder, hostName);
        if (!File.Exists(files.CertificatePath) || !File.Exists(files.KeyPath))
        {
            Create(folder, hostName, files, timeProvider ?? TimeProvider.System);
            NetworkingLog.SelfSignedCreated(logger ?? NullLogger.Instance, hostName, files.CertificatePath);
        }

        return X509Certificate2.CreateFromPemFile(files.CertificatePath, files.KeyPath);
    }

    /// <summary>The <see cref="CertificateFiles"/> entry for the self-signed pair in <paramref name="folder"/>, as the default certificate.</summary>
    public static CertificateFiles FilesFor(string folder, string hostName)
        => new([hostName, "localhost"], Path.Combine(folder, CertificateFileName), Path.Combine(folder, KeyFileName), IsDefault: true);

    private static void Create(string folder, string hostName, CertificateFiles files, TimeProvider time)
    {
        Directory.CreateDirectory(folder);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName("CN=" + hostName.Replace(",", string.Empty, StringComparison.Ordinal)), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostName);
        if (!string.Equals(hostName, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            san.AddDnsName("localhost");
        }

        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = time.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(730));

        var keyOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            keyOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(files.KeyPath, System.Text.Encoding.ASCII, keyOptions))
        {
            writer.Write(key.ExportPkcs8PrivateKeyPem());
            writer.Write('\n');
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(files.KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(files.CertificatePath, certificate.ExportCertificatePem() + "\n");
    }
}
