using Postern.Core.Tenants;
using Postern.Delivery.Verification;
using Postern.Primitives;

namespace Postern.Delivery.Tests.Verification;

/// <summary>The answer cache in front of the RCPT probe: lifetimes, shared probes, the unreachable pause and the size bound.</summary>
public sealed class RecipientVerifierTests
{
    private static readonly MailDomain Domain = new(7, 1, DomainName.Parse("customer.example"), DomainKind.Relay,
        [new RelayHost("192.0.2.25", 25, 10)], "+", null, false, null, "{}", DateTimeOffset.UnixEpoch);

    private static EmailAddress Address(string local) => EmailAddress.Parse(local + "@customer.example");

    [Fact]
    public async Task Answers_are_kept_for_their_own_lifetimes()
    {
        var clock = new ManualClock();
        var probe = new FakeProbe { ["known"] = RecipientStatus.Exists, ["gone"] = RecipientStatus.DoesNotExist };
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions { PositiveCacheTime = TimeSpan.FromDays(1), NegativeCacheTime = TimeSpan.FromHours(1) }, clock);

        Assert.Equal(RecipientStatus.Exists, (await verifier.VerifyAsync(Domain, Address("known"))).Status);
        Assert.Equal(RecipientStatus.DoesNotExist, (await verifier.VerifyAsync(Domain, Address("gone"))).Status);
        Assert.Equal(2, probe.Calls);

        clock.Advance(TimeSpan.FromMinutes(59));
        var cached = await verifier.VerifyAsync(Domain, Address("GONE"));
        Assert.Equal((RecipientStatus.DoesNotExist, true), (cached.Status, cached.FromCache));
        Assert.Equal(2, probe.Calls);

        // Past the negative lifetime the server is asked again; the positive answer still stands.
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.False((await verifier.VerifyAsync(Domain, Address("gone"))).FromCache);
        Assert.True((await verifier.VerifyAsync(Domain, Address("known"))).FromCache);
        Assert.Equal(3, probe.Calls);

