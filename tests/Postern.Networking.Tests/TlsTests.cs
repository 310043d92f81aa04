using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;

namespace Postern.Networking.Tests;

public sealed class TlsTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Implicit_tls_serves_the_certificate_and_the_handler_sees_tls()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mail.example.test", isDefault: true)]);
        var handler = new EchoHandler();
        var options = Listeners.Options() with { Tls = TlsMode.Implicit };
        await using var listener = await Listeners.StartAsync(options, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.StartTlsAsync("mail.example.test");
        Assert.Contains("tls=True", await client.ReadLineAsync());
        Assert.Equal("CN=mail.example.test", client.ServerCertificate!.Subject);
        await client.SendAsync("INFO\r\n");
        var info = await client.ReadLineAsync();
        Assert.Contains("sni=mail.example.test", info);
        Assert.Matches("protocol=Tls1[23]", info);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12, "Tls12")]
    [InlineData(SslProtocols.Tls13, "Tls13")]
    public async Task Implicit_tls_negotiates_tls_1_2_and_1_3(SslProtocols clientProtocols, string expected)
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mail.example.test", isDefault: true)]);
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.Implicit }, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.StartTlsAsync("mail.example.test", clientProtocols);
        Assert.StartsWith("+OK", await client.ReadLineAsync());
        await client.SendAsync("INFO\r\n");
        Assert.Contains($"protocol={expected}", await client.ReadLineAsync());
        Assert.NotNull(Assert.Single(handler.Connections).CipherSuite);
    }

    [Fact]
    public async Task Sni_picks_the_certificate_for_the_name_with_wildcards_and_a_default()
    {
        using var store = new CertificateStore(
        [
            _folder.MakeCertificate("default.test", isDefault: true),
            _folder.MakeCertificate("a.test"),
            _folder.MakeCertificate("b.test"),
            _folder.MakeCertificate("wild.test", names: ["*.wild.test"]),
        ]);
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.Implicit }, new EchoHandler(), store);

        Assert.Equal("CN=a.test", await ServedSubjectAsync(listener, "a.test"));
        Assert.Equal("CN=b.test", await ServedSubjectAsync(listener, "B.TEST"));
        Assert.Equal("CN=wild.test", await ServedSubjectAsync(listener, "mx.wild.test"));
        Assert.Equal("CN=default.test", await ServedSubjectAsync(listener, "deep.mx.wild.test"));
        Assert.Equal("CN=default.test", await ServedSubjectAsync(listener, "other.test"));
        Assert.Equal("CN=default.test", await ServedSubjectAsync(listener, null));
    }

    [Fact]
    public async Task Starttls_upgrades_and_the_session_continues_inside_tls()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mx.test", isDefault: true)]);
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.StartTls }, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.Contains("tls=False", await client.ReadLineAsync());
        Assert.True(Assert.Single(handler.Connections).CanStartTls);
        await client.SendAsync("STARTTLS\r\n");
        Assert.Equal("+GO", await client.ReadLineAsync());
        await client.StartTlsAsync("mx.test");
        await client.SendAsync("INFO\r\n");
        Assert.Contains("tls=True", await client.ReadLineAsync());
        var result = await handler.Upgraded.Task.WaitAsync(LineClient.Guard);
        Assert.True(result.Succeeded);
        Assert.Equal(0, result.DiscardedBytes);
        Assert.False(Assert.Single(handler.Connections).CanStartTls);
    }

    [Fact]
    public async Task Plaintext_pipelined_after_starttls_is_never_processed_inside_tls()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mx.test", isDefault: true)]);
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.StartTls }, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        // One write, so the injected command arrives in the same segment as STARTTLS.
        await client.SendAsync("STARTTLS\r\nINJECTED\r\n");
        Assert.Equal("+GO", await client.ReadLineAsync());
        var handshakeSucceeded = true;
        try
        {
            await client.StartTlsAsync("mx.test");
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            // Also safe: the injected bytes broke the handshake instead of being run.
            handshakeSucceeded = false;
        }

        if (handshakeSucceeded)
        {
            await client.SendAsync("AFTER\r\n");
            Assert.Equal("ECHO AFTER", await client.ReadLineAsync());
            await client.SendAsync("QUIT\r\n");
            Assert.Equal(["+BYE"], await client.ReadToEndAsync());
            Assert.Equal("INJECTED".Length + 2, (await handler.Upgraded.Task.WaitAsync(LineClient.Guard)).DiscardedBytes);
        }

        await ListenerServiceTests.WaitUntilAsync(() => listener.ActiveConnections == 0);
        Assert.DoesNotContain("INJECTED", handler.Commands);
        Assert.Equal("STARTTLS", handler.Commands.First());
    }

    [Fact]
    public async Task A_client_that_never_starts_the_handshake_is_disconnected_and_never_reaches_the_handler()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mx.test", isDefault: true)]);
        var handler = new EchoHandler();
        var options = Listeners.Options() with { Tls = TlsMode.Implicit, TlsHandshakeTimeout = TimeSpan.FromMilliseconds(200) };
        await using var listener = await Listeners.StartAsync(options, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(handler.Connections);
    }

    [Fact]
    public async Task A_context_over_any_stream_supports_the_protocol_and_starttls()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mem.test", isDefault: true)]);
        using var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        server.Listen();
        var endPoint = (IPEndPoint)server.LocalEndPoint!;
        var connecting = LineClient.ConnectAsync(endPoint);
        using var guard = new CancellationTokenSource(LineClient.Guard);
        using var accepted = await server.AcceptAsync(guard.Token);
        await using var client = await connecting;

        var handler = new EchoHandler();
        await using var context = ConnectionContext.Create(new NetworkStream(accepted), endPoint, IPEndPoint.Parse("192.0.2.50:1000"), store);
        var running = handler.HandleAsync(context);

        Assert.Contains("remote=192.0.2.50:1000", await client.ReadLineAsync());
        await client.SendAsync("STARTTLS\r\nSMUGGLED\r\n");
        Assert.Equal("+GO", await client.ReadLineAsync());
        await client.StartTlsAsync("mem.test");
        await client.SendAsync("QUIT\r\n");
        Assert.Equal("+BYE", await client.ReadLineAsync());
        await running.WaitAsync(LineClient.Guard);
        Assert.Equal(["STARTTLS", "QUIT"], handler.Commands);
    }

    [Fact]
    public async Task A_failed_starttls_handshake_closes_only_that_connection()
    {
        using var store = new CertificateStore([_folder.MakeCertificate("mx.test", isDefault: true)]);
        var logger = new RecordingLogger();
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.StartTls }, handler, store, logger);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        await client.SendAsync("STARTTLS\r\n");
        Assert.Equal("+GO", await client.ReadLineAsync());
        await client.SendAsync("this is not a TLS client hello\r\n");

        Assert.Equal(TlsUpgradeStatus.HandshakeFailed, (await handler.Upgraded.Task.WaitAsync(LineClient.Guard)).Status);
        Assert.Empty(await client.ReadToEndAsync());
        Assert.DoesNotContain(logger.Entries, e => e.Id.Id == 3003);

        await using var next = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await next.ReadLineAsync());
    }

    [Fact]
    public async Task Starttls_on_a_listener_without_certificates_is_not_available()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());
        Assert.False(Assert.Single(handler.Connections).CanStartTls);

        await client.SendAsync("STARTTLS\r\n");
        Assert.Equal("+GO", await client.ReadLineAsync());
        Assert.Equal(TlsUpgradeStatus.NotAvailable, (await handler.Upgraded.Task.WaitAsync(LineClient.Guard)).Status);
    }

    [Fact]
    public async Task A_replaced_certificate_file_is_served_after_the_automatic_reload_while_old_sessions_keep_theirs()
    {
        var files = _folder.MakeCertificate("reload.test", isDefault: true);
        using var store = new CertificateStore([files], watchFiles: true, debounce: TimeSpan.FromMilliseconds(100));
        var reloaded = new TaskCompletionSource<CertificateReloadResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var listener = await Listeners.StartAsync(Listeners.Options() with { Tls = TlsMode.Implicit }, new EchoHandler(), store);

        await using var before = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await before.StartTlsAsync("reload.test");
        Assert.StartsWith("+OK", await before.ReadLineAsync());
        var oldThumbprint = before.ServerCertificate!.Thumbprint;

        var replacement = new TempFolder();
        using (replacement)
        {
            using var fresh = SelfSignedCertificate.CreateOrLoad(replacement.Path, "reload.test");
            store.Reloaded += (_, result) =>
            {
                if (store.SelectCertificate("reload.test")!.Thumbprint == fresh.Thumbprint)
                {
                    reloaded.TrySetResult(result);
                }
            };
            File.Copy(Path.Combine(replacement.Path, SelfSignedCertificate.KeyFileName), files.KeyPath, overwrite: true);
            File.Copy(Path.Combine(replacement.Path, SelfSignedCertificate.CertificateFileName), files.CertificatePath, overwrite: true);
            Assert.True((await reloaded.Task.WaitAsync(LineClient.Guard)).Succeeded);

            await using var after = await LineClient.ConnectAsync(LineClient.Loopback(listener));
            await after.StartTlsAsync("reload.test");
            Assert.Equal(fresh.Thumbprint, after.ServerCertificate!.Thumbprint);
            Assert.NotEqual(oldThumbprint, fresh.Thumbprint);
        }

        await before.SendAsync("INFO\r\n");
        Assert.Contains("cert=reload.test", await before.ReadLineAsync());
    }

    private static async Task<string> ServedSubjectAsync(ListenerService listener, string? serverName)
    {
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await client.StartTlsAsync(serverName);
        await client.ReadLineAsync();
        return client.ServerCertificate!.Subject;
    }
}
