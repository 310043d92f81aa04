using System.Net.Security;
using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client;

public sealed class ClientTlsAndAuthTests
{
    private static SslClientAuthenticationOptions AcceptAny => AcceptAnyFor("mx.test");

    private static SslClientAuthenticationOptions AcceptAnyFor(string host) => new()
    {
        TargetHost = host,
        RemoteCertificateValidationCallback = (_, _, _, _) => true,
    };

    [Fact]
    public async Task Starttls_handshakes_reports_the_certificate_and_its_validation_and_sends_ehlo_again()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS", "PIPELINING");
            await peer.ExpectAsync("STARTTLS");
            await peer.ReplyAsync("220 2.0.0 go ahead");
            await peer.UpgradeToTlsAsync(TestCertificates.MxTest);
            await peer.ExpectAsync("EHLO client.test");
            await peer.ReplyAsync(FakePeer.EhloReply("PIPELINING", "AUTH PLAIN", "REQUIRETLS", "8BITMIME"));
            Assert.Equal("MAIL FROM:<sender@client.test> REQUIRETLS", await peer.ReadLineAsync());
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);
        Assert.True(session.Capabilities.StartTls);

        var tls = await session.StartTlsAsync(AcceptAny);

        Assert.True(tls.Established);
        Assert.True(session.IsTls);
        Assert.Equal(220, tls.Reply.Code);
        Assert.Equal(TestCertificates.MxTest.Thumbprint, tls.RemoteCertificate!.Thumbprint);
        Assert.NotEmpty(tls.Chain);
        Assert.Equal(TestCertificates.MxTest.Thumbprint, tls.Chain[0].Thumbprint);
        Assert.True(tls.PolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors), tls.PolicyErrors.ToString());
        Assert.False(tls.CertificateValid);
        Assert.True(tls.CertificateAccepted);
        Assert.NotEqual(default, tls.Protocol);
        Assert.NotNull(tls.CipherSuite);
        Assert.Equal(250, tls.EhloReply!.Code);
        // Capabilities are those offered over TLS only.
        Assert.False(session.Capabilities.StartTls);
        Assert.True(session.Capabilities.RequireTls);

        var result = await session.SendAsync(Envelope("a@mx.test") with { RequireTls = true }, Content("x\r\n"));
        await server.CompletedAsync();
        Assert.True(result.AllDelivered);
    }

    [Fact]
    public async Task Default_validation_refuses_a_self_signed_certificate_and_the_failure_carries_what_was_seen()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS");
            await peer.ExpectAsync("STARTTLS");
            await peer.ReplyAsync("220 go ahead");
            try
            {
                // With TLS 1.3 the server side may finish before the client refuses the certificate.
                await peer.UpgradeToTlsAsync(TestCertificates.MxTest);
                Assert.True(await peer.ClosedByClientAsync(), "the client talked over a refused TLS session");
            }
            catch (IOException)
            {
            }
            catch (System.Security.Authentication.AuthenticationException)
            {
            }
        });
        var session = await ReadyAsync(server);

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.StartTlsAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test" }));
        Assert.False(session.IsUsable);
        await session.DisposeAsync();
        await server.CompletedAsync();

        Assert.Equal(SmtpClientStage.StartTls, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.TlsHandshakeFailed, failure.Failure);
        Assert.Equal(TestCertificates.MxTest.Thumbprint, failure.Tls!.RemoteCertificate!.Thumbprint);
        Assert.True(failure.Tls.PolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(failure.Tls.CertificateAccepted);
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task A_name_mismatch_is_reported_to_a_callback_that_accepts_anyway()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS");
            await peer.ExpectAsync("STARTTLS");
            await peer.ReplyAsync("220 go ahead");
            await peer.UpgradeToTlsAsync(TestCertificates.MxTest);
            await peer.ExpectAsync("EHLO client.test");
            await peer.ReplyAsync("250 mx.test");
        });
        var session = await ReadyAsync(server);

        var tls = await session.StartTlsAsync(AcceptAnyFor("other.test"));
        await server.CompletedAsync();

        Assert.True(tls.PolicyErrors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch));
        Assert.True(tls.Established);
    }

    [Fact]
    public async Task Bytes_injected_after_the_220_to_starttls_are_never_read_as_replies()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS");
            await peer.ExpectAsync("STARTTLS");
            await peer.SendAsync("220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n");
            Assert.True(await peer.ClosedByClientAsync(), "the client went on after the injection");
        });
        var session = await ReadyAsync(server);

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.StartTlsAsync(AcceptAny));
        await session.DisposeAsync();
        await server.CompletedAsync();

        Assert.Equal(SmtpConnectionFailure.StartTlsInjection, failure.Failure);
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task Starttls_refused_leaves_the_session_in_plaintext_and_usable()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS");
            await peer.ExpectAsync("STARTTLS");
            await peer.ReplyAsync("454 4.7.0 TLS not available");
            await peer.ExpectAsync("QUIT");
            await peer.ReplyAsync("221 bye");
        });
        var session = await ReadyAsync(server);

        var tls = await session.StartTlsAsync(AcceptAny);
        Assert.True(session.IsUsable);
        await session.QuitAsync();
        await server.CompletedAsync();

        Assert.False(tls.Established);
        Assert.Equal(454, tls.Reply.Code);
        Assert.False(session.IsTls);
    }

    [Fact]
    public async Task Auth_plain_sends_the_initial_response_over_tls()
    {
        string? line = null;
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("STARTTLS");
            await peer.ExpectAsync("STARTTLS");
            await peer.ReplyAsync("220 go");
            await peer.UpgradeToTlsAsync(TestCertificates.MxTest);
            await peer.ExpectAsync("EHLO");
            await peer.ReplyAsync(FakePeer.EhloReply("AUTH LOGIN PLAIN"));
            line = await peer.ReadLineAsync();
            await peer.ReplyAsync("235 2.7.0 ok");
        });
        var session = await ReadyAsync(server);
        var transcript = new List<string>();
        session.Transcript = transcript.Add;
        await session.StartTlsAsync(AcceptAny);

        var auth = await session.AuthenticateAsync("jürgen", "s3cret pass");
        await server.CompletedAsync();

        Assert.True(auth.Succeeded);
        Assert.Equal("PLAIN", auth.Mechanism);
        Assert.StartsWith("AUTH PLAIN ", line, StringComparison.Ordinal);
        Assert.Equal("\0jürgen\0s3cret pass", Encoding.UTF8.GetString(Convert.FromBase64String(line!["AUTH PLAIN ".Length..])));
        Assert.Contains("C: AUTH PLAIN ***", transcript);
        Assert.DoesNotContain(transcript, l => l.Contains(line["AUTH PLAIN ".Length..], StringComparison.Ordinal));
    }

    [Fact]
    public async Task Auth_login_answers_the_two_challenges()
    {
        var lines = new List<string>();
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("AUTH=LOGIN");
            lines.Add(await peer.ReadLineAsync());
            await peer.ReplyAsync("334 VXNlcm5hbWU6");
            lines.Add(await peer.ReadLineAsync());
            await peer.ReplyAsync("334 UGFzc3dvcmQ6");
            lines.Add(await peer.ReadLineAsync());
            await peer.ReplyAsync("535 5.7.8 bad credentials");
        });
        var session = await ReadyAsync(server);

        var auth = await session.AuthenticateAsync("user", "pw", allowPlaintext: true);
        await server.CompletedAsync();

        Assert.False(auth.Succeeded);
        Assert.Equal("LOGIN", auth.Mechanism);
        Assert.Equal(535, auth.Reply!.Code);
        Assert.Equal(["AUTH LOGIN", Convert.ToBase64String("user"u8), Convert.ToBase64String("pw"u8)], lines);
    }

    [Fact]
    public async Task Credentials_are_not_sent_in_plaintext_unless_allowed()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("AUTH PLAIN LOGIN");
            Assert.Equal("QUIT", await peer.ReadLineAsync());
            await peer.ReplyAsync("221 bye");
        });
        var session = await ReadyAsync(server);

        var auth = await session.AuthenticateAsync("user", "pw");
        await session.QuitAsync();
        await server.CompletedAsync();

        Assert.False(auth.Succeeded);
        Assert.Equal(SmtpAuthRefusal.NotEncrypted, auth.LocalRefusal);
        Assert.Null(auth.Reply);
    }

    [Fact]
    public async Task Auth_without_a_known_mechanism_is_refused_locally()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("AUTH CRAM-MD5 XOAUTH2");
            Assert.True(await peer.IsQuietAsync(TimeSpan.FromMilliseconds(200)));
        });
        var session = await ReadyAsync(server);

        var auth = await session.AuthenticateAsync("user", "pw", allowPlaintext: true);
        await server.CompletedAsync();

        Assert.Equal(SmtpAuthRefusal.NoSupportedMechanism, auth.LocalRefusal);
    }
}
