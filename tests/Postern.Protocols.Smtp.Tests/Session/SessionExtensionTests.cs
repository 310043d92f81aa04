using System.Text;
using Postern.Protocols.Smtp.Session;

namespace Postern.Protocols.Smtp.Tests.Session;

public sealed class SessionExtensionTests
{
    private static SmtpSessionOptions Options => new() { Hostname = "mx.test", MaxMessageSize = 1000 };

    [Fact]
    public async Task Parameters_of_extensions_that_are_off_are_refused_with_555()
    {
        var client = new SmtpTestClient(Options with { SmtpUtf8 = false, EightBitMime = false, Dsn = false, Chunking = false });
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            S: 250
            C: MAIL FROM:<a@c.test> SMTPUTF8
            S: 555 5.5.4
            C: MAIL FROM:<a@c.test> BODY=8BITMIME
            S: 555 5.5.4
            C: MAIL FROM:<a@c.test> BODY=BINARYMIME
            S: 555 5.5.4
            C: MAIL FROM:<a@c.test> RET=HDRS
            S: 555 5.5.4
            C: MAIL FROM:<a@c.test> REQUIRETLS
            S: 555 5.5.4
            C: MAIL FROM:<a@c.test>
            S: 250 2.1.0
            C: RCPT TO:<b@mx.test> NOTIFY=NEVER
            S: 555 5.5.4
            C: RCPT TO:<b@mx.test>
            S: 250 2.1.5
            C: BDAT 3 LAST
            C: abcNOOP
            S: 502 5.5.1
            S: 250 2.0.0
            """);
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
    }

    [Fact]
    public async Task Requiretls_is_accepted_only_under_tls()
    {
        var client = new SmtpTestClient(Options with { RequireTls = true, TlsActive = true });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nC: MAIL FROM:<a@c.test> REQUIRETLS SMTPUTF8 BODY=8BITMIME\nS: 250\nS: 250 2.1.0");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Binarymime_needs_bdat_and_expn_is_not_implemented()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            C: EXPN staff
            C: MAIL FROM:<a@c.test> BODY=BINARYMIME
            C: RCPT TO:<b@mx.test>
            C: DATA
            S: 250
            S: 502 5.5.1
            S: 250 2.1.0
            S: 250 2.1.5
            S: 503 5.5.1
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_new_hello_ends_the_transaction()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            C: MAIL FROM:<a@c.test>
            C: RCPT TO:<b@mx.test>
            C: HELO c.test
            C: DATA
            S: 250
            S: 250 2.1.0
            S: 250 2.1.5
            S: 250
            S: 503 5.5.1
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Commands_arriving_one_byte_at_a_time_are_understood()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220");
        foreach (var b in Encoding.ASCII.GetBytes("HELO c.test\r\nMAIL FROM:<a@c.test>\r\nQUIT\r\n"))
        {
            await client.SendAsync([b]);
        }

        await client.ConverseAsync("S: 250 mx.test\nS: 250 2.1.0\nS: 221 2.0.0");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task A_megabyte_without_a_line_end_is_discarded_with_one_500()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220");
        var block = Encoding.ASCII.GetBytes(new string('z', 64 * 1024));
        for (var i = 0; i < 16; i++)
        {
            await client.SendAsync(block);
        }

        await client.SendAsync("\r\nNOOP\r\n");
        await client.ConverseAsync("S: 500 5.5.2 Line too long\nS: 250 2.0.0");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Auth_is_refused_inside_a_transaction_and_when_not_offered()
    {
        var client = new SmtpTestClient(Options with { AuthOffered = true, TlsActive = true });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nC: MAIL FROM:<a@c.test>\nC: AUTH PLAIN\nC: RSET\nC: AUTH CRAM-MD5\nS: 250\nS: 250\nS: 503 5.5.1\nS: 250\nS: 504 5.5.4");
        await client.HangUpAsync();

        var none = new SmtpTestClient();
        await none.ConverseAsync("S: 220\nC: HELO c.test\nC: AUTH PLAIN\nS: 250\nS: 502 5.5.1");
        await none.HangUpAsync();
    }

    [Fact]
    public async Task Lmtp_refuses_helo_and_smtp_refuses_lhlo()
    {
        var smtp = new SmtpTestClient();
        await smtp.ConverseAsync("S: 220 mx.test ESMTP\nC: LHLO c.test\nS: 500");
        await smtp.HangUpAsync();

        var lmtp = new SmtpTestClient(Options with { Lmtp = true });
        await lmtp.ConverseAsync("""
            S: 220 mx.test LMTP
            C: HELO c.test
            C: LHLO c.test
            C: MAIL FROM:<a@c.test>
            C: RCPT TO:<unknown@mx.test>
            C: DATA
            S: 500
            S: 250-mx.test
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250 DSN
            S: 250 2.1.0
            S: 550 5.1.1
            S: 503 5.5.1 No valid recipients
            """);
        await lmtp.HangUpAsync();
    }
}
