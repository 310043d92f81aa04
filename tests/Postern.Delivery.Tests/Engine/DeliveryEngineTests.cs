using System.Net;
using System.Text;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Dsn;
using Postern.Delivery.Engine;
using Postern.Delivery.Tests.TlsPolicy;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Tests.Client.EndToEnd;
using DsnNotify = Postern.Core.Storage.Queue.DsnNotify;

namespace Postern.Delivery.Tests.Engine;

/// <summary>The delivery engine against Postfix's smtp-sink and Python's aiosmtpd on loopback: routing, retries, DSNs, TLS policy.</summary>
[Trait("Category", "EndToEnd")]
public sealed class DeliveryEngineTests
{
    private static RelayHost Sink(PeerProcess peer, int priority = 10) => new("127.0.0.1", peer.Port, priority);

    [Fact]
    public async Task Relay_domain_mail_reaches_the_customers_server_once_with_our_trace_and_leaves_the_queue()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", Sink(sink));
        var queueId = await h.EnqueueAsync("alice@sender.test",
            [new NewQueueRecipient("bob@customer.test", "relay:customer.test", DsnNotify.Failure, "rfc822;Bob@customer.test"), new NewQueueRecipient("carol@customer.test", "relay:customer.test")],
            EngineHarness.Message("to the customer"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both recipients");
        await EngineHarness.WaitUntilAsync(async () => await h.Queue.GetAsync(queueId, CancellationToken.None) is null, "the message to leave the queue");

        var dump = Assert.Single(await sink.DumpsAsync(1));
        Assert.Equal("<alice@sender.test>", dump.MailArgs.Split(' ')[0]);
        Assert.Equal(["<bob@customer.test> NOTIFY=FAILURE ORCPT=rfc822;Bob@customer.test", "<carol@customer.test>"], dump.RcptArgs);
        Assert.Equal("gateway.test", dump.HeloArgs);
        Assert.Contains("Received: from client.test by gateway.test", dump.Message, StringComparison.Ordinal);
        Assert.Contains("Subject: to the customer", dump.Message, StringComparison.Ordinal);
        Assert.All(h.Results, r => Assert.Equal(AttemptOutcome.Delivered, r.Outcome));
        Assert.Equal((2L, 0L, 0L), h.Engine.Totals);
    }

    [Fact]
    public async Task Mx_delivery_follows_preference_and_moves_on_from_a_dead_host_and_reuses_the_connection()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create(o => o with { MxPortOverride = sink.Port });
        h.Dns.SetMx("example.test", (10, "mx1.example.test"), (20, "mx2.example.test"));
        h.Dns.SetA("mx1.example.test", IPAddress.Parse("127.0.0.2")); // nothing listens on 127.0.0.2 at the sink's port
        h.Dns.SetA("mx2.example.test", IPAddress.Loopback);
        for (var i = 0; i < 3; i++)
        {
            await h.EnqueueAsync("alice@sender.test", $"user{i}@example.test", "example.test", EngineHarness.Message("mx " + i));
        }

        h.Engine.Start();
        await h.WaitForResultsAsync(3, "three deliveries");

        Assert.All(h.Results, r => Assert.Equal(AttemptOutcome.Delivered, r.Outcome));
        Assert.All(h.Results, r => Assert.StartsWith("mx2.example.test[127.0.0.1]", r.Detail, StringComparison.Ordinal));
        Assert.Equal(3, (await sink.DumpsAsync(3)).Count);
        Assert.True(h.Agent.ConnectionsOpened <= 3, $"{h.Agent.ConnectionsOpened} connections");
    }

