using Microsoft.Extensions.Logging;
using Postern.Host.Configuration;
using Postern.Host.Embedded;
using Postern.Networking;

namespace Postern.Host.Server;

/// <summary>
/// The server's TLS certificates: the configured PEM files (a default plus per-SNI entries) or, when none
/// is configured, a self-signed certificate for the server hostname kept in the data folder. The files
/// are watched and re-read when they change, and on SIGHUP; a file that fails to load keeps the previous
/// certificate (the store logs why).
/// </summary>
public sealed class ServerCertificates : IDisposable
{
    private readonly CertificateStore _store;

    private ServerCertificates(CertificateStore store, string description)
    {
        _store = store;
        Description = description;
    }

    public ICertificateSelector Selector => _store;

    public string Description { get; }

    /// <summary>Loads the certificates; a file that cannot be read at start is a configuration error naming the key.</summary>
    public static ServerCertificates Create(LoadedConfiguration config, DataFolder folder, ILogger logger)
    {
        var tls = config.Options.Tls;
        var files = new List<CertificateFiles>();
        string description;
        if (tls.Certificate is not null && tls.Key is not null)
        {
            files.Add(new CertificateFiles([config.Hostname], tls.Certificate, tls.Key, IsDefault: true));
            description = tls.Certificate;
        }
        else
        {
            SelfSignedCertificate.CreateOrLoad(folder.TlsFolder, config.Hostname, logger: logger).Dispose();
            files.Add(SelfSignedCertificate.FilesFor(folder.TlsFolder, config.Hostname));
            description = $"self-signed for {config.Hostname} (set Tls:Certificate and Tls:Key for a real one)";
        }

        foreach (var sni in tls.Certificates)
        {
            files.Add(new CertificateFiles(sni.Names, sni.Certificate, sni.Key));
        }

        if (tls.Certificates.Count > 0)
        {
            description += $"; {tls.Certificates.Count} more chosen by SNI";
        }

        try
        {
            return new ServerCertificates(new CertificateStore(files, logger, watchFiles: true), description);
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigurationException([$"Tls: {e.Message}"]);
        }
    }

    /// <summary>Re-reads the certificate files (SIGHUP). Errors keep the running certificates and are logged by the store.</summary>
    public bool Reload() => _store.Reload().Succeeded;

    public void Dispose() => _store.Dispose();
}
