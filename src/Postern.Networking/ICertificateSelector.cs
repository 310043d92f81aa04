using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Networking;

/// <summary>Chooses the server certificate for a TLS handshake by the client's SNI name.</summary>
public interface ICertificateSelector
{
    /// <summary>
    /// The certificate, with its private key, for <paramref name="serverName"/> (the SNI host name, or null
    /// when the client sent none); null when no certificate fits and there is no default.
    /// </summary>
    X509Certificate2? SelectCertificate(string? serverName);

    /// <summary>
    /// The certificate with its intermediate chain for the handshake. The default builds a context from
    /// <see cref="SelectCertificate"/> without intermediates.
    /// </summary>
    SslStreamCertificateContext? SelectContext(string? serverName)
        => SelectCertificate(serverName) is { } certificate ? SslStreamCertificateContext.Create(certificate, null, offline: true) : null;
}
