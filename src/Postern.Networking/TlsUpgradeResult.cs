using System.Net.Security;
using System.Security.Authentication;

namespace Postern.Networking;

/// <summary>How a STARTTLS upgrade ended.</summary>
public enum TlsUpgradeStatus
{
    /// <summary>The handshake completed; the transport now carries TLS.</summary>
    Succeeded = 0,

    /// <summary>The connection is already TLS.</summary>
    AlreadyTls = 1,

    /// <summary>The listener has no certificate selector (TLS is not configured).</summary>
    NotAvailable = 2,

    /// <summary>The handshake failed or timed out; the connection has been aborted and the handler should return.</summary>
    HandshakeFailed = 3,
}

/// <summary>Result of <see cref="ConnectionContext.UpgradeToTlsAsync"/>.</summary>
/// <param name="Status">How it ended.</param>
/// <param name="DiscardedBytes">Plaintext received after the STARTTLS command and thrown away (CVE-2011-0411).</param>
/// <param name="Protocol">Negotiated protocol when it succeeded.</param>
/// <param name="CipherSuite">Negotiated cipher suite when it succeeded.</param>
/// <param name="Error">Why it failed, for logs; never sent to the peer.</param>
public sealed record TlsUpgradeResult(
    TlsUpgradeStatus Status,
    long DiscardedBytes = 0,
    SslProtocols Protocol = SslProtocols.None,
    TlsCipherSuite? CipherSuite = null,
    string? Error = null)
{
    /// <summary>True when the transport now carries TLS.</summary>
    public bool Succeeded => Status == TlsUpgradeStatus.Succeeded;
}
