using System.Text.Json;
using Postern.Core.Storage.MessageLog;
using Postern.Protocols.Smtp.Session;

namespace Postern.Server.Smtp.Tests;

/// <summary>The replies a sender sees per recipient at RCPT and after DATA, and what the message log keeps of them.</summary>
public sealed class RecipientReplyTests
{
    [Fact]
    public async Task A_disabled_account_is_refused_550_5_2_1_at_rcpt()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await server.Admin.SetDisabledAsync("bob@example.com", true);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO relay.remote.test");
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("550 5.2.1", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, "452 4.2.2")]
    [InlineData(true, "552 5.2.2")]
    public async Task A_full_mailbox_answers_temporarily_or_permanently_per_setting(bool permanent, string expected)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy { MxGreetingDelay = TimeSpan.Zero, OverQuotaIsPermanent = permanent });
        await server.AddStandardTenantsAsync();
        await server.Admin.AddAccountAsync("small@example.com", "pw", null, 1);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO relay.remote.test");

        // At RCPT, when SIZE says the message cannot fit.
        await client.CommandAsync("MAIL FROM:<a@remote.test> SIZE=2000000");
        Assert.StartsWith(expected, await client.CommandAsync("RCPT TO:<small@example.com>"), StringComparison.Ordinal);
        await client.CommandAsync("RSET");

        // At the end of DATA, when only the real size shows it (LMTP-like per-recipient result in the log; SMTP
        // accepts for the other recipient).
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<small@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        var big = new string('x', 76);
        var body = string.Join("\r\n", Enumerable.Repeat(big, 15_000));
        Assert.StartsWith(expected, await client.CommandAsync("Subject: big\r\n\r\n" + body + "\r\n."), StringComparison.Ordinal);
        Assert.Empty(await server.InboxAsync("small@example.com"));
    }

    [Fact]
    public async Task Lmtp_reports_the_quota_at_end_of_data_for_each_recipient()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Lmtp, session: new SmtpSessionOptions { Hostname = "mx.example.com", Lmtp = true });
        await server.AddStandardTenantsAsync();
        await server.Admin.AddAccountAsync("small@example.com", "pw", null, 1);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("LHLO mta.example.com");
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<small@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        var body = string.Join("\r\n", Enumerable.Repeat(new string('y', 76), 15_000));
        Assert.StartsWith("452 4.2.2", await client.CommandAsync("Subject: big\r\n\r\n" + body + "\r\n."), StringComparison.Ordinal);
        Assert.StartsWith("250 2.", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Single(await server.InboxAsync("alice@example.com"));
    }

    [Fact]
    public async Task The_message_log_keeps_client_helo_tls_envelope_size_message_id_and_each_recipients_result()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await server.Admin.AddAccountAsync("small@example.com", "pw", null, 1);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO relay.remote.test");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO relay.remote.test");
        await client.CommandAsync("MAIL FROM:<sender@remote.test>");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<small@example.com>");
        await client.CommandAsync("DATA");
        var body = string.Join("\r\n", Enumerable.Repeat(new string('z', 76), 15_000));
        var reply = await client.CommandAsync("Message-ID: <logged-1@remote.test>\r\nSubject: log\r\n\r\n" + body + "\r\n.");
        Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
        var queueId = reply.Split(' ').Last();

        await server.MessageLog.FlushAsync(default);
        var entries = (await server.Storage.MessageLog.SearchAsync(new MessageLogQuery(QueueId: queueId), default)).Entries.Select(e => e.Record).ToList();
        Assert.Equal(2, entries.Count);
        var alice = Assert.Single(entries, e => e.Recipient == "alice@example.com");
        Assert.Equal(("127.0.0.1", "relay.remote.test", "sender@remote.test", "<logged-1@remote.test>", "accepted"), (alice.ClientIp, alice.Helo, alice.ReversePath, alice.MessageId, alice.Action));
        Assert.True(alice.Size > 1_100_000, alice.Size.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.StartsWith("250 2.0.0", alice.DeliveryOutcome, StringComparison.Ordinal);
        using (var detail = JsonDocument.Parse(alice.DetailJson!))
        {
            Assert.Contains("TLSv1.", detail.RootElement.GetRawText(), StringComparison.Ordinal);
        }

        var small = Assert.Single(entries, e => e.Recipient == "small@example.com");
        Assert.Equal("refused", small.Action);
        Assert.StartsWith("452 4.2.2", small.DeliveryOutcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_recipient_refused_after_data_while_another_accepted_gets_the_sender_a_dsn_in_the_queue()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy { MxGreetingDelay = TimeSpan.Zero, Hostname = "mx.example.com" });
        await server.AddStandardTenantsAsync();
        await server.Admin.AddAccountAsync("small@example.com", "pw", null, 1);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO relay.remote.test");
        await client.CommandAsync("MAIL FROM:<sender@remote.test> ENVID=env-7");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<small@example.com> ORCPT=rfc822;small@example.com");
        await client.CommandAsync("DATA");
        var body = string.Join("\r\n", Enumerable.Repeat(new string('q', 76), 15_000));
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("Message-ID: <two@remote.test>\r\nSubject: two\r\n\r\n" + body + "\r\n."), StringComparison.Ordinal);

        var dsn = Assert.Single(await server.QueuedAsync());
        Assert.Equal(string.Empty, dsn.ReversePath);
        Assert.Equal("sender@remote.test", Assert.Single(dsn.Recipients).Address);
        await using var content = await server.Storage.Blobs.OpenReadAsync(dsn.Blob, default);
        using var copy = new MemoryStream();
        await content!.CopyToAsync(copy);
        Assert.True(Delivery.Dsn.DeliveryStatusParser.TryParseMessage(copy.ToArray(), out var report));
        Assert.Equal("env-7", report!.Status.PerMessage["Original-Envelope-Id"]?.Trim());
        var failed = Assert.Single(report.Status.Recipients);
        Assert.Equal(("small@example.com", "failed"), (failed.FinalRecipient, failed.ActionText));
        Assert.Equal("5.2.2", failed.Status?.ToString());
        Assert.Equal("two@remote.test", report.ReturnedMessageId);

        // A null sender never gets one (no bounce for a bounce).
        await client.CommandAsync("MAIL FROM:<>");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<small@example.com>");
        await client.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("Subject: bounce\r\n\r\n" + body + "\r\n."), StringComparison.Ordinal);
        Assert.Single(await server.QueuedAsync());
    }
}
