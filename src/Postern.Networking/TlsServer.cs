using System.Net.Security;
using System.Security.Authentication;

namespace Postern.Networking;

/// <summary>Server-side TLS handshakes: TLS 1.2 and 1.3 only, certificate chosen per SNI name.</summary>
internal static class TlsServer
{
    public const SslProtocols Protocols = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>Runs the server handshake on <paramref name="stream"/> within <paramref name="timeout"/>.</summary>
    public static async Task<SslStream> AuthenticateAsync(Stream stream, ICertificateSelector certificates, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(stream, leaveInnerStreamOpen: true);
        using var timer = new CancellationTokenSource(timeout, time);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            await ssl.AuthenticateAsServerAsync(
                static (_, hello, state, _) =>
                {
                    var selector = (ICertificateSelector)state!;
                    var context = selector.SelectContext(string.IsNullOrEmpty(hello.ServerName) ? null : hello.ServerName)
                        ?? throw new AuthenticationException("No certificate is configured for this server name.");
                    return ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = context,
                        EnabledSslProtocols = Protocols,
                        ClientCertificateRequired = false,
                        AllowRenegotiation = false,
                    });
                },
                certificates,
                cts.Token).ConfigureAwait(false);
            return ssl;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"The TLS handshake did not finish within {timeout.TotalSeconds:0.#} s."));
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
