using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Engine;
using Postern.Delivery.Tests.TlsPolicy;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;
using Postern.Protocols.Smtp.Tests.Client.EndToEnd;

namespace Postern.Delivery.Tests.Engine;

/// <summary>An MTA-STS policy source for the engine: a TXT id and a policy body per domain, parsed by the real parser.</summary>
internal sealed class FakeMtaStsFetcher : IMtaStsPolicyFetcher
{
    private readonly ConcurrentDictionary<string, (string Id, string Body)> _published = new(StringComparer.OrdinalIgnoreCase);
    private int _fetches;

    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>Publishes (or replaces, with a new id) a domain's policy.</summary>
    public void Publish(string domain, string id, string mode, params string[] mx) =>
        _published[domain] = (id, $"version: STSv1\r\nmode: {mode}\r\n{string.Concat(mx.Select(m => $"mx: {m}\r\n"))}max_age: 86400\r\n");

    public Task<MtaStsDiscovery> DiscoverAsync(string domain, CancellationToken cancellationToken = default) =>
        Task.FromResult(_published.TryGetValue(domain, out var p)
            ? new MtaStsDiscovery(MtaStsDiscoveryStatus.Found, p.Id, null)
            : new MtaStsDiscovery(MtaStsDiscoveryStatus.NoRecord, null, null));

    public Task<MtaStsFetchResult> FetchPolicyAsync(string domain, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _fetches);
        if (!_published.TryGetValue(domain, out var p))
        {
            return Task.FromResult(new MtaStsFetchResult(null, null, MtaStsFetchFailure.HttpStatus, "404"));
        }

        var parsed = MtaStsPolicyParser.Parse(p.Body);
        return Task.FromResult(parsed.Policy is { } policy
            ? new MtaStsFetchResult(policy, p.Body, MtaStsFetchFailure.None, null)
            : new MtaStsFetchResult(null, null, MtaStsFetchFailure.InvalidPolicy, parsed.Error));
    }
}

