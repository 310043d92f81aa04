using System.Text.RegularExpressions;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// Every SMTP flow of issue 4 driven by programs we did not write: swaks (implicit TLS, AUTH PLAIN and LOGIN,
/// PIPELINING, over-size, too many recipients) and Python's smtplib (BDAT, SMTPUTF8, SIZE, bad commands,
/// which swaks 20201014 cannot send). Each test checks what landed in the mailboxes.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed partial class SmtpPeerFlowTests : IDisposable
{
    /// <summary>Python helpers shared by the scripts: <c>show(label, reply)</c> prints "label code text".</summary>
    private const string PythonPrelude = """
        import smtplib, sys
        def show(label, reply):
            print(label, reply[0], reply[1].decode("utf-8", "replace").replace("\n", " | "), flush=True)
        def bdat(s, data, last=False):
            s.putcmd("BDAT %d%s" % (len(data), " LAST" if last else ""))
            s.send(data)
            return s.getreply()

        """;

    private readonly SmtpTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    /// <summary>Parses the "label code text" lines the Python scripts print.</summary>
    private static Dictionary<string, string> Replies(string output)
    {
        var replies = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in output.Split('\n'))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0)
            {
                replies[line[..space]] = line[(space + 1)..].TrimEnd('\r');
            }
        }

        return replies;
    }

    private static void AssertReply(Dictionary<string, string> replies, string label, string expectedStart, string output)
    {
        Assert.True(replies.TryGetValue(label, out var reply), $"no reply for {label}:\n{output}");
        Assert.True(reply.StartsWith(expectedStart, StringComparison.Ordinal), $"{label}: expected '{expectedStart}', got '{reply}'\n{output}");
    }

    [Fact]
    public async Task Swaks_submits_over_implicit_tls_and_starttls_with_auth_plain_and_login()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var submissions = "127.0.0.1:" + SmtpTestBed.Port(server, "submissions");
        var submission = "127.0.0.1:" + SmtpTestBed.Port(server, "submission");
        string[] alice = ["--from", "alice@example.com", "--to", "bob@example.com", "--auth-user", "alice@example.com", "--auth-password", SmtpTestBed.AlicePassword];

        foreach (var (endpoint, tls, mechanism) in new[] { (submissions, "--tlsc", "PLAIN"), (submissions, "--tlsc", "LOGIN"), (submission, "--tls", "PLAIN"), (submission, "--tls", "LOGIN") })
        {
            var (code, output) = await SmtpTestBed.SwaksAsync(["--server", endpoint, tls, "--auth", mechanism, .. alice,
                "--header", $"Subject: {tls} AUTH {mechanism}", "--body", $"sent with {tls} and AUTH {mechanism}"]);
            Assert.True(code == 0, output);
            Assert.Contains("=== TLS started with cipher TLSv1.", output, StringComparison.Ordinal);
            Assert.Contains("235 2.7.0", output, StringComparison.Ordinal);
            Assert.Matches(@"250 2\.0\.0 OK queued as [0-9A-Z]{12}", output);
        }

        // A wrong password, AUTH missing on the submissions port, and AUTH not offered in plaintext.
        var wrong = await SmtpTestBed.SwaksAsync("--server", submissions, "--tlsc", "--auth", "LOGIN", "--from", "alice@example.com", "--to", "bob@example.com",
            "--auth-user", "alice@example.com", "--auth-password", "not the password");
        Assert.Contains("535 5.7.8", wrong.Output, StringComparison.Ordinal);
        var noAuth = await SmtpTestBed.SwaksAsync("--server", submissions, "--tlsc", "--from", "alice@example.com", "--to", "bob@example.com");
        Assert.Contains("530 5.7.0", noAuth.Output, StringComparison.Ordinal);
        var plaintext = await SmtpTestBed.SwaksAsync("--server", submission, "--quit-after", "EHLO");
        Assert.Contains("250-STARTTLS", plaintext.Output.Replace("250 STARTTLS", "250-STARTTLS", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotMatch(@"250[- ]AUTH", plaintext.Output);

        await SmtpTestBed.StopAsync(server);
        var inbox = await _bed.InboxAsync("bob@example.com");
        Assert.True(inbox.Count == 4, string.Join("\n-----\n", inbox));
        foreach (var subject in new[] { "--tlsc AUTH PLAIN", "--tlsc AUTH LOGIN", "--tls AUTH PLAIN", "--tls AUTH LOGIN" })
        {
            var message = Assert.Single(inbox, m => m.Contains("Subject: " + subject + "\r\n", StringComparison.Ordinal));
            Assert.Contains("by mx.example.test (Postern) with ESMTPSA id ", message, StringComparison.Ordinal);
            Assert.Contains("Delivered-To: bob@example.com", message, StringComparison.Ordinal);
            Assert.Contains("sent with " + subject.Replace(" AUTH", " and AUTH", StringComparison.Ordinal), message, StringComparison.Ordinal);
        }

        Assert.Empty(await _bed.InboxAsync("alice@example.com"));
    }

    [Fact]
    public async Task Submission_refuses_senders_and_authorization_identities_the_account_does_not_own()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var submissions = SmtpTestBed.Port(server, "submissions");
        string[] asAlice = ["--server", "127.0.0.1:" + submissions, "--tlsc", "--auth", "PLAIN", "--auth-user", "alice@example.com", "--auth-password", SmtpTestBed.AlicePassword, "--to", "bob@example.com"];

        var envelope = await SmtpTestBed.SwaksAsync([.. asAlice, "--from", "bob@example.com"]);
        Assert.Contains("<~* 553 5.7.1", envelope.Output, StringComparison.Ordinal);
        var header = await SmtpTestBed.SwaksAsync([.. asAlice, "--from", "alice@example.com", "--h-From", "Bob <bob@example.com>"]);
        Assert.Contains("<~* 553 5.7.1", header.Output, StringComparison.Ordinal);
        var own = await SmtpTestBed.SwaksAsync([.. asAlice, "--from", "alice@example.com", "--header", "Subject: from alice herself"]);
        Assert.Matches(@"250 2\.0\.0 OK queued as", own.Output);

        // AUTH PLAIN with an authorization identity other than the authentication identity is refused.
        const string script = PythonPrelude + """
            import ssl, base64
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), context=ctx)
            s.ehlo("authz.test")
            def plain(authz, authn, password):
                return "PLAIN " + base64.b64encode(("%s\0%s\0%s" % (authz, authn, password)).encode()).decode()
            show("authz-other", s.docmd("AUTH", plain("bob@example.com", "alice@example.com", sys.argv[2])))
            show("authz-same", s.docmd("AUTH", plain("alice@example.com", "alice@example.com", sys.argv[2])))
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, submissions, SmtpTestBed.AlicePassword);
        Assert.True(code == 0, output);
        var replies = Replies(output);
        AssertReply(replies, "authz-other", "535 5.7.8", output);
        AssertReply(replies, "authz-same", "235 2.7.0", output);

        await SmtpTestBed.StopAsync(server);
        var inbox = Assert.Single(await _bed.InboxAsync("bob@example.com"));
        Assert.Contains("Subject: from alice herself", inbox, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_discarded_and_smuggled_transactions_are_not_run()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        const string script = """
            import socket, ssl, sys
            def reply(f):
                lines = []
                while True:
                    line = f.readline()
                    if not line:
                        return "EOF"
                    lines.append(line)
                    if line[3:4] != b"-":
                        return lines[-1].decode().strip()
            port = int(sys.argv[1])

            # STARTTLS injection (CVE-2011-0411 class): a MAIL in the same packet as STARTTLS must not survive the handshake.
            s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
            reply(f); s.sendall(b"EHLO inject.test\r\n"); reply(f)
            s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n")
            print("starttls", reply(f))
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            t = ctx.wrap_socket(s, server_hostname="mx.example.test"); tf = t.makefile("rb")
            t.sendall(b"EHLO inject.test\r\n"); print("ehlo-after-tls", reply(tf))
            t.sendall(b"RCPT TO:<alice@example.com>\r\n"); print("rcpt-after-tls", reply(tf))
            t.sendall(b"QUIT\r\n"); reply(tf); t.close()

            # SMTP smuggling (2023 class): only CRLF.CRLF ends the data; the rest is part of the one message.
            s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
            reply(f); s.sendall(b"EHLO smuggle.test\r\n"); reply(f)
            for i, end in enumerate([b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r\n.\r"]):
                s.sendall(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
                reply(f); reply(f); reply(f)
                s.sendall(b"Subject: smuggle %d\r\n\r\nbefore" % i + end
                    + b"MAIL FROM:<smuggler@remote.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: smuggled %d\r\n\r\nsmuggled\r\n.\r\n" % i)
                print("smuggle-%d" % i, reply(f))
            s.settimeout(2)
            try:
                print("extra", s.recv(1000))
            except socket.timeout:
                print("extra none")
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, SmtpTestBed.Port(server, "smtp"));
        Assert.True(code == 0, output);
        var replies = Replies(output);
        AssertReply(replies, "starttls", "220 2.0.0", output);
        AssertReply(replies, "ehlo-after-tls", "250 ", output);
        AssertReply(replies, "rcpt-after-tls", "503 5.5.1", output);
        for (var i = 0; i < 5; i++)
        {
            AssertReply(replies, "smuggle-" + SmtpTestBed.Invariant(i), "250 2.0.0 OK queued as", output);
        }

        AssertReply(replies, "extra", "none", output);
        await SmtpTestBed.StopAsync(server);
        var alice = await _bed.InboxAsync("alice@example.com");
        Assert.Equal(5, alice.Count);
        Assert.All(alice, m => Assert.Contains("smuggled", m, StringComparison.Ordinal));
        Assert.Empty(await _bed.InboxAsync("bob@example.com"));
    }

    [Fact]
    public async Task Swaks_pipelines_a_transaction_and_gets_the_replies_in_order()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var mx = "127.0.0.1:" + SmtpTestBed.Port(server, "smtp");

        foreach (var tls in new[] { "--tls", "--no-tls" })
        {
            var args = new List<string> { "--server", mx, "--pipeline", "--from", "sender@remote.test", "--to", "alice@example.com,ghost@example.com,bob@example.com",
                "--header", $"Subject: pipelined {tls}", "--body", "pipelined body" };
            if (tls == "--tls")
            {
                args.Add(tls);
            }

            var (_, output) = await SmtpTestBed.SwaksAsync([.. args]);

            // One write for MAIL, the three RCPTs and DATA, then the five replies in command order.
            var arrow = tls == "--tls" ? "~>" : "->";
            var back = tls == "--tls" ? "<~" : "<-";
            var error = tls == "--tls" ? @"<~\*" : @"<\*\*";
            var pipelined = $@" {arrow} MAIL FROM:<sender@remote\.test>\n {arrow} RCPT TO:<alice@example\.com>\n {arrow} RCPT TO:<ghost@example\.com>\n {arrow} RCPT TO:<bob@example\.com>\n {arrow} DATA\n"
                + $@"{back}  250 2\.1\.0 [^\n]*\n{back}  250 2\.1\.5 [^\n]*\n{error} 550 5\.1\.1 [^\n]*\n{back}  250 2\.1\.5 [^\n]*\n{back}  354 ";
            Assert.Matches(pipelined, output);
            Assert.Matches(@"250 2\.0\.0 OK queued as [0-9A-Z]{12}", output);
        }

        await SmtpTestBed.StopAsync(server);
        foreach (var who in new[] { "alice@example.com", "bob@example.com" })
        {
            var inbox = await _bed.InboxAsync(who);
            Assert.Equal(2, inbox.Count);
            Assert.Contains(inbox, m => m.Contains("Subject: pipelined --tls\r\n", StringComparison.Ordinal) && m.Contains("with ESMTPS id", StringComparison.Ordinal));
            Assert.Contains(inbox, m => m.Contains("Subject: pipelined --no-tls\r\n", StringComparison.Ordinal) && m.Contains("with ESMTP id", StringComparison.Ordinal));
            Assert.All(inbox, m => Assert.Contains("Delivered-To: " + who + "\r\n", m, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Python_smtplib_sends_bdat_chunks_and_their_bytes_are_stored_unchanged()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        const string script = PythonPrelude + """
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.ehlo("bdat.test")
            print("chunking", s.has_extn("chunking"))
            show("bdat-without-mail", bdat(s, b"0123456789", True))
            show("noop-1", s.docmd("NOOP"))
            show("mail-1", s.mail("sender@remote.test"))
            show("rcpt-1", s.rcpt("alice@example.com"))
            show("chunk-1", bdat(s, b"Subject: bdat in three chunks\r\nMessage-ID: <bdat-1@remote.test>\r\n\r\nfirst chunk\r\n"))
            show("chunk-2", bdat(s, b"..two dots stay two dots\r\n.\r\nnot the end\r\n"))
            show("chunk-3", bdat(s, b"last chunk\r\n", True))
            body = b"Subject: bdat pipelined\r\nMessage-ID: <bdat-2@remote.test>\r\n\r\npipelined body\r\n"
            s.send(b"MAIL FROM:<sender@remote.test>\r\nRCPT TO:<bob@example.com>\r\nBDAT %d\r\n" % len(body) + body + b"BDAT 0 LAST\r\n")
            for label in ("p-mail", "p-rcpt", "p-chunk", "p-last"):
                show(label, s.getreply())
            show("mail-3", s.mail("sender@remote.test"))
            show("rcpt-3", s.rcpt("alice@example.com"))
            show("chunk-4", bdat(s, b"Subject: mixed\r\n"))
            show("data-after-bdat", s.docmd("DATA"))
            show("rset", s.docmd("RSET"))
            show("noop-2", s.docmd("NOOP"))
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, SmtpTestBed.Port(server, "smtp"));
        Assert.True(code == 0, output);
        Assert.Contains("chunking True", output, StringComparison.Ordinal);
        var replies = Replies(output);
        AssertReply(replies, "bdat-without-mail", "503 5.5.1", output);
        AssertReply(replies, "noop-1", "250 2.0.0", output);
        AssertReply(replies, "chunk-1", "250 2.0.0", output);
        AssertReply(replies, "chunk-2", "250 2.0.0", output);
        AssertReply(replies, "chunk-3", "250 2.0.0 OK queued as ", output);
        AssertReply(replies, "p-mail", "250 2.1.0", output);
        AssertReply(replies, "p-rcpt", "250 2.1.5", output);
        AssertReply(replies, "p-chunk", "250 2.0.0", output);
        AssertReply(replies, "p-last", "250 2.0.0 OK queued as ", output);
        AssertReply(replies, "chunk-4", "250 2.0.0", output);
        AssertReply(replies, "data-after-bdat", "503 5.5.1", output);
        AssertReply(replies, "rset", "250 2.0.0", output);
        AssertReply(replies, "noop-2", "250 2.0.0", output);

        await SmtpTestBed.StopAsync(server);
        var alice = Assert.Single(await _bed.InboxAsync("alice@example.com"));
        Assert.EndsWith("Message-ID: <bdat-1@remote.test>\r\n\r\nfirst chunk\r\n..two dots stay two dots\r\n.\r\nnot the end\r\nlast chunk\r\n", alice, StringComparison.Ordinal);
        Assert.Contains("with ESMTP id", alice, StringComparison.Ordinal);
        var bob = Assert.Single(await _bed.InboxAsync("bob@example.com"));
        Assert.EndsWith("Message-ID: <bdat-2@remote.test>\r\n\r\npipelined body\r\n", bob, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smtputf8_addresses_with_a_utf8_local_part_and_an_idn_domain_reach_the_right_mailbox()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var port = SmtpTestBed.Port(server, "smtp");
        const string script = PythonPrelude + """
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.ehlo("utf8.test")
            print("smtputf8", s.has_extn("smtputf8"))
            def message(n, to):
                return ("From: Пётр <пётр@почта.example>\r\nTo: %s\r\nSubject: Grüße %d\r\nMessage-ID: <utf8-%d@почта.example>\r\n\r\nHallo Jörg, Nummer %d\r\n" % (to, n, n, n)).encode("utf-8")
            for n, to in ((1, "jörg@bücher.example"), (2, "JÖRG@xn--bcher-kva.example"), (3, "jörg@BÜCHER.example")):
                try:
                    print("sent-%d" % n, s.sendmail("пётр@почта.example", [to], message(n, to), mail_options=["SMTPUTF8", "BODY=8BITMIME"]), flush=True)
                except smtplib.SMTPException as e:
                    print("sent-%d" % n, "failed", repr(e), flush=True)
            show("mail-4", s.mail("пётр@почта.example", ["SMTPUTF8"]))
            show("rcpt-unknown", s.rcpt("jürgen@bücher.example"))
            show("rset", s.rset())
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, port);
        Assert.True(code == 0, output);
        Assert.Contains("smtputf8 True", output, StringComparison.Ordinal);
        Assert.Contains("sent-1 {}", output, StringComparison.Ordinal);
        Assert.Contains("sent-2 {}", output, StringComparison.Ordinal);
        Assert.Contains("sent-3 {}", output, StringComparison.Ordinal);
        AssertReply(Replies(output), "rcpt-unknown", "550 5.1.1", output);

        // Without the SMTPUTF8 parameter a UTF-8 address is refused (swaks 20201014 cannot send the parameter).
        var sender = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + port, "--from", "пётр@почта.example", "--to", "jörg@bücher.example");
        Assert.Contains("553 5.6.7", sender.Output, StringComparison.Ordinal);

        await SmtpTestBed.StopAsync(server);
        var inbox = await _bed.InboxAsync("jörg@bücher.example");
        Assert.True(inbox.Count == 3, string.Join("\n-----\n", inbox));
        for (var n = 1; n <= 3; n++)
        {
            var message = Assert.Single(inbox, m => m.Contains($"Message-ID: <utf8-{n}@почта.example>", StringComparison.Ordinal));
            Assert.Contains($"Subject: Grüße {n}\r\n", message, StringComparison.Ordinal);
            Assert.Contains($"Hallo Jörg, Nummer {n}\r\n", message, StringComparison.Ordinal);
            Assert.Contains("Delivered-To: jörg@bücher.example\r\n", message, StringComparison.Ordinal);
            Assert.Contains("Return-Path: <пётр@почта.example>", message, StringComparison.Ordinal);
        }

        Assert.Empty(await _bed.InboxAsync("alice@example.com"));
        Assert.Empty(await _bed.InboxAsync("bob@example.com"));
    }

    [Fact]
    public async Task A_utf8_recipient_without_the_smtputf8_parameter_is_refused_553_5_6_7()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var recipient = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + SmtpTestBed.Port(server, "smtp"), "--from", "sender@remote.test", "--to", "jörg@bücher.example");
        Assert.Contains("553 5.6.7", recipient.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("queued as", recipient.Output, StringComparison.Ordinal);
        await SmtpTestBed.StopAsync(server);
        Assert.Empty(await _bed.InboxAsync("jörg@bücher.example"));
    }

    [Fact]
    public async Task The_received_field_of_an_smtputf8_transaction_says_utf8smtp()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        const string script = PythonPrelude + """
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            print("sent", s.sendmail("пётр@почта.example", ["jörg@bücher.example"], "Subject: utf8\r\n\r\nbody\r\n".encode(), mail_options=["SMTPUTF8"]))
            import ssl
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            print("sent-tls", s.sendmail("пётр@почта.example", ["jörg@bücher.example"], "Subject: utf8 tls\r\n\r\nbody\r\n".encode(), mail_options=["SMTPUTF8"]))
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, SmtpTestBed.Port(server, "smtp"));
        Assert.True(code == 0, output);
        await SmtpTestBed.StopAsync(server);
        var inbox = await _bed.InboxAsync("jörg@bücher.example");
        Assert.Contains(inbox, m => m.Contains("Subject: utf8\r\n", StringComparison.Ordinal) && m.Contains(" with UTF8SMTP id ", StringComparison.Ordinal));
        Assert.Contains(inbox, m => m.Contains("Subject: utf8 tls\r\n", StringComparison.Ordinal) && m.Contains(" with UTF8SMTPS id ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Over_size_messages_get_552_5_3_4_with_size_announced_and_without()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var port = SmtpTestBed.Port(server, "smtp");
        var ehlo = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + port, "--quit-after", "EHLO");
        var limit = long.Parse(SizeKeyword().Match(ehlo.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(limit is > 0 and < 200L * 1024 * 1024, ehlo.Output);

        // SIZE announced in MAIL, and BDAT chunks over the limit (in one chunk and in two).
        const string script = PythonPrelude + """
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.ehlo("big.test")
            limit = int(s.esmtp_features["size"])
            show("mail-size", s.docmd("MAIL", "FROM:<sender@remote.test> SIZE=%d" % (limit + 1)))
            show("rcpt-after-size", s.docmd("RCPT", "TO:<alice@example.com>"))
            show("rset-1", s.rset())
            show("mail-at-limit", s.docmd("MAIL", "FROM:<sender@remote.test> SIZE=%d" % limit))
            show("rset-2", s.rset())
            show("mail-1", s.mail("sender@remote.test"))
            show("rcpt-1", s.rcpt("alice@example.com"))
            show("bdat-one-chunk", bdat(s, b"x" * (limit + 1), True))
            show("noop-1", s.docmd("NOOP"))
            show("mail-2", s.mail("sender@remote.test"))
            show("rcpt-2", s.rcpt("alice@example.com"))
            half = b"y" * (limit // 2 + 1)
            show("bdat-half-1", bdat(s, half))
            show("bdat-half-2", bdat(s, half, True))
            show("noop-2", s.docmd("NOOP"))
            s.quit()
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, port);
        Assert.True(code == 0, output);
        var replies = Replies(output);
        AssertReply(replies, "mail-size", "552 5.3.4", output);
        AssertReply(replies, "rcpt-after-size", "503 5.5.1", output);
        AssertReply(replies, "mail-at-limit", "250 2.1.0", output);
        AssertReply(replies, "rcpt-1", "250 2.1.5", output);
        AssertReply(replies, "bdat-one-chunk", "552 5.3.4", output);
        AssertReply(replies, "noop-1", "250 2.0.0", output);
        AssertReply(replies, "rcpt-2", "250 2.1.5", output);
        AssertReply(replies, "bdat-half-2", "552 5.3.4", output);
        AssertReply(replies, "noop-2", "250 2.0.0", output);

        // No SIZE announced: swaks sends one byte per line more than the limit with DATA.
        var big = Path.Combine(Path.GetTempPath(), "postern-big-" + Guid.NewGuid().ToString("N") + ".txt");
        try
        {
            var line = new string('z', 998) + "\r\n";
            await using (var writer = new StreamWriter(big))
            {
                for (long written = 0; written <= limit; written += line.Length)
                {
                    await writer.WriteAsync(line);
                }
            }

            var (_, swaks) = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "alice@example.com",
                "--body", big, "--suppress-data");
            Assert.Contains("<** 552 5.3.4", swaks, StringComparison.Ordinal);

            // The session and the server are still fine: a small message goes through afterwards.
            var small = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "alice@example.com", "--header", "Subject: small after big");
            Assert.Matches(@"250 2\.0\.0 OK queued as", small.Output);
        }
        finally
        {
            File.Delete(big);
        }

        await SmtpTestBed.StopAsync(server);
        var inbox = Assert.Single(await _bed.InboxAsync("alice@example.com"));
        Assert.Contains("Subject: small after big", inbox, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_with_one_recipient_too_many_gets_452_4_5_3_and_the_message_reaches_the_others()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        var port = SmtpTestBed.Port(server, "smtp");

        // 100 (the default limit) subaddresses of alice and one of bob beyond the limit.
        var recipients = Enumerable.Range(1, 100).Select(n => $"alice+r{SmtpTestBed.Invariant(n)}@example.com").Append("bob+over@example.com");
        var (_, output) = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", string.Join(',', recipients),
            "--header", "Subject: one hundred recipients", "--header", "To: undisclosed-recipients:;");
        Assert.Equal(100, Regex.Count(output, @"<-  250 2\.1\.5 "));
        Assert.Contains(" -> RCPT TO:<bob+over@example.com>\n<** 452 4.5.3 ", output, StringComparison.Ordinal);
        Assert.Matches(@"250 2\.0\.0 OK queued as", output);

        await SmtpTestBed.StopAsync(server);
        var inbox = await _bed.InboxAsync("alice@example.com");
        Assert.NotEmpty(inbox);
        Assert.All(inbox, m => Assert.Contains("Subject: one hundred recipients", m, StringComparison.Ordinal));
        Assert.Empty(await _bed.InboxAsync("bob@example.com"));
    }

    [Fact]
    public async Task Bad_commands_get_500_501_503_and_555_with_enhanced_codes_and_the_session_goes_on()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        const string script = PythonPrelude + """
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            show("helo-empty", s.docmd("HELO"))
            show("ehlo", s.ehlo("bad.test"))
            show("unknown", s.docmd("FROBNICATE", "now"))
            show("rcpt-before-mail", s.docmd("RCPT", "TO:<alice@example.com>"))
            show("data-before-mail", s.docmd("DATA"))
            show("mail-unclosed", s.docmd("MAIL", "FROM:<sender@remote.test"))
            show("mail-no-colon", s.docmd("MAIL", "FROM sender@remote.test"))
            show("long-line", s.docmd("NOOP " + "x" * 3000))
            show("noop", s.docmd("NOOP"))
            sent = s.sendmail("sender@remote.test", ["alice@example.com"], b"Subject: after the errors\r\n\r\nstill works\r\n")
            print("sent", sent)
            s.quit()
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.ehlo("bad.test")
            show("mail-unknown-param", s.docmd("MAIL", "FROM:<sender@remote.test> FROBNICATE=1"))
            show("mail-ok", s.docmd("MAIL", "FROM:<sender@remote.test>"))
            show("mail-twice", s.docmd("MAIL", "FROM:<sender@remote.test>"))
            show("rcpt-unclosed", s.docmd("RCPT", "TO:<alice@example.com"))
            show("rcpt-empty", s.docmd("RCPT", "TO:<>"))
            show("starttls-arg", s.docmd("STARTTLS", "now"))
            s.quit()
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.ehlo("bad.test")
            for n in range(1, 30):
                try:
                    show("error-%d" % n, s.docmd("FROBNICATE"))
                except smtplib.SMTPServerDisconnected:
                    print("disconnected-after", n - 1, flush=True)
                    break
            """;
        var (code, output) = await SmtpTestBed.PythonAsync(script, SmtpTestBed.Port(server, "smtp"));
        Assert.True(code == 0, output);
        var replies = Replies(output);
        AssertReply(replies, "helo-empty", "501 5.5.4", output);
        AssertReply(replies, "ehlo", "250 ", output);
        AssertReply(replies, "unknown", "500 5.5.2", output);
        AssertReply(replies, "rcpt-before-mail", "503 5.5.1", output);
        AssertReply(replies, "data-before-mail", "503 5.5.1", output);
        AssertReply(replies, "mail-unclosed", "501 5.5.4", output);
        AssertReply(replies, "mail-no-colon", "501 5.5.4", output);
        AssertReply(replies, "long-line", "500 5.5.2", output);
        AssertReply(replies, "noop", "250 2.0.0", output);
        Assert.Contains("sent {}", output, StringComparison.Ordinal);
        AssertReply(replies, "mail-unknown-param", "555 5.5.4", output);
        AssertReply(replies, "mail-ok", "250 2.1.0", output);
        AssertReply(replies, "mail-twice", "503 5.5.1", output);
        AssertReply(replies, "rcpt-unclosed", "501 5.5.4", output);
        AssertReply(replies, "rcpt-empty", "501 5.5.4", output);
        AssertReply(replies, "starttls-arg", "501 5.5.4", output);

        // Too many errors: 421 4.7.0 and the connection closes.
        var last = replies.Where(r => r.Key.StartsWith("error-", StringComparison.Ordinal)).OrderBy(r => int.Parse(r.Key[6..], System.Globalization.CultureInfo.InvariantCulture)).Last();
        Assert.StartsWith("421 4.7.0", last.Value, StringComparison.Ordinal);
        Assert.Contains("disconnected-after", output, StringComparison.Ordinal);

        await SmtpTestBed.StopAsync(server);
        var message = Assert.Single(await _bed.InboxAsync("alice@example.com"));
        Assert.Contains("Subject: after the errors\r\n\r\nstill works\r\n", message, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"250[- ]SIZE (\d+)")]
    private static partial Regex SizeKeyword();
}
