using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client.EndToEnd;

/// <summary>The client against Python's aiosmtpd: STARTTLS, AUTH, SMTPUTF8, SIZE, and the exact bytes it received.</summary>
[Trait("Category", "EndToEnd")]
public sealed class AioSmtpdTests
{
    private static SslClientAuthenticationOptions TrustingOurCertificate()
    {
        // "verify" with a trust root the caller injects: the chain must build to it and the name must match.
        var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
        policy.CustomTrustStore.Add(TestCertificates.MxTest);
        return new SslClientAuthenticationOptions { TargetHost = "mx.test", CertificateChainPolicy = policy };
    }

    private static async Task<SmtpClientSession> ReadyAsync(PeerProcess peer)
    {
        var session = await peer.ConnectAsync();
        Assert.Equal(220, (await session.ReadGreetingAsync()).Code);
        Assert.Equal(250, (await session.EhloAsync()).Code);
        return session;
    }

    [Fact]
    public async Task Starttls_auth_and_an_smtputf8_message_arrive_byte_for_byte()
    {
        await using var peer = await AioSmtpd.StartAsync(TestCertificates.MxTest);
        await using var session = await ReadyAsync(peer);
        Assert.True(session.Capabilities.StartTls);
        Assert.Empty(session.Capabilities.AuthMechanisms);

        var tls = await session.StartTlsAsync(TrustingOurCertificate());
        Assert.True(tls.Established);
        Assert.True(tls.CertificateValid, tls.PolicyErrors + " " + tls.ChainStatus);
        Assert.Equal(TestCertificates.MxTest.Thumbprint, tls.Chain[0].Thumbprint);
        Assert.Contains("PLAIN", session.Capabilities.AuthMechanisms);

        var wrong = await session.AuthenticateAsync("alice", "queen of hearts");
        Assert.False(wrong.Succeeded);
        Assert.Equal(535, wrong.Reply!.Code);
        var auth = await session.AuthenticateAsync("alice", "wonderland");
        Assert.True(auth.Succeeded, auth.Reply?.ToString());
        Assert.Equal("PLAIN", auth.Mechanism);

        var body = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: jörg@bücher.test\r\n\r\n.\r\nÄrger über Ölpreise\n..\r\nend";
        var envelope = new SmtpEnvelope("jörg@bücher.test",
            [new SmtpRecipient("zoë@mx.test") { Notify = DsnNotify.Success }, new SmtpRecipient("unknown@mx.test"), new SmtpRecipient("later@mx.test")])
        { RequiresSmtpUtf8 = true };
        var result = await session.SendAsync(envelope, Content(body));
        await session.QuitAsync();

        Assert.Equal([SmtpRecipientOutcome.Delivered, SmtpRecipientOutcome.Failed, SmtpRecipientOutcome.Deferred], result.Recipients.Select(r => r.Outcome));
        Assert.Equal("no such user here", result.Recipients[1].Reply!.Lines[0]);
        Assert.False(result.DsnParametersSent);
        var message = Assert.Single(peer.Messages());
        Assert.True(message.Tls);
        Assert.True(message.Authenticated);
        Assert.Equal("jörg@bücher.test", message.MailFrom);
        Assert.Equal(["zoë@mx.test"], message.Recipients);
        Assert.Contains("SMTPUTF8", message.MailOptions);
        Assert.Contains("BODY=8BITMIME", message.MailOptions);
        Assert.Contains($"SIZE={Encoding.UTF8.GetByteCount(body)}", message.MailOptions);
        // No DSN offered: no NOTIFY went out (aiosmtpd refuses RCPT parameters with 555).
        Assert.Empty(message.RcptOptions);
        Assert.Equal("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: jörg@bücher.test\r\n\r\n.\r\nÄrger über Ölpreise\r\n..\r\nend\r\n", Encoding.UTF8.GetString(message.Content));
    }

    [Fact]
    public async Task Auth_login_is_used_when_plain_is_not_offered()
    {
        await using var peer = await AioSmtpd.StartAsync(TestCertificates.MxTest, excludeMechanism: "PLAIN");
        await using var session = await ReadyAsync(peer);
        await session.StartTlsAsync(TrustingOurCertificate());

        var auth = await session.AuthenticateAsync("alice", "wonderland");
        await session.QuitAsync();

        Assert.True(auth.Succeeded, auth.Reply?.ToString());
        Assert.Equal("LOGIN", auth.Mechanism);
    }

    [Fact]
    public async Task A_certificate_for_another_name_fails_verification_but_is_reported_to_an_accepting_caller()
    {
        await using var peer = await AioSmtpd.StartAsync(TestCertificates.MxTest);
        await using (var strict = await ReadyAsync(peer))
        {
            var refused = TrustingOurCertificate();
            refused.TargetHost = "customer.test";
            var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => strict.StartTlsAsync(refused));
            Assert.Equal(SmtpConnectionFailure.TlsHandshakeFailed, failure.Failure);
            Assert.Equal(SslPolicyErrors.RemoteCertificateNameMismatch, failure.Tls!.PolicyErrors);
        }

        await using var lenient = await ReadyAsync(peer);
        var options = TrustingOurCertificate();
        options.TargetHost = "customer.test";
        options.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        var tls = await lenient.StartTlsAsync(options);
        var result = await lenient.SendAsync(Envelope("a@mx.test"), Content("x\r\n"));
        await lenient.QuitAsync();

        Assert.Equal(SslPolicyErrors.RemoteCertificateNameMismatch, tls.PolicyErrors);
        Assert.True(result.AllDelivered);
    }

    [Fact]
    public async Task The_peers_size_limit_refuses_a_big_message_before_it_is_sent()
    {
        await using var peer = await AioSmtpd.StartAsync(TestCertificates.MxTest, sizeLimit: 1000);
        await using var session = await ReadyAsync(peer);
        Assert.Equal(1000, session.Capabilities.MaxMessageSize);

        var big = await session.SendAsync(Envelope("a@mx.test"), Content(new string('x', 70) + "\r\n" + string.Concat(Enumerable.Repeat("line of text\r\n", 100))));
        var small = await session.SendAsync(Envelope("a@mx.test"), Content("small\r\n"));
        await session.QuitAsync();

        Assert.Equal(SmtpLocalFailure.MessageTooBig, big.LocalFailure);
        Assert.Equal(SmtpRecipientOutcome.Failed, big.Recipients[0].Outcome);
        Assert.True(small.AllDelivered);
        Assert.Equal("small\r\n", Encoding.UTF8.GetString(Assert.Single(peer.Messages()).Content));
    }

    [Fact]
    public async Task Requiretls_is_not_sent_to_a_tls_peer_that_does_not_offer_it()
    {
        await using var peer = await AioSmtpd.StartAsync(TestCertificates.MxTest);
        await using var session = await ReadyAsync(peer);
        await session.StartTlsAsync(TrustingOurCertificate());

        var result = await session.SendAsync(Envelope("a@mx.test") with { RequireTls = true }, Content("secret\r\n"));
        await session.QuitAsync();

        Assert.Equal(SmtpLocalFailure.RequireTlsUnavailable, result.LocalFailure);
        Assert.Contains("does not offer REQUIRETLS", result.LocalReply!.Lines[0], StringComparison.Ordinal);
        Assert.Empty(peer.Messages());
    }
}