/// <summary>
/// MTA-STS (RFC 8461) and DANE (RFC 7672) through the real delivery engine: MX delivery to smtp-sink and aiosmtpd on
/// loopback (every MX host resolves to 127.0.0.1, the port is the peer's), policies from a fake fetcher through the
/// real cache, TLSA records and DNSSEC authentication from the fake resolver.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MtaStsDaneEngineTests
{
    /// <summary>A harness with MTA-STS on, its policy source and what its testing reporter announced.</summary>
    private sealed class Setup(EngineHarness harness, FakeMtaStsFetcher policies, ConcurrentQueue<MtaStsTestingReport> reports) : IAsyncDisposable
    {
        public EngineHarness H { get; } = harness;

        public FakeMtaStsFetcher Policies { get; } = policies;

        public ConcurrentQueue<MtaStsTestingReport> Reports { get; } = reports;

        public ValueTask DisposeAsync() => H.DisposeAsync();
    }

    private static Setup Create(PeerProcess peer, Func<DeliveryOptions, DeliveryOptions>? configure = null)
    {
        var policies = new FakeMtaStsFetcher();
        var reporter = new MtaStsTestingReporter();
        var reports = new ConcurrentQueue<MtaStsTestingReport>();
        reporter.Reported += (_, r) => reports.Enqueue(r);
        var h = EngineHarness.Create(o => (configure?.Invoke(o) ?? o) with { MxPortOverride = peer.Port }, new MtaStsCache(policies), reporter);
        return new Setup(h, policies, reports);
    }

    /// <summary>Gives <paramref name="domain"/> one MX, <c>mx.&lt;domain&gt;</c>, on 127.0.0.1; returns its name.</summary>
    private static string Mx(EngineHarness h, string domain)
    {
        var mx = "mx." + domain;
        h.Dns.SetMx(domain, (10, mx));
        h.Dns.SetA(mx, IPAddress.Loopback);
        return mx;
    }

    private static async Task<QueuedRecipient> RecipientAsync(EngineHarness h, string queueId) =>
        (await h.Queue.GetAsync(queueId, CancellationToken.None))!.Recipients.Single();

    private static string Subject(AioRecord record) =>
        Encoding.UTF8.GetString(record.Content).Split("\r\n").First(l => l.StartsWith("Subject: ", StringComparison.Ordinal));

    [Fact]
    public async Task Enforce_with_the_mx_not_in_the_policy_defers_without_connecting_and_delivers_once_the_policy_lists_it()
    {
        using var pki = new TestPki();
        var now = DateTimeOffset.UtcNow;
        using var certificate = pki.Leaf(["mx.example.test"], pki.Root, now.AddDays(-1), now.AddDays(30));
        await using var peer = await AioSmtpd.StartAsync(certificate);
        await using var s = Create(peer, o => o with { TrustRoots = pki.Roots });
        var h = s.H;
        Mx(h, "example.test");
        s.Policies.Publish("example.test", "1", "enforce", "mx.elsewhere.test");
        var before = DateTimeOffset.UtcNow;
        var id = await h.EnqueueAsync("alice@sender.test", "bob@example.test", "example.test", EngineHarness.Message("sts enforce"));

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        var r = await RecipientAsync(h, id);
        Assert.Equal(RecipientState.Deferred, r.State); // not bounced
        Assert.Contains("mx.example.test is not in the mx list of example.test's MTA-STS policy in enforce mode", r.LastError, StringComparison.Ordinal);
        Assert.InRange(r.NextAttemptAt - before, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(40)); // the normal retry schedule
        var history = Assert.Single(await h.Queue.GetHistoryAsync(id, CancellationToken.None));
        Assert.Equal(RecipientState.Deferred, history.Outcome);
        Assert.Contains("MTA-STS", history.Detail, StringComparison.Ordinal);
        Assert.Equal(0, h.Agent.ConnectionsOpened); // the host was never contacted
        Assert.Empty(peer.Messages());
        Assert.Equal(1, await h.QueuedAsync()); // no DSN was queued
        Assert.Null(h.Engine.DownUntil("example.test")); // a policy refusal is not an outage

        // The domain fixes its policy (a new id): the retry fetches it and the message goes out.
        s.Policies.Publish("example.test", "2", "enforce", "mx.example.test");
        await h.Queue.RetryDestinationNowAsync("example.test", DateTimeOffset.UtcNow, CancellationToken.None);
        await EngineHarness.WaitUntilAsync(async () => await h.Queue.GetAsync(id, CancellationToken.None) is null, "delivery after the policy changed");
        var delivered = Assert.Single(peer.Messages());
        Assert.True(delivered.Tls);
        Assert.Equal(2, s.Policies.Fetches);
    }

    [Fact]
    public async Task Enforce_with_the_mx_listed_and_a_trusted_certificate_delivers_over_tls_and_a_certificate_for_another_name_defers()
    {
        using var pki = new TestPki();
        var now = DateTimeOffset.UtcNow;
        using var certificate = pki.Leaf(["mx.good.test"], pki.Root, now.AddDays(-1), now.AddDays(30));
        await using var peer = await AioSmtpd.StartAsync(certificate);
        await using var s = Create(peer, o => o with { TrustRoots = pki.Roots });
        var h = s.H;
        Mx(h, "good.test");
        Mx(h, "other.test"); // same server, whose certificate does not name mx.other.test
        s.Policies.Publish("good.test", "1", "enforce", "mx.good.test");
        s.Policies.Publish("other.test", "1", "enforce", "*.other.test");
        await h.EnqueueAsync("alice@sender.test", "bob@good.test", "good.test", EngineHarness.Message("to good"));
        var otherId = await h.EnqueueAsync("alice@sender.test", "bob@other.test", "other.test", EngineHarness.Message("to other"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");

        var delivered = Assert.Single(peer.Messages());
        Assert.True(delivered.Tls);
        Assert.Equal("Subject: to good", Subject(delivered));
        Assert.Contains(h.Results, r => r.Recipient.Address == "bob@good.test" && r.Outcome == AttemptOutcome.Delivered && r.Detail.Contains("Tls", StringComparison.Ordinal));
        var other = await RecipientAsync(h, otherId);
        Assert.Equal(RecipientState.Deferred, other.State);
        Assert.Contains("TLS handshake failed", other.LastError, StringComparison.Ordinal);
        Assert.Contains("not for mx.other.test", other.LastError, StringComparison.Ordinal);
        Assert.Empty(s.Reports); // enforce is enforced, not reported
    }

    [Fact]
    public async Task Enforce_with_the_mx_listed_but_no_starttls_defers_and_never_sends_in_plaintext()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var s = Create(sink);
        var h = s.H;
        Mx(h, "example.test");
        s.Policies.Publish("example.test", "1", "enforce", "mx.example.test");
        var id = await h.EnqueueAsync("alice@sender.test", "bob@example.test", "example.test", EngineHarness.Message("no starttls"));

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        var r = await RecipientAsync(h, id);
        Assert.Equal(RecipientState.Deferred, r.State);
        Assert.Contains("does not offer STARTTLS", r.LastError, StringComparison.Ordinal);
        Assert.Contains("MTA-STS enforce", r.LastError, StringComparison.Ordinal);
        Assert.Equal(1, h.Agent.ConnectionsOpened); // it did talk to the server (EHLO), then gave up
        Assert.Empty(await sink.DumpsAsync(0));
    }

    [Fact]
    public async Task Testing_mode_delivers_to_an_unlisted_mx_and_without_starttls_and_reports_both()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var s = Create(sink);
        var h = s.H;
        Mx(h, "unlisted.test");
        Mx(h, "plain.test");
        s.Policies.Publish("unlisted.test", "1", "testing", "mx.elsewhere.test");
        s.Policies.Publish("plain.test", "1", "testing", "mx.plain.test");
        await h.EnqueueAsync("alice@sender.test", "bob@unlisted.test", "unlisted.test", EngineHarness.Message("unlisted"));
        await h.EnqueueAsync("alice@sender.test", "bob@plain.test", "plain.test", EngineHarness.Message("plain"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");
        await EngineHarness.WaitUntilAsync(async () => await h.QueuedAsync() == 0, "both to leave the queue");

        Assert.All(h.Results, r => Assert.Equal(AttemptOutcome.Delivered, r.Outcome));
        Assert.Equal(2, (await sink.DumpsAsync(2)).Count);
        var byDomain = s.Reports.ToDictionary(r => r.Domain);
        Assert.Equal(2, s.Reports.Count);
        Assert.Equal(("mx.unlisted.test", MtaStsTestingFailure.MxNotInPolicy), (byDomain["unlisted.test"].MxHost, byDomain["unlisted.test"].Failure));
        Assert.Contains("mx.elsewhere.test", byDomain["unlisted.test"].Detail, StringComparison.Ordinal);
        Assert.Equal(("mx.plain.test", MtaStsTestingFailure.StartTlsNotOffered), (byDomain["plain.test"].MxHost, byDomain["plain.test"].Failure));
    }

    [Fact]
    public async Task Testing_mode_delivers_over_tls_to_an_untrusted_certificate_and_reports_it_where_enforce_defers()
    {
        var now = DateTimeOffset.UtcNow;
        using var selfSigned = TestPki.SelfSigned("mx.testing.test", now.AddDays(-1), now.AddDays(30));
        await using var peer = await AioSmtpd.StartAsync(selfSigned);
        await using var s = Create(peer);
        var h = s.H;
        Mx(h, "testing.test");
        Mx(h, "enforce.test");
        s.Policies.Publish("testing.test", "1", "testing", "mx.testing.test");
        s.Policies.Publish("enforce.test", "1", "enforce", "mx.enforce.test");
        await h.EnqueueAsync("alice@sender.test", "bob@testing.test", "testing.test", EngineHarness.Message("testing"));
        var enforcedId = await h.EnqueueAsync("alice@sender.test", "bob@enforce.test", "enforce.test", EngineHarness.Message("enforce"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");

        var delivered = Assert.Single(peer.Messages());
        Assert.Equal("Subject: testing", Subject(delivered));
        Assert.True(delivered.Tls);
        var report = Assert.Single(s.Reports);
        Assert.Equal(("testing.test", "mx.testing.test", MtaStsTestingFailure.CertificateNotTrusted), (report.Domain, report.MxHost, report.Failure));
        var enforced = await RecipientAsync(h, enforcedId);
        Assert.Equal(RecipientState.Deferred, enforced.State);
        Assert.Contains("TLS handshake failed", enforced.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_strongest_policy_wins_so_an_admin_may_does_not_weaken_an_mta_sts_enforce_policy()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var s = Create(sink, o => o with
        {
            TlsPolicies = new Dictionary<string, AdminTlsPolicy>(StringComparer.OrdinalIgnoreCase)
            {
                ["sts.test"] = new(AdminTlsLevel.May),
                ["nosts.test"] = new(AdminTlsLevel.May),
            },
        });
        var h = s.H;
        Mx(h, "sts.test");
        Mx(h, "nosts.test");
        s.Policies.Publish("sts.test", "1", "enforce", "mx.sts.test");
        var stsId = await h.EnqueueAsync("alice@sender.test", "bob@sts.test", "sts.test", EngineHarness.Message("sts"));
        await h.EnqueueAsync("alice@sender.test", "bob@nosts.test", "nosts.test", EngineHarness.Message("nosts"));

        h.Engine.Start();
        await h.WaitForResultsAsync(2, "both attempts");

        // "may" alone goes out in plaintext to a server without STARTTLS; with MTA-STS enforce, TLS is required.
        var dump = Assert.Single(await sink.DumpsAsync(1));
        Assert.Contains("Subject: nosts", dump.Message, StringComparison.Ordinal);
        var r = await RecipientAsync(h, stsId);
        Assert.Equal(RecipientState.Deferred, r.State);
        Assert.Contains("verify from MTA-STS enforce", r.LastError, StringComparison.Ordinal);
        Assert.Contains("does not offer STARTTLS", r.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dane_ee_with_authenticated_tlsa_delivers_when_the_key_matches_and_defers_when_it_does_not_or_cannot_be_read()
    {
        var now = DateTimeOffset.UtcNow;
        using var served = TestPki.SelfSigned("mx.peer.test", now.AddDays(-1), now.AddDays(30)); // DANE-EE ignores names and issuers
        using var other = TestPki.SelfSigned("mx.peer.test", now.AddDays(-1), now.AddDays(30));
        await using var peer = await AioSmtpd.StartAsync(served);
        await using var s = Create(peer);
        var h = s.H;
        foreach (var domain in new[] { "match.test", "mismatch.test", "servfail.test", "unsigned.test" })
        {
            var mx = Mx(h, domain);
            if (domain != "unsigned.test")
            {
                h.Dns.Sign(domain, mx, DnsName.TlsaName(mx, 25));
            }
        }

        h.Dns.SetTlsa(DnsName.TlsaName("mx.match.test", 25), TestPki.Tlsa(served, 3, 1, 1));
        h.Dns.SetTlsa(DnsName.TlsaName("mx.mismatch.test", 25), TestPki.Tlsa(other, 3, 1, 1));
        h.Dns.Fail(DnsName.TlsaName("mx.servfail.test", 25), DnsRecordType.TLSA, DnsStatus.ServerFailure);
        h.Dns.SetTlsa(DnsName.TlsaName("mx.unsigned.test", 25), TestPki.Tlsa(other, 3, 1, 1)); // not authenticated: not used
        var ids = new Dictionary<string, string>();
        foreach (var domain in new[] { "match.test", "mismatch.test", "servfail.test", "unsigned.test" })
        {
            ids[domain] = await h.EnqueueAsync("alice@sender.test", "bob@" + domain, domain, EngineHarness.Message(domain));
        }

        h.Engine.Start();
        await h.WaitForResultsAsync(4, "four attempts");

        var messages = peer.Messages();
        Assert.Equal(["Subject: match.test", "Subject: unsigned.test"], messages.Select(Subject).Order(StringComparer.Ordinal));
        Assert.All(messages, m => Assert.True(m.Tls));
        Assert.Contains(h.Results, r => r.Recipient.Address == "bob@match.test" && r.Outcome == AttemptOutcome.Delivered);
        var mismatch = await RecipientAsync(h, ids["mismatch.test"]);
        Assert.Equal(RecipientState.Deferred, mismatch.State);
        Assert.Contains("TLS handshake failed", mismatch.LastError, StringComparison.Ordinal);
        Assert.Contains("no DANE-EE record matched the server certificate", mismatch.LastError, StringComparison.Ordinal);
        var servfail = await RecipientAsync(h, ids["servfail.test"]);
        Assert.Equal(RecipientState.Deferred, servfail.State);
        Assert.Contains("RFC 7672", servfail.LastError, StringComparison.Ordinal);
        Assert.Null(h.Engine.DownUntil("servfail.test"));
    }
}
