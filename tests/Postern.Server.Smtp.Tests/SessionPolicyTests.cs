using System.Diagnostics;
using System.Net;
using System.Text;
using Postern.Protocols.Smtp;

namespace Postern.Server.Smtp.Tests;

/// <summary>Loops, check hooks, the greeting test and failures, through the real server layer and stores.</summary>
public sealed class SessionPolicyTests
{
    private static string Hops(int count) =>
        string.Concat(Enumerable.Range(0, count).Select(i => $"Received: from hop{i}.remote.test by hop{i + 1}.remote.test; Sun, 22 Nov 2026 01:00:00 +0000\r\n"));

    [Theory]
    [InlineData(100, true)]
    [InlineData(101, false)]
    public async Task More_received_fields_than_the_limit_is_a_loop_refused_554_5_4_6(int hops, bool accepted)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        var reply = await client.SendMessageAsync("a@remote.test", ["alice@example.com"], Hops(hops) + "Subject: loop\r\n\r\nbody");
        Assert.StartsWith(accepted ? "250 2.0.0" : "554 5.4.6", reply, StringComparison.Ordinal);
        Assert.Equal(accepted ? 1 : 0, (await server.InboxAsync("alice@example.com")).Count);
    }

    [Fact]
    public async Task Received_fields_in_the_body_do_not_count()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy { MaxReceivedHeaders = 2, MxGreetingDelay = TimeSpan.Zero });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        var reply = await client.SendMessageAsync("a@remote.test", ["alice@example.com"], Hops(2) + "Subject: forwarded\r\n\r\n" + Hops(5));
        Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checks_refuse_recipients_and_messages_and_add_header_fields()
    {
        var check = new RecordingCheck();
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, checks: [check]);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.remote.test"), StringComparison.Ordinal);
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("550 5.7.1 bob is on holiday", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
        await client.CommandAsync("DATA");
        await client.SendAsync("Subject: fine\r\n\r\nhello\r\n.\r\n");
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync(), StringComparison.Ordinal);

        var reply = await client.SendMessageAsync("a@remote.test", ["alice@example.com"], "Subject: VIRUS\r\n\r\nEICAR");
        Assert.StartsWith("554 5.7.1 infected", reply, StringComparison.Ordinal);

        var stored = Assert.Single(await server.InboxAsync("alice@example.com"));
        Assert.Contains("X-Checked: client.remote.test a@remote.test 1 recipient(s)\r\nReceived: ", stored, StringComparison.Ordinal);
        Assert.Equal(["connect", "helo", "mail", "rcpt bob@example.com", "rcpt alice@example.com", "message", "mail", "rcpt alice@example.com", "message"], check.Calls);
    }

    [Fact]
    public async Task A_check_that_throws_gets_451_and_the_session_goes_on()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, checks: [new ThrowingCheck()]);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        Assert.StartsWith("451 4.3.0", await client.CommandAsync("MAIL FROM:<crash@remote.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<fine@remote.test>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_talks_first_is_refused_one_that_waits_is_greeted_and_then_remembered()
    {
        var policy = new SmtpPolicy { MxGreetingDelay = TimeSpan.FromMilliseconds(500), TrustedNetworks = [] };
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, policy);
        await using (var bot = await server.ConnectAsync(readGreeting: false))
        {
            await bot.SendAsync("EHLO bot.remote.test\r\n");
            Assert.StartsWith("554 5.5.1", await bot.ReadReplyAsync(), StringComparison.Ordinal);
            Assert.Equal("(closed)", await bot.ReadReplyAsync());
        }

        var waited = Stopwatch.StartNew();
        await using (var patient = await server.ConnectAsync())
        {
            Assert.True(waited.Elapsed >= TimeSpan.FromMilliseconds(400), waited.Elapsed.ToString());
        }

        // The client passed: it is greeted at once from now on.
        var again = Stopwatch.StartNew();
        await using var known = await server.ConnectAsync();
        Assert.True(again.Elapsed < TimeSpan.FromMilliseconds(400), again.Elapsed.ToString());
        Assert.True(server.Services.GreetingPasses.HasPassed(IPAddress.Loopback, TimeSpan.FromHours(1)));
    }

    [Fact]
    public async Task Lmtp_answers_a_loop_once_per_recipient()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Lmtp, session: new Protocols.Smtp.Session.SmtpSessionOptions { Hostname = "mx.example.com" });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("LHLO mta.example.com");
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<bob@example.com>");
        await client.CommandAsync("DATA");
        await client.SendAsync(Hops(101) + "\r\nbody\r\n.\r\n");
        Assert.StartsWith("554 5.4.6", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("554 5.4.6", await client.ReadReplyAsync(), StringComparison.Ordinal);
    }

    private sealed class RecordingCheck : ISmtpCheck
    {
        public List<string> Calls { get; } = [];

        public ValueTask<SmtpReply?> OnConnectAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Record("connect");

        public ValueTask<SmtpReply?> OnHelloAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Record("helo");

        public ValueTask<SmtpReply?> OnMailFromAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Record("mail");

        public ValueTask<SmtpReply?> OnRecipientAsync(SmtpCheckContext context, SmtpCheckRecipient recipient, CancellationToken cancellationToken)
        {
            Calls.Add("rcpt " + recipient.Address);
            return ValueTask.FromResult(recipient.Address.LocalPart == "bob" ? new SmtpReply(550, new EnhancedStatusCode(5, 7, 1), "bob is on holiday") : null);
        }

        public async ValueTask<SmtpReply?> OnMessageAsync(SmtpCheckContext context, SmtpCheckMessage message, CancellationToken cancellationToken)
        {
            Calls.Add("message");
            await using var stream = await message.OpenAsync(cancellationToken);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var text = await reader.ReadToEndAsync(cancellationToken);
            if (text.Contains("EICAR", StringComparison.Ordinal))
            {
                return new SmtpReply(554, new EnhancedStatusCode(5, 7, 1), "infected");
            }

            context.AddHeader("X-Checked", $"{context.Helo} {context.ReversePath} {context.Recipients.Count} recipient(s)");
            return null;
        }

        private ValueTask<SmtpReply?> Record(string call)
        {
            Calls.Add(call);
            return ValueTask.FromResult<SmtpReply?>(null);
        }
    }

    private sealed class ThrowingCheck : ISmtpCheck
    {
        public ValueTask<SmtpReply?> OnMailFromAsync(SmtpCheckContext context, CancellationToken cancellationToken) =>
            context.ReversePath == "crash@remote.test" ? throw new InvalidOperationException("the checker crashed") : ValueTask.FromResult<SmtpReply?>(null);
    }
}

