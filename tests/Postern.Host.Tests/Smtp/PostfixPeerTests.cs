using System.Text.RegularExpressions;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// Postfix as an upstream peer delivering real messages into Postern's mailboxes: once relaying everything to
/// Postern's MX listener (<c>relayhost</c>, STARTTLS when offered), once handing a virtual domain to Postern's
/// LMTP listener (<c>virtual_transport = lmtp:</c>). Mail enters Postfix both by <c>sendmail -C</c> and by its smtpd.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class PostfixPeerTests : IDisposable
{
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(60);

    private readonly SmtpTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    private static string Message(string subject, string messageId, string body) =>
        $"From: Sender <sender@remote.test>\nTo: alice@example.com\nSubject: {subject}\nMessage-ID: <{messageId}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}\n";

    /// <summary>The Received header fields of a stored message, top first, each unfolded onto one line.</summary>
    private static List<string> ReceivedChain(string message)
    {
        var header = message[..message.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var unfolded = Regex.Replace(header, @"\r\n[ \t]+", " ");
        return unfolded.Split("\r\n").Where(l => l.StartsWith("Received:", StringComparison.OrdinalIgnoreCase)).ToList();
    }

    [Fact]
    public async Task Postfix_with_relayhost_delivers_into_postern_over_smtp_with_starttls()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        using var postfix = new PostfixInstance(
        [
            $"relayhost = [127.0.0.1]:{SmtpTestBed.Port(server, "smtp")}",
            "smtp_tls_security_level = may",
            "smtp_tls_loglevel = 1",
        ]);
        await postfix.StartAsync();

        await postfix.SendmailAsync("sender@remote.test", ["alice@example.com"],
            Message("via postfix sendmail", "pf-relay-1@remote.test", "Grüße über Postfix.\n.\nA line with only a dot stays."));
        var (code, output) = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + SmtpTestBed.Invariant(postfix.SmtpdPort), "--helo", "client.remote.test",
            "--from", "sender@remote.test", "--to", "alice@example.com,bob@example.com",
            "--header", "Subject: via postfix smtpd", "--header", "Message-ID: <pf-relay-2@remote.test>", "--body", "Relayed by Postfix to Postern.");
        Assert.True(code == 0, output);

        Assert.True(await postfix.WaitForLogAsync("status=sent", 3, DeliveryTimeout), postfix.Maillog + "\n" + server.Stdout);
        Assert.True(await _bed.WaitForStoredMessagesAsync(3, DeliveryTimeout), postfix.Maillog);
        Assert.Contains("relay=127.0.0.1[127.0.0.1]", postfix.Maillog, StringComparison.Ordinal);
        Assert.Matches(@"Trusted|Untrusted|Anonymous TLS connection established to 127\.0\.0\.1", postfix.Maillog);
        Assert.DoesNotContain("status=deferred", postfix.Maillog, StringComparison.Ordinal);
        Assert.DoesNotContain("status=bounced", postfix.Maillog, StringComparison.Ordinal);

        await SmtpTestBed.StopAsync(server);
        var alice = await _bed.InboxAsync("alice@example.com");
        Assert.True(alice.Count == 2, string.Join("\n-----\n", alice));

        var bySendmail = Assert.Single(alice, m => m.Contains("Message-ID: <pf-relay-1@remote.test>", StringComparison.Ordinal));
        Assert.Contains("Subject: via postfix sendmail\r\n", bySendmail, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\nGrüße über Postfix.\r\n.\r\nA line with only a dot stays.\r\n", bySendmail, StringComparison.Ordinal);
        Assert.StartsWith("Return-Path: <sender@remote.test>\r\n", bySendmail, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: alice@example.com\r\n", bySendmail, StringComparison.Ordinal);
        var chain = ReceivedChain(bySendmail);
        Assert.True(chain.Count == 2, string.Join("\n", chain));
        Assert.Matches(@"^Received: from relay\.postfix\.test \(.*127\.0\.0\.1.*\) by mx\.example\.test \(Postern\) with ESMTPS id ", chain[0]);
        Assert.Matches(@"^Received: by relay\.postfix\.test \(Postfix, from userid 0\) id [0-9A-F]+;", chain[1]);

        var bySmtpd = Assert.Single(alice, m => m.Contains("Message-ID: <pf-relay-2@remote.test>", StringComparison.Ordinal));
        Assert.Contains("\r\n\r\nRelayed by Postfix to Postern.\r\n", bySmtpd, StringComparison.Ordinal);
        chain = ReceivedChain(bySmtpd);
        Assert.True(chain.Count == 2, string.Join("\n", chain));
        Assert.Matches(@"^Received: from relay\.postfix\.test \(.*\) by mx\.example\.test \(Postern\) with ESMTPS id ", chain[0]);
        Assert.Matches(@"^Received: from client\.remote\.test \(localhost \[127\.0\.0\.1\]\) by relay\.postfix\.test \(Postfix\) with ESMTP id [0-9A-F]+", chain[1]);

        var bob = Assert.Single(await _bed.InboxAsync("bob@example.com"));
        Assert.Contains("Message-ID: <pf-relay-2@remote.test>", bob, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: bob@example.com\r\n", bob, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postfix_with_an_lmtp_virtual_transport_delivers_into_postern_and_gets_one_reply_per_recipient()
    {
        await _bed.SetUpDirectoryAsync();
        var server = await _bed.StartServerAsync();
        using var postfix = new PostfixInstance(
        [
            "virtual_mailbox_domains = example.com",
            "virtual_mailbox_maps =",
            $"virtual_transport = lmtp:inet:[127.0.0.1]:{SmtpTestBed.Port(server, "lmtp")}",

            // Nothing leaves this machine: mail for other domains (bounces to remote.test) fails at once.
            "default_transport = error:no outside delivery from the test instance",
            "relay_transport = error:no outside delivery from the test instance",
        ]);
        await postfix.StartAsync();

        // One message for two mailboxes and a missing one: Postern answers each recipient after the data.
        await postfix.SendmailAsync("sender@remote.test", ["alice@example.com", "ghost@example.com", "bob@example.com"],
            Message("via postfix lmtp", "pf-lmtp-1@remote.test", "Handed over by LMTP.\nZweite Zeile: ÄÖÜ."));
        var (code, output) = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1:" + SmtpTestBed.Invariant(postfix.SmtpdPort), "--helo", "client.remote.test",
            "--from", "sender@remote.test", "--to", "alice@example.com",
            "--header", "Subject: via postfix smtpd and lmtp", "--header", "Message-ID: <pf-lmtp-2@remote.test>", "--body", "Second message.");
        Assert.True(code == 0, output);

        Assert.True(await postfix.WaitForLogAsync("status=sent", 3, DeliveryTimeout), postfix.Maillog + "\n" + server.Stdout);
        Assert.True(await postfix.WaitForLogAsync("to=<ghost@example.com>", 1, DeliveryTimeout), postfix.Maillog);
        Assert.True(await _bed.WaitForStoredMessagesAsync(3, DeliveryTimeout), postfix.Maillog);
        var log = postfix.Maillog;
        Assert.Matches(@"to=<ghost@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 ", log);
        Assert.Matches(@"to=<alice@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.", log);
        Assert.Matches(@"to=<bob@example\.com>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.", log);

        await SmtpTestBed.StopAsync(server);
        var alice = await _bed.InboxAsync("alice@example.com");
        Assert.True(alice.Count == 2, string.Join("\n-----\n", alice));
        var first = Assert.Single(alice, m => m.Contains("Message-ID: <pf-lmtp-1@remote.test>", StringComparison.Ordinal));
        Assert.Contains("\r\n\r\nHanded over by LMTP.\r\nZweite Zeile: ÄÖÜ.\r\n", first, StringComparison.Ordinal);
        Assert.StartsWith("Return-Path: <sender@remote.test>\r\n", first, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: alice@example.com\r\n", first, StringComparison.Ordinal);
        var chain = ReceivedChain(first);
        Assert.True(chain.Count == 2, string.Join("\n", chain));
        Assert.Matches(@"^Received: from relay\.postfix\.test \(.*127\.0\.0\.1.*\) by mx\.example\.test \(Postern\) with LMTP id ", chain[0]);
        Assert.Matches(@"^Received: by relay\.postfix\.test \(Postfix, from userid 0\) id [0-9A-F]+;", chain[1]);

        var second = Assert.Single(alice, m => m.Contains("Message-ID: <pf-lmtp-2@remote.test>", StringComparison.Ordinal));
        chain = ReceivedChain(second);
        Assert.True(chain.Count == 2, string.Join("\n", chain));
        Assert.Matches(@"with LMTP id ", chain[0]);
        Assert.Matches(@"^Received: from client\.remote\.test \(localhost \[127\.0\.0\.1\]\) by relay\.postfix\.test \(Postfix\) with ESMTP id ", chain[1]);

        var bob = Assert.Single(await _bed.InboxAsync("bob@example.com"));
        Assert.Contains("Message-ID: <pf-lmtp-1@remote.test>", bob, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: bob@example.com\r\n", bob, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Postfix_with_an_lmtp_unix_transport_delivers_through_postern_s_unix_socket()
    {
        await _bed.SetUpDirectoryAsync();
        var socket = Path.Combine("/tmp", "postern-pf-" + Guid.NewGuid().ToString("N")[..8] + ".sock");

        // Postfix's LMTP client runs as mail_owner (postfix), not as the user who started Postern.
        var server = await _bed.StartServerAsync("--set", "Listeners:lmtp:UnixSocket=" + socket, "--set", "Listeners:lmtp:UnixSocketMode=0666");
        using var postfix = new PostfixInstance(
        [
            "virtual_mailbox_domains = example.com",
            "virtual_mailbox_maps =",
            $"virtual_transport = lmtp:unix:{socket}",
            "default_transport = error:no outside delivery from the test instance",
            "relay_transport = error:no outside delivery from the test instance",
        ]);
        await postfix.StartAsync();
        await postfix.SendmailAsync("sender@remote.test", ["alice@example.com", "ghost@example.com"],
            Message("via postfix lmtp:unix", "pf-lmtp-unix@remote.test", "Through the socket file."));

        Assert.True(await postfix.WaitForLogAsync("status=sent", 1, DeliveryTimeout), postfix.Maillog + "\n" + server.Stdout);
        Assert.True(await postfix.WaitForLogAsync("status=bounced", 1, DeliveryTimeout), postfix.Maillog);
        var log = postfix.Maillog;
        Assert.Matches(@"to=<alice@example\.com>, relay=[^,]*postern-pf-[0-9a-f]+\.sock[^,]*, .*status=sent \(250 2\.", log);
        Assert.Matches(@"to=<ghost@example\.com>, .*status=bounced \(host [^ ]*postern-pf-[0-9a-f]+\.sock[^ ]* said: 550 5\.1\.1 ", log);

        await SmtpTestBed.StopAsync(server);
        var alice = Assert.Single(await _bed.InboxAsync("alice@example.com"));
        Assert.Contains("Message-ID: <pf-lmtp-unix@remote.test>", alice, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\nThrough the socket file.\r\n", alice, StringComparison.Ordinal);
        Assert.Contains("Delivered-To: alice@example.com\r\n", alice, StringComparison.Ordinal);
        Assert.Matches(@"by mx\.example\.test \(Postern\) with LMTP id ", ReceivedChain(alice)[0]);
        Assert.False(File.Exists(socket));
    }
}