        clock.Advance(TimeSpan.FromDays(1));
        Assert.False((await verifier.VerifyAsync(Domain, Address("known"))).FromCache);
        Assert.Equal(4, probe.Calls);
    }

    [Fact]
    public async Task Try_later_is_not_remembered_but_an_unreachable_domain_is_left_alone_for_a_while()
    {
        var clock = new ManualClock();
        var probe = new FakeProbe { ["busy"] = RecipientStatus.Unavailable };
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions { UnreachableCacheTime = TimeSpan.FromMinutes(1) }, clock);

        // A 4xx from a server that answered: asked again next time.
        Assert.Equal(RecipientStatus.Unavailable, (await verifier.VerifyAsync(Domain, Address("busy"))).Status);
        Assert.Equal(RecipientStatus.Unavailable, (await verifier.VerifyAsync(Domain, Address("busy"))).Status);
        Assert.Equal(2, probe.Calls);

        // No server reachable: every address of the domain gets "try later" without a connection, for a minute.
        probe.Unreachable = true;
        Assert.Equal(RecipientStatus.Unavailable, (await verifier.VerifyAsync(Domain, Address("someone"))).Status);
        var paused = await verifier.VerifyAsync(Domain, Address("someone-else"));
        Assert.Equal((RecipientStatus.Unavailable, true, true), (paused.Status, paused.Unreachable, paused.FromCache));
        Assert.Equal(3, probe.Calls);
        Assert.Equal(0, verifier.CachedAnswers);

        probe.Unreachable = false;
        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(RecipientStatus.Exists, (await verifier.VerifyAsync(Domain, Address("someone-else"))).Status);
        Assert.Equal(4, probe.Calls);
    }

    [Fact]
    public async Task Concurrent_questions_about_one_address_share_one_probe()
    {
        var probe = new FakeProbe { ["known"] = RecipientStatus.Exists, Gate = new TaskCompletionSource() };
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions());
        var waiting = Enumerable.Range(0, 20).Select(_ => verifier.VerifyAsync(Domain, Address("known"))).ToList();
        await Task.Delay(50);
        probe.Gate.SetResult();
        var results = await Task.WhenAll(waiting);
        Assert.All(results, r => Assert.Equal(RecipientStatus.Exists, r.Status));
        Assert.Equal(1, probe.Calls);
        Assert.Equal(1, verifier.Probes);
    }

    [Fact]
    public async Task A_caller_that_gives_up_does_not_cancel_the_probe_the_others_wait_for()
    {
        var probe = new FakeProbe { ["known"] = RecipientStatus.Exists, Gate = new TaskCompletionSource() };
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions());
        using var impatient = new CancellationTokenSource();
        var first = verifier.VerifyAsync(Domain, Address("known"), impatient.Token);
        var second = verifier.VerifyAsync(Domain, Address("known"));
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        probe.Gate.SetResult();
        Assert.Equal(RecipientStatus.Exists, (await second).Status);
        Assert.True((await verifier.VerifyAsync(Domain, Address("known"))).FromCache);
        Assert.Equal(1, probe.Calls);
    }

    [Fact]
    public async Task The_cache_is_bounded_and_drops_the_oldest_answer_first()
    {
        var probe = new FakeProbe();
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions { MaxCacheEntries = 3 });
        foreach (var name in new[] { "a", "b", "c", "d" })
        {
            await verifier.VerifyAsync(Domain, Address(name));
        }

        Assert.Equal(3, verifier.CachedAnswers);
        Assert.True((await verifier.VerifyAsync(Domain, Address("d"))).FromCache);
        Assert.True((await verifier.VerifyAsync(Domain, Address("b"))).FromCache);
        Assert.False((await verifier.VerifyAsync(Domain, Address("a"))).FromCache);
        Assert.Equal(5, probe.Calls);
    }

    [Fact]
    public async Task The_same_local_part_in_another_domain_is_another_question()
    {
        var probe = new FakeProbe { ["known"] = RecipientStatus.Exists };
        var verifier = new RecipientVerifier(probe, new RecipientProbeOptions());
        var other = Domain with { Id = 8, Name = DomainName.Parse("other.example") };
        await verifier.VerifyAsync(Domain, Address("known"));
        Assert.False((await verifier.VerifyAsync(other, EmailAddress.Parse("known@other.example"))).FromCache);
        Assert.Equal(2, probe.Calls);
    }

    [Fact]
    public void Hosts_are_tried_lowest_priority_first_and_equal_priorities_share_the_load()
    {
        RelayHost[] hosts = [new("backup.example", 25, 20), new("a.example", 25, 10), new("b.example", 25, 10)];
        var firsts = new HashSet<string>();
        for (var i = 0; i < 200; i++)
        {
            var order = SmtpRecipientProbe.InTryOrder(hosts).ToList();
            Assert.Equal("backup.example", order[2].Host);
            firsts.Add(order[0].Host);
        }

        Assert.Equal(["a.example", "b.example"], firsts.Order());
    }

    [Fact]
    public async Task A_domain_without_mail_servers_cannot_be_verified_and_gets_try_later()
    {
        var probe = new SmtpRecipientProbe(new RecipientProbeOptions());
        var result = await probe.ProbeAsync([], "x@customer.example", default);
        Assert.Equal(RecipientStatus.Unavailable, result.Status);
    }

    private sealed class FakeProbe : IRecipientProbe, System.Collections.IEnumerable
    {
        private readonly Dictionary<string, RecipientStatus> _answers = new(StringComparer.OrdinalIgnoreCase);
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public TaskCompletionSource? Gate { get; init; }

        public bool Unreachable { get; set; }

        public RecipientStatus this[string local]
        {
            set => _answers[local] = value;
        }

        public async Task<RecipientProbeResult> ProbeAsync(IReadOnlyList<RelayHost> hosts, string recipient, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            if (Gate is not null)
            {
                await Gate.Task;
            }

            if (Unreachable)
            {
                return new RecipientProbeResult(RecipientStatus.Unavailable, "connection refused") { Unreachable = true };
            }

            var local = recipient[..recipient.IndexOf('@', StringComparison.Ordinal)];
            return new RecipientProbeResult(_answers.TryGetValue(local, out var status) ? status : RecipientStatus.Exists, "fake");
        }

        public System.Collections.IEnumerator GetEnumerator() => _answers.GetEnumerator();
    }
}
