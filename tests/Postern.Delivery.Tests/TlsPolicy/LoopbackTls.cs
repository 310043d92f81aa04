using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Postern.Delivery.TlsPolicy;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>One TLS handshake over loopback TCP: an SslStream server with a given chain, our client options.</summary>
internal static class LoopbackTls
{
    /// <summary>Runs the handshake; returns whether the client completed it and the SNI name the server saw.</summary>
    public static async Task<(bool Connected, string? ServerSawSni)> HandshakeAsync(TlsPeerVerifier verifier,
        X509Certificate2 leaf, params X509Certificate2[] chain)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        string? sni = null;
        var context = SslStreamCertificateContext.Create(leaf, [.. chain], offline: true);
        var server = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync();
            await using var tls = new SslStream(socket.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = context,
                });
                sni = tls.TargetHostName;
                await tls.WriteAsync("hello"u8.ToArray());
            }
            catch (AuthenticationException)
            {
            }
            catch (IOException)
            {
            }
        });

        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = new SslStream(client.GetStream());
        bool connected;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await stream.AuthenticateAsClientAsync(verifier.CreateClientOptions(), timeout.Token);
            var buffer = new byte[5];
            await stream.ReadExactlyAsync(buffer, timeout.Token);
            connected = true;
        }
        catch (AuthenticationException)
        {
            connected = false;
        }

        client.Close();
        await server.WaitAsync(TimeSpan.FromSeconds(20));
        return (connected, sni);
    }
}
