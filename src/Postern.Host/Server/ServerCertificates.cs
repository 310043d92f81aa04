using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Postern.Host.Configuration;
using Postern.Host.Embedded;

namespace Postern.Host.Server;

/// <summary>A certificate chooser by SNI name.</summary>
public interface IServerCertificateSelector
{
    X509Certificate2? SelectCertificate(string? serverName);
}

/// <summary>
/// The server's TLS certificates: the configured PEM files (a default plus per-SNI entries) or, when none
/// is configured, a self-signed certificate for the server hostname kept in the data folder. Reloaded on
/// SIGHUP; a file that fails to load keeps the previous certificate.
/// </summary>
public sealed partial class ServerCertificates : IDisposable
{
    private readonly LoadedConfiguration _config;
    private readonly DataFolder _folder;
    private readonly ILogger _logger;
    private volatile Snapshot _current;

    private ServerCertificates(LoadedConfiguration config, DataFolder folder, ILogger logger)
    {
        _config = config;
        _folder = folder;
        _logger = logger;
        _current = Load(null);
    }

    public IServerCertificateSelector Selector => _current;

    public string Description => _current.Description;

    public static ServerCertificates Create(LoadedConfiguration config, DataFolder folder, ILogger logger) => new(config, folder, logger);

    /// <summary>Re-reads the certificate files (SIGHUP); on error the running certificates stay.</summary>
    public void Reload()
    {
        try
        {
            _current = Load(_current);
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            LogReloadFailed(_logger, e.Message);
        }
    }

    public void Dispose() => _current.Dispose();

    /// <summary>The self-signed certificate of the data folder, created on first use: ECDSA P-256, the hostname and localhost in the SAN.</summary>
    public static X509Certificate2 CreateOrLoadSelfSigned(string tlsFolder, string hostname)
    {
        var certPath = Path.Combine(tlsFolder, "selfsigned.crt.pem");
        var keyPath = Path.Combine(tlsFolder, "selfsigned.key.pem");
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostname}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(hostname);
        san.AddDnsName("localhost");
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        san.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(2));

        var keyPem = key.ExportPkcs8PrivateKeyPem();
        WritePrivate(keyPath, keyPem);
        File.WriteAllText(certPath, certificate.ExportCertificatePem() + "\n");
        return X509Certificate2.CreateFromPemFile(certPath, keyPath);
    }

    private static void WritePrivate(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }

    private Snapshot Load(Snapshot? previous)
    {
        var tls = _config.Options.Tls;
        X509Certificate2 fallback;
        string description;
        if (tls.Certificate is not null && tls.Key is not null)
        {
            fallback = X509Certificate2.CreateFromPemFile(tls.Certificate, tls.Key);
            description = $"{tls.Certificate} ({fallback.Subject}, until {fallback.NotAfter:yyyy-MM-dd})";
        }
        else
        {
            fallback = CreateOrLoadSelfSigned(_folder.TlsFolder, _config.Hostname);
            description = $"self-signed for {_config.Hostname} (set Tls:Certificate and Tls:Key for a real one)";
        }

        var byName = new Dictionary<string, X509Certificate2>(StringComparer.OrdinalIgnoreCase);
        foreach (var sni in tls.Certificates)
        {
            var certificate = X509Certificate2.CreateFromPemFile(sni.Certificate, sni.Key);
            foreach (var name in sni.Names)
            {
                byName[name.Trim().TrimEnd('.')] = certificate;
            }
        }

        if (byName.Count > 0)
        {
            description += $"; {byName.Count} SNI name(s)";
        }

        previous?.Dispose();
        return new Snapshot(fallback, byName, description);
    }

    [LoggerMessage(EventId = 20, Level = LogLevel.Error, Message = "Certificate reload failed, keeping the running certificates: {Problem}")]
    private static partial void LogReloadFailed(ILogger logger, string problem);

    private sealed class Snapshot(X509Certificate2 fallback, Dictionary<string, X509Certificate2> byName, string description) : IServerCertificateSelector, IDisposable
    {
        public string Description { get; } = description;

        public X509Certificate2? SelectCertificate(string? serverName)
        {
            if (serverName is null || byName.Count == 0)
            {
                return fallback;
            }

            var name = serverName.TrimEnd('.');
            if (byName.TryGetValue(name, out var exact))
            {
                return exact;
            }

            var dot = name.IndexOf('.', StringComparison.Ordinal);
            return dot > 0 && byName.TryGetValue("*" + name[dot..], out var wildcard) ? wildcard : fallback;
        }

        public void Dispose()
        {
            // Sessions that started with these certificates may still use them; the GC frees them.
        }
    }
}
