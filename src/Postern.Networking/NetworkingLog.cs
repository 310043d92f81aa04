using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.Extensions.Logging;

namespace Postern.Networking;

/// <summary>Log messages of the connection layer, with stable event ids (3000-3099).</summary>
internal static partial class NetworkingLog
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Listener {Listener} listening on {EndPoint}")]
    public static partial void ListenerStarted(ILogger logger, string listener, EndPoint endPoint);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Connection from {Remote} (peer {Peer}), limit {Limit}")]
    public static partial void ConnectionAccepted(ILogger logger, IPEndPoint remote, IPEndPoint peer, ConnectionLimit limit);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Connection closed")]
    public static partial void ConnectionEnded(ILogger logger);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Connection handler failed")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Invalid or missing PROXY header from trusted peer {Peer}: {Reason}")]
    public static partial void ProxyHeaderInvalid(ILogger logger, IPEndPoint peer, string reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "PROXY header from untrusted peer {Peer} refused; connection closed")]
    public static partial void UntrustedProxyHeader(ILogger logger, IPEndPoint peer);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Debug, Message = "{Mode} TLS established: {Protocol} {CipherSuite}, SNI {SniHostName}")]
    public static partial void TlsEstablished(ILogger logger, string mode, SslProtocols protocol, TlsCipherSuite? cipherSuite, string? sniHostName);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "{Mode} TLS handshake failed: {Reason}")]
    public static partial void TlsFailed(ILogger logger, string mode, string reason);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Discarded {Bytes} bytes of plaintext sent after STARTTLS")]
    public static partial void StartTlsDiscarded(ILogger logger, long bytes);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Error, Message = "Listener {Listener} failed to accept a connection")]
    public static partial void AcceptFailed(ILogger logger, string listener, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Listener {Listener} stopping with {Sessions} sessions")]
    public static partial void ListenerStopping(ILogger logger, string listener, int sessions);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Information, Message = "Listener {Listener} stopped: {Finished} finished, {ToldToGo} told to go, {Aborted} aborted")]
    public static partial void ListenerStopped(ILogger logger, string listener, int finished, int toldToGo, int aborted);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Connection from {Remote} over the limit ({Limit}) closed without a reply: too many over-limit connections")]
    public static partial void OverLimitDropped(ILogger logger, IPEndPoint remote, ConnectionLimit limit);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Certificate for {Names} loaded from {Path}: {Subject}, valid until {NotAfter:u}")]
    public static partial void CertificateLoaded(ILogger logger, string names, string path, string subject, DateTime notAfter);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Error, Message = "Certificate for {Names} could not be loaded from {Path}; keeping the previous one: {Reason}")]
    public static partial void CertificateLoadFailed(ILogger logger, string names, string path, string reason);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Information, Message = "Certificate files changed; reloaded {Loaded} of {Total}")]
    public static partial void CertificatesReloaded(ILogger logger, int loaded, int total);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Created a self-signed certificate for {HostName} in {Path}; clients will not trust it")]
    public static partial void SelfSignedCreated(ILogger logger, string hostName, string path);
}