    [Fact]
    public async Task A_null_mx_bounces_at_once_and_the_dsn_reaches_the_sender_as_rfc_3464()
    {
        await using var senderSink = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create(o => o with { MxPortOverride = senderSink.Port });
        h.Dns.SetMx("nomail.test", (0, "."));
        h.Dns.SetMx("sender.test", (10, "mx.sender.test"));
        h.Dns.SetA("mx.sender.test", IPAddress.Loopback);
        await h.EnqueueAsync("alice@sender.test", "bob@nomail.test", "nomail.test", EngineHarness.Message("to nowhere"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "the failure and the DSN's delivery");
        var dump = Assert.Single(await senderSink.DumpsAsync(1));

        Assert.Equal("<>", dump.MailArgs.Split(' ')[0]);
        Assert.Equal("<alice@sender.test>", dump.RcptArgs.Single().Split(' ')[0]);
        var dsnText = dump.Message[(dump.Message.IndexOf("\n", StringComparison.Ordinal) + 1)..]; // after smtp-sink's own Received line
        Assert.True(DeliveryStatusParser.TryParseMessage(Encoding.UTF8.GetBytes(dsnText.Replace("\n", "\r\n", StringComparison.Ordinal)), out var report), dsnText);
        var recipient = Assert.Single(report!.Status.Recipients);
        Assert.Equal(DsnAction.Failed, recipient.Action);
        Assert.Equal(new EnhancedStatusCode(5, 1, 10), recipient.Status);
        Assert.Equal(0, await h.QueuedAsync());
    }

    [Fact]
    public async Task A_soft_rcpt_refusal_defers_on_the_schedule_and_a_hard_one_bounces_with_the_servers_words()
    {
        await using var soft = await SmtpSink.StartAsync("-r", "rcpt");
        await using var hard = await SmtpSink.StartAsync("-f", "rcpt");
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("soft.test", Sink(soft));
        h.Directory.AddRelay("hard.test", Sink(hard));
        var deferredId = await h.EnqueueAsync("alice@sender.test", "bob@soft.test", "relay:soft.test", EngineHarness.Message("soft"));
        var before = DateTimeOffset.UtcNow;
        var failedId = await h.EnqueueAsync(string.Empty, "bob@hard.test", "relay:hard.test", EngineHarness.Message("hard"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both results");

        var deferred = (await h.Queue.GetAsync(deferredId, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, deferred.State);
        Assert.InRange(deferred.NextAttemptAt - before, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(40)); // first interval 30 s ± 10 %
        Assert.Contains("450", deferred.LastError, StringComparison.Ordinal);
        var history = await h.Queue.GetHistoryAsync(deferredId, CancellationToken.None);
        Assert.Equal(RecipientState.Deferred, Assert.Single(history).Outcome);
        var failed = h.Results.Single(r => r.Recipient.Address == "bob@hard.test");
        Assert.Equal(AttemptOutcome.Failed, failed.Outcome);
        Assert.True(failed.FromServer);
        Assert.Equal(5, failed.Reply.Code / 100);
        Assert.Null(await h.Queue.GetAsync(failedId, CancellationToken.None)); // null sender: no DSN, message gone
        Assert.Equal(1, await h.QueuedAsync());
    }

    [Fact]
    public async Task A_server_that_hangs_up_before_the_data_makes_the_next_one_take_it_but_one_that_hangs_up_after_it_only_defers()
    {
        await using var dropsAtMail = await SmtpSink.StartAsync("-q", "mail");
        await using var dropsAtDot = await SmtpSink.StartAsync("-q", ".");
        await using var backup = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("early.test", Sink(dropsAtMail, 10), Sink(backup, 20));
        h.Directory.AddRelay("late.test", Sink(dropsAtDot, 10), Sink(backup, 20));
        await h.EnqueueAsync("alice@sender.test", "bob@early.test", "relay:early.test", EngineHarness.Message("early"));
        var lateId = await h.EnqueueAsync("alice@sender.test", "bob@late.test", "relay:late.test", EngineHarness.Message("late"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");

        var early = h.Results.Single(r => r.Recipient.Address == "bob@early.test");
        Assert.Equal(AttemptOutcome.Delivered, early.Outcome); // nothing had been sent: the backup server took it
        var late = (await h.Queue.GetAsync(lateId, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, late.State); // the data had gone out: not sent elsewhere at once
        Assert.Contains("end of data", late.LastError, StringComparison.Ordinal);
        var dumps = await backup.DumpsAsync(1);
        Assert.Equal(["Subject: early"], dumps.Select(d => d.Message.Split('\n').First(l => l.StartsWith("Subject: ", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task A_421_at_rcpt_defers_the_message_and_the_server_is_not_marked_down()
    {
        await using var closing = await SmtpSink.StartAsync("-Q", "rcpt");
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", Sink(closing));
        var id = await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("421"));

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        var r = (await h.Queue.GetAsync(id, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, r.State);
        Assert.Contains("421", r.LastError, StringComparison.Ordinal);
        Assert.Null(h.Engine.DownUntil("relay:customer.test"));
    }

    [Fact]
    public async Task A_customer_server_that_is_down_is_tried_once_per_interval_and_its_backlog_drains_when_it_returns_without_duplicates()
    {
        var port = PeerProcess.FreePort();
        await using var h = EngineHarness.Create(o => o with { MaxConnectionsPerDestination = 2, DestinationBackoff = TimeSpan.FromSeconds(2), MaxDestinationBackoff = TimeSpan.FromSeconds(2), FirstRetryInterval = TimeSpan.FromSeconds(1), MaxRetryInterval = TimeSpan.FromSeconds(2) });
        h.Directory.AddRelay("customer.test", new RelayHost("127.0.0.1", port));
        const int Count = 40;
        for (var i = 0; i < Count; i++)
        {
            await h.EnqueueAsync("alice@sender.test", $"u{i}@customer.test", "relay:customer.test", EngineHarness.Message($"backlog {i:D2}"));
        }

        h.Engine.Start();
        await h.WaitForResultsAsync(Count, "every recipient's first attempt");
        await Task.Delay(TimeSpan.FromSeconds(5)); // two more backoff intervals pass with the server down
        var refused = h.Results.Count(r => r.Detail.StartsWith("127.0.0.1[127.0.0.1]", StringComparison.Ordinal)); // real connection attempts, not "suspended"
        Assert.NotNull(h.Engine.DownUntil("relay:customer.test"));

        // The customer's server comes back on the same port.
        await using var sink = await SmtpSink.StartOnPortAsync(port);
        await EngineHarness.WaitUntilAsync(async () => await h.QueuedAsync() == 0, "the backlog to drain", 60);

        Assert.InRange(refused, 1, 2 + 4); // the first wave (2 connections), then one probe per 2 s interval: not one per message
        var dumps = await sink.DumpsAsync(Count);
        var subjects = dumps.Select(d => d.Message.Split('\n').First(l => l.StartsWith("Subject: ", StringComparison.Ordinal))).ToList();
        Assert.Equal(Count, subjects.Count);
        Assert.Equal(Count, subjects.Distinct().Count());
    }

    [Fact]
    public async Task Attempts_that_fail_together_count_as_one_failure_so_the_backoff_starts_at_its_first_interval()
    {
        // A server that takes connections but never greets: the first wave of attempts (one per connection slot)
        // is in flight together and fails together. That is one outage, so the destination is down for the first
        // interval (3 s), not doubled once per attempt of the wave (3 × 2^3 = 24 s).
        using var silent = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        silent.Start(16);
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        await using var h = EngineHarness.Create(o => o with
        {
            MaxConnectionsPerDestination = 4,
            DestinationBackoff = TimeSpan.FromSeconds(3),
            MaxDestinationBackoff = TimeSpan.FromMinutes(10),
            Client = o.Client with { GreetingTimeout = TimeSpan.FromSeconds(1) },
        });
        h.Directory.AddRelay("customer.test", new RelayHost("127.0.0.1", port));
        const int Count = 8;
        for (var i = 0; i < Count; i++)
        {
            await h.EnqueueAsync("alice@sender.test", $"u{i}@customer.test", "relay:customer.test", EngineHarness.Message($"wave {i}"));
        }

        h.Engine.Start();
        await h.WaitForResultsAsync(Count, "every recipient's first attempt");

        var attempts = h.Results.Count(r => r.Detail.StartsWith("127.0.0.1[127.0.0.1]", StringComparison.Ordinal));
        Assert.InRange(attempts, 2, 4); // the slots' attempts overlapped (each waited 1 s for a greeting)
        var downFor = h.Engine.DownUntil("relay:customer.test") - DateTimeOffset.UtcNow;
        Assert.NotNull(downFor);
        Assert.InRange(downFor.Value, TimeSpan.Zero, TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task A_server_that_comes_back_is_noticed_within_one_backoff_interval_though_every_retry_is_hours_away()
    {
        var port = PeerProcess.FreePort();
        await using var h = EngineHarness.Create(o => o with { MaxConnectionsPerDestination = 3, FirstRetryInterval = TimeSpan.FromHours(1), DestinationBackoff = TimeSpan.FromSeconds(1), MaxDestinationBackoff = TimeSpan.FromSeconds(1) });
        h.Directory.AddRelay("customer.test", new RelayHost("127.0.0.1", port));
        for (var i = 0; i < 10; i++)
        {
            await h.EnqueueAsync("alice@sender.test", $"u{i}@customer.test", "relay:customer.test", EngineHarness.Message($"waiting {i}"));
        }

        h.Engine.Start();
        await h.WaitForResultsAsync(10, "every first attempt");
        var queued = await h.Queue.ListAsync(new QueueQuery(Limit: 100), CancellationToken.None);
        Assert.Contains(queued.Messages.SelectMany(m => m.Recipients), r => r.NextAttemptAt > DateTimeOffset.UtcNow + TimeSpan.FromMinutes(30)); // own retries are far off

        await using var sink = await SmtpSink.StartOnPortAsync(port);
        await EngineHarness.WaitUntilAsync(async () => await h.QueuedAsync() == 0, "the probe to find the server and the backlog to follow", 20);
        Assert.Equal(10, (await sink.DumpsAsync(10)).Count);
    }

    [Fact]
    public async Task Encrypt_towards_a_plaintext_only_server_defers_and_sends_nothing()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", Sink(sink));
        h.Directory.Set("customer.test", d => d with { Settings = d.Settings with { TlsPolicy = "encrypt" } });
        var id = await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("secret"));

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        var r = (await h.Queue.GetAsync(id, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, r.State);
        Assert.Contains("does not offer STARTTLS", r.LastError, StringComparison.Ordinal);
        Assert.Empty(await sink.DumpsAsync(0));
    }

    [Fact]
    public async Task Verify_defers_for_a_self_signed_server_and_delivers_over_tls_to_a_trusted_one()
    {
        using var pki = new TestPki();
        var now = DateTimeOffset.UtcNow;
        using var selfSigned = TestPki.SelfSigned("mail.customer.test", now.AddDays(-1), now.AddDays(30));
        using var trusted = pki.Leaf(["mail.customer.test"], pki.Root, now.AddDays(-1), now.AddDays(30));
        await using var bad = await AioSmtpd.StartAsync(selfSigned);
        await using var good = await AioSmtpd.StartAsync(trusted);
        await using var h = EngineHarness.Create(o => o with { TrustRoots = pki.Roots });
        h.Directory.AddRelay("bad.test", Sink(bad));
        h.Directory.AddRelay("good.test", Sink(good));
        foreach (var d in new[] { "bad.test", "good.test" })
        {
            h.Directory.Set(d, x => x with { Settings = x.Settings with { TlsPolicy = "verify", TlsMatchNames = ["mail.customer.test"] } });
        }

        var badId = await h.EnqueueAsync("alice@sender.test", "bob@bad.test", "relay:bad.test", EngineHarness.Message("to bad"));
        await h.EnqueueAsync("alice@sender.test", "bob@good.test", "relay:good.test", EngineHarness.Message("to good"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");

        var deferred = (await h.Queue.GetAsync(badId, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, deferred.State);
        Assert.Contains("TLS handshake failed", deferred.LastError, StringComparison.Ordinal);
        Assert.Empty(bad.Messages());
        var delivered = Assert.Single(good.Messages());
        Assert.True(delivered.Tls);
        Assert.Contains(h.Results, r => r.Recipient.Address == "bob@good.test" && r.Outcome == AttemptOutcome.Delivered && r.Detail.Contains("Tls", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Against_postfix_encrypt_defers_for_plaintext_verify_defers_for_self_signed_and_a_trusted_certificate_delivers()
    {
        using var pki = new TestPki();
        var now = DateTimeOffset.UtcNow;
        using var selfSigned = TestPki.SelfSigned("mail.customer.test", now.AddDays(-1), now.AddDays(30));
        using var trusted = pki.Leaf(["mail.customer.test"], pki.Root, now.AddDays(-1), now.AddDays(30));
        await using var plaintext = await PostfixRelay.StartAsync();
        await using var untrusted = await PostfixRelay.StartAsync(selfSigned);
        await using var good = await PostfixRelay.StartAsync(trusted);
        await using var h = EngineHarness.Create(o => o with { TrustRoots = pki.Roots });
        foreach (var (domain, postfix, level) in new[] { ("plain.test", plaintext, "encrypt"), ("selfsigned.test", untrusted, "verify"), ("good.test", good, "verify") })
        {
            h.Directory.AddRelay(domain, new RelayHost("127.0.0.1", postfix.Port));
            h.Directory.Set(domain, d => d with { Settings = d.Settings with { TlsPolicy = level, TlsMatchNames = ["mail.customer.test"] } });
        }

        var plainId = await h.EnqueueAsync("alice@sender.test", "bob@plain.test", "relay:plain.test", EngineHarness.Message("encrypt"));
        var selfSignedId = await h.EnqueueAsync("alice@sender.test", "bob@selfsigned.test", "relay:selfsigned.test", EngineHarness.Message("verify self-signed"));
        await h.EnqueueAsync("alice@sender.test", "bob@good.test", "relay:good.test", EngineHarness.Message("verify trusted"));

        h.Engine.Start();
        await h.WaitForResultsAsync(3, "three attempts");

        var plain = (await h.Queue.GetAsync(plainId, CancellationToken.None))!.Recipients.Single();
        var self = (await h.Queue.GetAsync(selfSignedId, CancellationToken.None))!.Recipients.Single();
        Assert.Equal((RecipientState.Deferred, RecipientState.Deferred), (plain.State, self.State));
        Assert.Contains("does not offer STARTTLS", plain.LastError, StringComparison.Ordinal);
        Assert.True(self.LastError!.Contains("TLS handshake failed", StringComparison.Ordinal), self.LastError + "\n" + untrusted.Maillog);
        var delivered = Assert.Single(await good.Sink.DumpsAsync(1));
        Assert.Contains("Subject: verify trusted", delivered.Message, StringComparison.Ordinal);
        Assert.Contains("(using TLS", delivered.Message, StringComparison.Ordinal); // Postfix's Received says it came over TLS
        Assert.Empty(await plaintext.Sink.DumpsAsync(0));
        Assert.Empty(await untrusted.Sink.DumpsAsync(0));
    }

    [Fact]
    public async Task A_held_relay_domain_keeps_its_mail_until_released()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", Sink(sink));
        h.Directory.Set("customer.test", d => d with { Settings = d.Settings with { Hold = true } });
        var id = await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("held"));

        h.Engine.Start();
        await EngineHarness.WaitUntilAsync(async () => (await h.Queue.GetAsync(id, CancellationToken.None))!.Recipients.Single().State == RecipientState.Deferred, "the hold to be noted");
        Assert.Empty(await sink.DumpsAsync(0));

        h.Directory.Set("customer.test", d => d with { Settings = d.Settings with { Hold = false } });
        await h.Queue.RetryDestinationNowAsync("relay:customer.test", DateTimeOffset.UtcNow, CancellationToken.None); // what "release" does
        await EngineHarness.WaitUntilAsync(async () => await h.Queue.GetAsync(id, CancellationToken.None) is null, "delivery after the release");
        Assert.Single(await sink.DumpsAsync(1));
    }

    [Fact]
    public async Task A_next_hop_that_is_this_server_is_a_configuration_error_not_a_loop()
    {
        await using var h = EngineHarness.Create(o => o with { OwnEndpoints = [new IPEndPoint(IPAddress.Any, 2525)] });
        h.Directory.AddRelay("customer.test", new RelayHost("127.0.0.1", 2525));
        var id = await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("loop"));

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        var r = (await h.Queue.GetAsync(id, CancellationToken.None))!.Recipients.Single();
        Assert.Equal(RecipientState.Deferred, r.State);
        Assert.Contains("loop back to myself", r.LastError, StringComparison.Ordinal);
    }
}
