using System.Text;
using Postern.Protocols.Smtp.Session;

namespace Postern.Protocols.Smtp.Tests.Session;

public sealed class SessionTests
{
    private static SmtpSessionOptions Options => new() { Hostname = "mx.test", MaxMessageSize = 1000 };

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    [Fact]
    public async Task Ehlo_lists_exactly_the_default_capabilities()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220 mx.test ESMTP
            C: EHLO client.test
            """);
        var lines = new List<string?>();
        for (var i = 0; i < 8; i++)
        {
            lines.Add(await client.ReadLineAsync());
        }

        Assert.Equal(
            ["250-mx.test", "250-PIPELINING", "250-SIZE 1000", "250-8BITMIME", "250-SMTPUTF8", "250-ENHANCEDSTATUSCODES", "250-CHUNKING", "250 DSN"],
            lines);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Capabilities_follow_the_toggles_and_the_tls_state()
    {
        var plain = await CapabilitiesAsync(Options with { StartTlsOffered = true, AuthOffered = true, RequireTls = true, Chunking = false, Dsn = false, SmtpUtf8 = false, EightBitMime = false });
        Assert.Equal(["mx.test", "PIPELINING", "SIZE 1000", "ENHANCEDSTATUSCODES", "STARTTLS"], plain);

        var tls = await CapabilitiesAsync(Options with { TlsActive = true, StartTlsOffered = true, AuthOffered = true, RequireTls = true });
        Assert.Equal(["mx.test", "PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "DSN", "AUTH PLAIN LOGIN", "REQUIRETLS"], tls);

        var plaintextAuth = await CapabilitiesAsync(Options with { AuthOffered = true, AuthAllowedWithoutTls = true });
        Assert.Contains("AUTH PLAIN LOGIN", plaintextAuth);
    }

    private static async Task<List<string>> CapabilitiesAsync(SmtpSessionOptions options)
    {
        var client = new SmtpTestClient(options);
        await client.ConverseAsync("S: 220\nC: EHLO c.test\nC: QUIT");
        var lines = await client.ReadAllAsync();
        await client.Run;
        Assert.StartsWith("221 2.0.0", lines[^1], StringComparison.Ordinal);
        return lines.SkipLast(1).Select(l => l[4..]).ToList();
    }

    [Fact]
    public async Task Helo_gets_a_plain_250()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: HELO client.test
            S: 250 mx.test
            C: MAIL FROM:<a@client.test>
            S: 250 2.1.0
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_message_is_dot_unstuffed_into_the_sink_and_queued()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: EHLO client.test
            S: 250-mx.test
            S: 250-PIPELINING
            S: 250-SIZE
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250 DSN
            C: MAIL FROM:<alice@client.test>
            S: 250 2.1.0
            C: RCPT TO:<bob@mx.test>
            S: 250 2.1.5
            C: DATA
            S: 354
            C: Subject: hi
            C:
            C: ..leading dot
            C: .
            S: 250 2.0.0 OK queued as Qbob
            C: QUIT
            S: 221 2.0.0
            """);
        await client.ExpectClosedAsync();
        Assert.Equal(["Subject: hi\r\n\r\n.leading dot\r\n"], client.Handler.Messages);
    }

    [Fact]
    public async Task Commands_out_of_order_get_503_and_the_session_goes_on()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: MAIL FROM:<a@c.test>
            S: 503 5.5.1
            C: HELO c.test
            S: 250
            C: RCPT TO:<b@mx.test>
            S: 503 5.5.1
            C: DATA
            S: 503 5.5.1
            C: MAIL FROM:<a@c.test>
            S: 250 2.1.0
            C: MAIL FROM:<a@c.test>
            S: 503 5.5.1 Nested
            C: DATA
            S: 503 5.5.1
            C: RCPT TO:<unknown@mx.test>
            S: 550 5.1.1
            C: DATA
            S: 554 5.5.1 No valid recipients
            C: RSET
            S: 250 2.0.0
            C: RCPT TO:<b@mx.test>
            S: 503 5.5.1
            C: NOOP
            S: 250 2.0.0
            C: VRFY bob
            S: 252 2.5.0
            C: HELP
            S: 214
            C: FROB
            S: 500 5.5.2
            C: QUIT
            S: 221 2.0.0
            """);
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task A_refused_hello_leaves_the_session_before_hello()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: EHLO refused.example
            S: 550 5.7.1 Go away
            C: MAIL FROM:<a@c.test>
            S: 503 5.5.1
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_refused_sender_does_not_start_a_transaction()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            S: 250
            C: MAIL FROM:<blocked@c.test>
            S: 550 5.7.1
            C: RCPT TO:<b@mx.test>
            S: 503 5.5.1
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Pipelined_commands_are_answered_in_order_in_one_flush()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250");
        var before = client.ServerOutput.Flushes;
        await client.ConverseAsync("""
            C: MAIL FROM:<a@c.test>
            C: RCPT TO:<b@mx.test>
            C: RCPT TO:<unknown@mx.test>
            C: RCPT TO:<c@mx.test>
            C: DATA
            S: 250 2.1.0
            S: 250 2.1.5
            S: 550 5.1.1
            S: 250 2.1.5
            S: 354
            """);
        Assert.Equal(before + 1, client.ServerOutput.Flushes);
        await client.ConverseAsync("C: x\nC: .\nC: QUIT\nS: 250 2.0.0 OK queued as Qb\nS: 221");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_discarded()
    {
        var client = new SmtpTestClient(Options with { StartTlsOffered = true });
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            S: 250
            C: STARTTLS
            C: MAIL FROM:<evil@attacker.test>
            C: RCPT TO:<victim@mx.test>
            S: 220 2.0.0 Ready to start TLS
            C: MAIL FROM:<a@c.test>
            S: 503 5.5.1
            C: EHLO c.test
            S: 250-mx.test
            S: 250-PIPELINING
            S: 250-SIZE
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250 DSN
            C: STARTTLS
            S: 503 5.5.1 TLS already active
            C: MAIL FROM:<a@c.test>
            S: 250 2.1.0
            """);
        await client.HangUpAsync();
        Assert.Equal(1, client.Handler.TlsStarts);
        Assert.True(client.Session.IsTlsActive);
        Assert.DoesNotContain("evil@attacker.test", client.Handler.Senders);
    }

    [Fact]
    public async Task A_failed_tls_handshake_ends_the_session()
    {
        var client = new SmtpTestClient(Options with { StartTlsOffered = true }, new FakeHandler { FailTls = true });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: STARTTLS\nS: 220 2.0.0");
        await client.ExpectClosedAsync();
        Assert.Equal(1, client.Handler.TlsStarts);
    }

    [Fact]
    public async Task Starttls_is_refused_when_not_offered()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: STARTTLS\nS: 502 5.5.1");
        await client.HangUpAsync();
        Assert.Equal(0, client.Handler.TlsStarts);
    }

    [Fact]
    public async Task Size_parameter_above_the_limit_is_refused_at_mail()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("""
            S: 220
            C: EHLO c.test
            """);
        await client.ConverseAsync("""
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250-
            S: 250
            C: MAIL FROM:<a@c.test> SIZE=1001
            S: 552 5.3.4
            C: MAIL FROM:<a@c.test> SIZE=1000
            S: 250 2.1.0
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_message_over_the_limit_is_read_to_the_end_then_refused()
    {
        var client = new SmtpTestClient();
        var big = string.Concat(Enumerable.Repeat(new string('x', 70) + "\r\n", 30));
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        await client.SendAsync(big + ".\r\nNOOP\r\n");
        await client.ConverseAsync("S: 552 5.3.4\nS: 250 2.0.0");
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
        Assert.Equal(1, client.Handler.Aborted);
    }

    [Fact]
    public async Task By_default_bare_line_ends_are_stored_as_crlf_and_nothing_smuggled_runs()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        await client.SendAsync("hello\n.\r\nMAIL FROM:<evil@attacker.test>\r\nbare\rcr\r\n.\r\nNOOP\r\n");
        await client.ConverseAsync("S: 250 2.0.0 OK queued\nS: 250 2.0.0");
        await client.HangUpAsync();

        // One message: the smuggled "end of data" after a bare LF is content, and no bare CR or LF is stored.
        Assert.Equal(["hello\r\n.\r\nMAIL FROM:<evil@attacker.test>\r\nbare\r\ncr\r\n"], client.Handler.Messages);
        Assert.DoesNotContain("evil@attacker.test", client.Handler.Senders);
        Assert.Equal(DataDefects.BareLineFeed | DataDefects.BareCarriageReturn, client.Handler.LastDefects);
    }

    [Fact]
    public async Task A_bare_lf_in_data_refuses_the_message_when_the_setting_is_reject()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", MaxMessageSize = 1000, BareLineEnds = BareLineEndHandling.Reject });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        await client.SendAsync("hello\n.\r\nMAIL FROM:<evil@attacker.test>\r\n.\r\nNOOP\r\n");
        await client.ConverseAsync("S: 550 5.5.2\nS: 250 2.0.0");
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
        Assert.DoesNotContain("evil@attacker.test", client.Handler.Senders);
        Assert.Equal(1, client.Handler.Aborted);
    }

    [Fact]
    public async Task Data_split_byte_by_byte_still_decodes()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        foreach (var b in Encoding.ASCII.GetBytes("a\r\n..b\r\n.\r\n"))
        {
            await client.SendAsync([b]);
        }

        await client.ConverseAsync("S: 250 2.0.0 OK queued");
        await client.HangUpAsync();
        Assert.Equal(["a\r\n.b\r\n"], client.Handler.Messages);
    }

    [Fact]
    public async Task Bdat_chunks_are_exact_byte_counts()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: EHLO c.test");
        await client.ConverseAsync(string.Concat(Enumerable.Repeat("S: 250\n", 8)));
        await client.ConverseAsync("C: MAIL FROM:<a@c.test> BODY=BINARYMIME\nC: RCPT TO:<b@mx.test>\nS: 250 2.1.0\nS: 250 2.1.5");
        await client.SendAsync("BDAT 7\r\nhe\r\n.\r\nBDAT 6 LAST\r\n world");
        await client.ConverseAsync("S: 250 2.0.0 7 octets\nS: 250 2.0.0 OK queued as Qb");
        await client.ConverseAsync("C: BDAT 0 LAST\nS: 503 5.5.1\nC: NOOP\nS: 250");
        await client.HangUpAsync();
        Assert.Equal(["he\r\n.\r\n world"], client.Handler.Messages);
    }

    [Fact]
    public async Task Bdat_without_a_valid_recipient_consumes_its_bytes_then_refuses()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250");
        await client.SendAsync("BDAT 6\r\nQUIT\r\nNOOP\r\n");
        await client.ConverseAsync("S: 503 5.5.1\nS: 250 2.0.0");
        await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nC: RCPT TO:<unknown@mx.test>\nS: 250\nS: 550");
        await client.SendAsync("BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
        await client.ConverseAsync("S: 554 5.5.1\nS: 250 2.0.0");
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
    }

    [Fact]
    public async Task Bdat_over_the_size_limit_is_refused_after_its_bytes()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nS: 250\nS: 250");
        await client.SendAsync("BDAT 600\r\n" + new string('x', 600) + "BDAT 600 LAST\r\n" + new string('y', 600) + "NOOP\r\n");
        await client.ConverseAsync("S: 250 2.0.0 600 octets\nS: 552 5.3.4\nS: 250 2.0.0 OK");
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
        Assert.Equal(1, client.Handler.Aborted);
    }

    [Fact]
    public async Task Data_after_bdat_is_refused()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nS: 250\nS: 250");
        await client.SendAsync("BDAT 1\r\nxDATA\r\n");
        await client.ConverseAsync("S: 250 2.0.0 1 octets\nS: 503 5.5.1");
        await client.HangUpAsync();
    }

    private static SmtpSessionOptions AuthOptions => Options with { TlsActive = true, AuthOffered = true };

    [Fact]
    public async Task Auth_plain_with_an_initial_response()
    {
        var client = new SmtpTestClient(AuthOptions);
        await client.ConverseAsync($"""
            S: 220
            C: HELO c.test
            S: 250
            C: AUTH PLAIN {B64("\0alice\0wrong")}
            S: 535 5.7.8
            C: AUTH PLAIN {B64("admin\0alice\0secret")}
            S: 235 2.7.0
            C: AUTH PLAIN {B64("\0alice\0secret")}
            S: 503 5.5.1
            """);
        await client.HangUpAsync();
        Assert.True(client.Session.IsAuthenticated);
        Assert.Equal(("PLAIN", "admin", "alice"), client.Handler.Logins[1]);
    }

    [Fact]
    public async Task Auth_plain_with_a_challenge_and_auth_login()
    {
        var client = new SmtpTestClient(AuthOptions);
        await client.ConverseAsync($"""
            S: 220
            C: HELO c.test
            S: 250
            C: AUTH PLAIN
            S: 334
            C: *
            S: 501 5.0.0
            C: AUTH PLAIN
            S: 334
            C: !!!notbase64
            S: 501 5.5.2
            C: AUTH LOGIN
            S: 334 VXNlcm5hbWU6
            C: {B64("alice")}
            S: 334 UGFzc3dvcmQ6
            C: {B64("secret")}
            S: 235 2.7.0
            """);
        await client.HangUpAsync();
        Assert.Equal([("LOGIN", string.Empty, "alice")], client.Handler.Logins);
    }

    [Fact]
    public async Task Auth_plain_challenge_then_response()
    {
        var client = new SmtpTestClient(AuthOptions);
        await client.ConverseAsync($"S: 220\nC: HELO c.test\nS: 250\nC: AUTH PLAIN\nS: 334\nC: {B64("\0alice\0secret")}\nS: 235 2.7.0\nC: AUTH LOGIN {B64("alice")}\nS: 503");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Auth_needs_tls_unless_allowed_and_submission_needs_auth()
    {
        var plain = new SmtpTestClient(Options with { AuthOffered = true });
        await plain.ConverseAsync($"S: 220\nC: HELO c.test\nS: 250\nC: AUTH PLAIN {B64("\0alice\0secret")}\nS: 538 5.7.11");
        await plain.HangUpAsync();

        var submission = new SmtpTestClient(AuthOptions with { AuthRequired = true });
        await submission.ConverseAsync($"""
            S: 220
            C: EHLO c.test
            """);
        await submission.ConverseAsync(string.Concat(Enumerable.Repeat("S: 250\n", 9)) + $"""
            C: MAIL FROM:<a@c.test>
            S: 530 5.7.0
            C: AUTH PLAIN {B64("\0alice\0secret")}
            S: 235 2.7.0
            C: MAIL FROM:<a@c.test>
            S: 250 2.1.0
            """);
        await submission.HangUpAsync();
    }

    [Fact]
    public async Task Too_many_errors_close_with_421()
    {
        var client = new SmtpTestClient(Options with { MaxErrors = 3 });
        await client.ConverseAsync("""
            S: 220
            C: FOO
            C: BAR
            C: BAZ
            C: NOOP
            S: 500 5.5.2
            S: 500 5.5.2
            S: 500 5.5.2
            S: 421 4.7.0
            """);
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task Too_many_commands_before_hello_close_with_421()
    {
        var client = new SmtpTestClient(Options with { MaxCommandsBeforeAuth = 2 });
        await client.ConverseAsync("S: 220\nC: NOOP\nC: NOOP\nC: NOOP\nS: 250\nS: 250\nS: 421 4.7.0");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task A_too_long_line_gets_500_and_the_session_stays_in_step()
    {
        var client = new SmtpTestClient(Options with { MaxLineLength = 100 });
        await client.ConverseAsync("S: 220\nC: NOOP " + new string('a', 300) + "\nC: NOOP\nS: 500 5.5.2 Line too long\nS: 250 2.0.0");

        // A long line whose end arrives in a later write: its tail is never taken for a command.
        await client.SendAsync("NOOP " + new string('b', 200));
        await client.ConverseAsync("S: 500 5.5.2 Line too long");
        await client.SendAsync(new string('b', 50) + " QUIT\r\nNOOP\r\n");
        await client.ConverseAsync("S: 250 2.0.0");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Recipients_beyond_the_limit_get_452()
    {
        var client = new SmtpTestClient(Options with { MaxRecipients = 2 });
        await client.ConverseAsync("""
            S: 220
            C: HELO c.test
            C: MAIL FROM:<a@c.test>
            C: RCPT TO:<b@mx.test>
            C: RCPT TO:<c@mx.test>
            C: RCPT TO:<d@mx.test>
            S: 250
            S: 250
            S: 250
            S: 250
            S: 452 4.5.3
            """);
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Shutdown_lets_the_transaction_finish_then_answers_421()
    {
        using var shutdown = new CancellationTokenSource();
        var client = new SmtpTestClient(Options, shutdownRequested: shutdown.Token);
        await client.ConverseAsync("S: 220\nC: HELO c.test\nC: MAIL FROM:<a@c.test>\nS: 250\nS: 250");
        await shutdown.CancelAsync();
        await client.ConverseAsync("""
            C: RCPT TO:<b@mx.test>
            C: DATA
            S: 250 2.1.5
            S: 354
            C: hi
            C: .
            C: NOOP
            S: 250 2.0.0 OK queued
            S: 421 4.3.2
            """);
        await client.ExpectClosedAsync();
        Assert.Single(client.Handler.Messages);
    }

    [Fact]
    public async Task The_shutdown_deadline_answers_421_at_once()
    {
        using var deadline = new CancellationTokenSource();
        var client = new SmtpTestClient(Options, shutdownDeadline: deadline.Token);
        await client.ConverseAsync("S: 220\nC: HELO c.test\nC: MAIL FROM:<a@c.test>\nS: 250\nS: 250");
        await deadline.CancelAsync();
        await client.ConverseAsync("S: 421 4.3.2");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task The_shutdown_deadline_interrupts_a_pending_decision()
    {
        using var deadline = new CancellationTokenSource();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new FakeHandler
        {
            RcptGate = async ct =>
            {
                entered.SetResult();
                await Task.Delay(Timeout.Infinite, ct);
            },
        };
        var client = new SmtpTestClient(Options, handler, shutdownDeadline: deadline.Token);
        await client.ConverseAsync("S: 220\nC: HELO c.test\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>");
        await entered.Task;
        await deadline.CancelAsync();
        await client.ConverseAsync("S: 250\nS: 250 2.1.0\nS: 421 4.3.2");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task A_greeting_refusal_ends_the_session()
    {
        var client = new SmtpTestClient(Options with { GreetingRefusal = new SmtpReply(554, new EnhancedStatusCode(5, 7, 1), "No service") });
        await client.ConverseAsync("S: 554 5.7.1 No service");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task Lmtp_answers_once_per_accepted_recipient()
    {
        var client = new SmtpTestClient(Options with { Lmtp = true });
        await client.ConverseAsync("""
            S: 220 mx.test LMTP
            C: EHLO c.test
            S: 500
            C: LHLO c.test
            S: 250-mx.test
            S: 250-PIPELINING
            S: 250-SIZE
            S: 250-8BITMIME
            S: 250-SMTPUTF8
            S: 250-ENHANCEDSTATUSCODES
            S: 250-CHUNKING
            S: 250 DSN
            C: MAIL FROM:<a@c.test>
            C: RCPT TO:<b@mx.test>
            C: RCPT TO:<unknown@mx.test>
            C: RCPT TO:<full@mx.test>
            C: DATA
            S: 250
            S: 250
            S: 550 5.1.1
            S: 250
            S: 354
            C: hi
            C: .
            S: 250 2.0.0 OK queued as Qb
            S: 452 4.2.2 Mailbox full
            C: QUIT
            S: 221
            """);
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task A_client_that_hangs_up_mid_message_aborts_it()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354\nC: half a message");
        await client.HangUpAsync();
        Assert.Empty(client.Handler.Messages);
        Assert.Equal(1, client.Handler.Aborted);
    }

    [Fact]
    public async Task A_client_that_talks_before_the_greeting_is_refused()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", GreetingDelay = TimeSpan.FromSeconds(30) });
        await client.SendAsync("EHLO bot.test\r\nMAIL FROM:<spam@bot.test>\r\n");
        Assert.StartsWith("554 5.5.1", await client.ReadLineAsync(), StringComparison.Ordinal);
        await client.ExpectClosedAsync();
        Assert.True(client.Handler.TalkedBeforeGreeting);
        Assert.Empty(client.Handler.Senders);
    }

    [Fact]
    public async Task A_client_that_waits_for_the_greeting_gets_it_after_the_delay()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", GreetingDelay = TimeSpan.FromMilliseconds(200) });
        var started = System.Diagnostics.Stopwatch.StartNew();
        await client.ConverseAsync("S: 220 mx.test ESMTP");
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(150), started.Elapsed.ToString());
        await client.ConverseAsync("C: HELO c.test\nS: 250 mx.test\nC: QUIT\nS: 221");
        await client.ExpectClosedAsync();
        Assert.False(client.Handler.TalkedBeforeGreeting);
    }

    [Theory]
    [InlineData("mail")]
    [InlineData("rcpt")]
    public async Task A_failing_handler_gets_451_and_the_session_goes_on(string call)
    {
        var client = new SmtpTestClient(handler: new FakeHandler { FailOn = call });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>");
        if (call == "mail")
        {
            await client.ConverseAsync("S: 451 4.3.0\nC: NOOP\nS: 250");
            client.Handler.FailOn = null;
            await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nS: 250 2.1.0");
        }
        else
        {
            await client.ConverseAsync("S: 250 2.1.0\nC: RCPT TO:<b@mx.test>\nS: 451 4.3.0");
            client.Handler.FailOn = null;
        }

        await client.ConverseAsync("C: RCPT TO:<b@mx.test>\nS: 250 2.1.5\nC: DATA\nS: 354\nC: hi\nC: .\nS: 250 2.0.0 OK queued\nC: QUIT\nS: 221");
        await client.ExpectClosedAsync();
        Assert.Single(client.Handler.Failures);
        Assert.Equal(["hi\r\n"], client.Handler.Messages);
    }

    [Theory]
    [InlineData("write")]
    [InlineData("end")]
    public async Task A_spool_failure_during_data_reads_the_message_to_its_end_then_answers_451(string call)
    {
        var client = new SmtpTestClient(handler: new FakeHandler { FailOn = call });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        await client.SendAsync("line one\r\nRSET\r\n.\r\nNOOP\r\n");
        await client.ConverseAsync("S: 451 4.3.0\nS: 250 2.0.0");
        await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nS: 250 2.1.0\nC: QUIT\nS: 221");
        await client.ExpectClosedAsync();
        Assert.Single(client.Handler.Failures);
        Assert.Empty(client.Handler.Messages);
    }

    [Theory]
    [InlineData("HELO foo@bar.test")]
    [InlineData("EHLO a..b")]
    [InlineData("EHLO [1.2.3.4")]
    [InlineData("EHLO [999.1.1.1]")]
    [InlineData("HELO <mx.test>")]
    public async Task Hello_names_that_are_neither_domains_nor_address_literals_get_501(string command)
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync($"S: 220\nC: {command}\nS: 501 5.5.2\nC: MAIL FROM:<a@c.test>\nS: 503 5.5.1");
        await client.HangUpAsync();
    }

    [Theory]
    [InlineData("EHLO mail.example.com")]
    [InlineData("EHLO [192.0.2.1]")]
    [InlineData("EHLO [IPv6:2001:db8::1]")]
    [InlineData("EHLO DESKTOP_7Q2.local.")]
    [InlineData("EHLO xn--bcher-kva.example")]
    [InlineData("EHLO bücher.example")]
    public async Task Ordinary_hello_names_are_accepted(string command)
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync($"S: 220\nC: {command}\nS: 250");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_timed_out_session_gets_421_4_4_2_and_ends()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250\nC: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nC: DATA\nS: 250\nS: 250\nS: 354");
        await client.SendAsync("half a message\r\n");
        client.Session.TimeOut();
        Assert.StartsWith("421 4.4.2", await client.ReadLineAsync(), StringComparison.Ordinal);
        await client.ExpectClosedAsync();
        Assert.Empty(client.Handler.Messages);
        Assert.Equal(1, client.Handler.Aborted);
    }

    [Fact]
    public async Task A_utf8_recipient_needs_smtputf8_on_mail()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: EHLO c.test");
        await client.ConverseAsync(string.Concat(Enumerable.Repeat("S: 250\n", 8)));
        await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nS: 250\nC: RCPT TO:<jörg@bücher.example>\nS: 553 5.6.7\nC: RSET\nS: 250");
        await client.ConverseAsync("C: MAIL FROM:<a@c.test> SMTPUTF8\nS: 250\nC: RCPT TO:<jörg@bücher.example>\nS: 250 2.1.5");
        await client.HangUpAsync();
    }

    [Fact]
    public async Task Past_the_soft_error_limit_refusals_are_answered_slowly()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", SoftErrorLimit = 2, ErrorDelay = TimeSpan.FromMilliseconds(300) });
        await client.ConverseAsync("S: 220");
        var fast = System.Diagnostics.Stopwatch.StartNew();
        await client.ConverseAsync("C: BOGUS\nS: 500\nC: BOGUS\nS: 500");
        Assert.True(fast.Elapsed < TimeSpan.FromMilliseconds(300), fast.Elapsed.ToString());
        var slow = System.Diagnostics.Stopwatch.StartNew();
        await client.ConverseAsync("C: BOGUS\nS: 500");
        Assert.True(slow.Elapsed >= TimeSpan.FromMilliseconds(250), slow.Elapsed.ToString());
        await client.HangUpAsync();
    }

    [Fact]
    public void The_error_delay_grows_with_every_error_past_the_soft_limit_up_to_its_ceiling()
    {
        var options = new SmtpSessionOptions { SoftErrorLimit = 3, ErrorDelay = TimeSpan.FromSeconds(1), MaxErrorDelay = TimeSpan.FromSeconds(5) };
        var delays = Enumerable.Range(1, 10).Select(n => SmtpServerSession.ErrorDelayAfter(n, options).TotalSeconds).ToArray();
        Assert.Equal(new double[] { 0, 0, 0, 1, 2, 3, 4, 5, 5, 5 }, delays);
        Assert.Equal(TimeSpan.Zero, SmtpServerSession.ErrorDelayAfter(9, options with { ErrorDelay = TimeSpan.Zero }));
    }

    [Fact]
    public async Task Errors_pipelined_in_one_batch_add_up_their_delays()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", SoftErrorLimit = 1, ErrorDelay = TimeSpan.FromMilliseconds(200), MaxErrorDelay = TimeSpan.FromSeconds(10) });
        await client.ConverseAsync("S: 220");
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // Errors 2, 3 and 4 wait 200 + 400 + 600 ms before the batch is answered.
        await client.ConverseAsync("C: BOGUS\nC: BOGUS\nC: BOGUS\nC: BOGUS\nS: 500\nS: 500\nS: 500\nS: 500");
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(1100), watch.Elapsed.ToString());
        await client.HangUpAsync();
    }

    [Fact]
    public async Task A_timeout_with_its_own_reply_answers_it_and_closes()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test" });
        await client.ConverseAsync("S: 220\nC: HELO c.test\nS: 250");
        client.Session.TimeOut(SmtpReplies.SessionTimeLimit("mx.test"));
        await client.ConverseAsync("S: 421 4.4.2 mx.test session time limit reached, closing connection");
        await client.ExpectClosedAsync();
    }

    [Fact]
    public async Task Bdat_text_bodies_get_bare_line_ends_as_crlf_even_across_chunks()
    {
        var client = new SmtpTestClient();
        await client.ConverseAsync("S: 220\nC: EHLO c.test");
        await client.ConverseAsync(string.Concat(Enumerable.Repeat("S: 250\n", 8)));
        await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nS: 250 2.1.0\nS: 250 2.1.5");

        // "a\r" ends the first chunk: its CR meets the LF that starts the second. Then a bare LF, a bare CR, and a lone CR at the end.
        await client.SendAsync("BDAT 2\r\na\rBDAT 9 LAST\r\n\nb\nc\rd\r\re");
        await client.ConverseAsync("S: 250 2.0.0 2 octets\nS: 250 2.0.0 OK queued as Qb");
        await client.SendAsync("MAIL FROM:<a@c.test>\r\nRCPT TO:<b@mx.test>\r\nBDAT 2 LAST\r\nz\r");
        await client.ConverseAsync("S: 250 2.1.0\nS: 250 2.1.5\nS: 250 2.0.0 OK queued as Qb");
        await client.HangUpAsync();
        Assert.Equal(["a\r\nb\r\nc\r\nd\r\n\r\ne", "z\r\n"], client.Handler.Messages);
    }

    [Fact]
    public async Task Bdat_with_bare_line_ends_is_refused_in_reject_mode_but_binarymime_is_left_alone()
    {
        var client = new SmtpTestClient(new SmtpSessionOptions { Hostname = "mx.test", BareLineEnds = BareLineEndHandling.Reject });
        await client.ConverseAsync("S: 220\nC: EHLO c.test");
        await client.ConverseAsync(string.Concat(Enumerable.Repeat("S: 250\n", 8)));
        await client.ConverseAsync("C: MAIL FROM:<a@c.test>\nC: RCPT TO:<b@mx.test>\nS: 250 2.1.0\nS: 250 2.1.5");
        await client.SendAsync("BDAT 8 LAST\r\nx\n.\ny\r\n\n");
        await client.ConverseAsync("S: 550 5.5.2");
        await client.ConverseAsync("C: MAIL FROM:<a@c.test> BODY=BINARYMIME\nC: RCPT TO:<b@mx.test>\nS: 250 2.1.0\nS: 250 2.1.5");
        await client.SendAsync("BDAT 4 LAST\r\nx\ny\r");
        await client.ConverseAsync("S: 250 2.0.0");
        await client.HangUpAsync();
        Assert.Equal(["x\ny\r"], client.Handler.Messages);
    }
}