/// <summary>A domain's own message size limit, below the server-wide one.</summary>
public sealed class DomainSizeLimitTests
{
    [Fact]
    public async Task A_domain_limit_refuses_at_rcpt_with_size_and_per_recipient_at_the_end_of_data()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Lmtp, session: new Protocols.Smtp.Session.SmtpSessionOptions { Hostname = "mx.example.com" });
        await server.AddStandardTenantsAsync();
        await server.Admin.AddDomainAsync("other.test", "Example", Core.Tenants.DomainKind.Hosted, []);
        await server.Admin.AddAccountAsync("carol@other.test", "carol-pw", "Carol", 0);
        await server.Admin.SetDomainSettingsAsync("example.com", """{"maxMessageSize": 2000}""");

        await using var client = await server.ConnectAsync();
        await client.CommandAsync("LHLO mta.example.com");
        await client.CommandAsync("MAIL FROM:<a@remote.test> SIZE=5000");
        Assert.StartsWith("552 5.3.4", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<carol@other.test>"), StringComparison.Ordinal);
        await client.CommandAsync("RSET");

        // Without SIZE the limit is applied when the size is known: one reply per recipient.
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("RCPT TO:<carol@other.test>");
        await client.CommandAsync("DATA");
        await client.SendAsync("Subject: big\r\n\r\n" + string.Concat(Enumerable.Repeat(new string('x', 98) + "\r\n", 30)) + ".\r\n");
        Assert.StartsWith("552 5.3.4", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync(), StringComparison.Ordinal);
        Assert.Empty(await server.InboxAsync("alice@example.com"));
        Assert.Single(await server.InboxAsync("carol@other.test"));

        // A small message still reaches the limited domain.
        await client.CommandAsync("MAIL FROM:<a@remote.test>");
        await client.CommandAsync("RCPT TO:<alice@example.com>");
        await client.CommandAsync("DATA");
        await client.SendAsync("Subject: small\r\n\r\nhi\r\n.\r\n");
        Assert.StartsWith("250 2.0.0", await client.ReadReplyAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Received_names_the_client_by_its_forward_confirmed_reverse_dns_name_only()
    {
        var dns = new TableResolver(new Dictionary<(string, Dns.DnsRecordType), Dns.DnsRecord>
        {
            [("2.0.0.127.in-addr.arpa", Dns.DnsRecordType.PTR)] = new Dns.PtrRecord("2.0.0.127.in-addr.arpa", 60, "mail.sender.test"),
            [("mail.sender.test", Dns.DnsRecordType.A)] = new Dns.ARecord("mail.sender.test", 60, IPAddress.Parse("127.0.0.2")),
            [("3.0.0.127.in-addr.arpa", Dns.DnsRecordType.PTR)] = new Dns.PtrRecord("3.0.0.127.in-addr.arpa", 60, "www.bank.test"),
            [("www.bank.test", Dns.DnsRecordType.A)] = new Dns.ARecord("www.bank.test", 60, IPAddress.Parse("192.0.2.1")),
        });
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with { Dns = dns });
        await server.AddStandardTenantsAsync();
        foreach (var from in new[] { "127.0.0.2", "127.0.0.3", "127.0.0.1" })
        {
            await using var client = await server.ConnectAsync(from: IPAddress.Parse(from));
            await client.CommandAsync("EHLO helo.sender.test");
            Assert.StartsWith("250", await client.SendMessageAsync("a@sender.test", ["alice@example.com"], "Subject: " + from + "\r\n\r\nhi"), StringComparison.Ordinal);
        }

        var inbox = await server.InboxAsync("alice@example.com");
        Assert.Contains("Received: from helo.sender.test (mail.sender.test [127.0.0.2])", inbox[0], StringComparison.Ordinal);
        Assert.Contains("Received: from helo.sender.test ([127.0.0.3])", inbox[1], StringComparison.Ordinal);
        Assert.Contains("Received: from helo.sender.test (localhost [127.0.0.1])", inbox[2], StringComparison.Ordinal);
    }

    private sealed class TableResolver(Dictionary<(string, Dns.DnsRecordType), Dns.DnsRecord> table) : Dns.IDnsResolver
    {
        public Task<Dns.DnsResult> ResolveAsync(string name, Dns.DnsRecordType type, CancellationToken cancellationToken = default) =>
            Task.FromResult(new Dns.DnsResult
            {
                Status = table.ContainsKey((name, type)) ? Dns.DnsStatus.Success : Dns.DnsStatus.NxDomain,
                Name = name,
                Type = type,
                CanonicalName = name,
                Records = table.TryGetValue((name, type), out var r) ? [r] : [],
            });
    }
}
