using System.Net;

namespace Postern.Security.Tests;

public sealed class AuthGuardTests
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private static readonly IPAddress Attacker = IPAddress.Parse("198.51.100.7");
    private static readonly IPAddress Home = IPAddress.Parse("203.0.113.20");

    private static readonly AuthProtectionOptions Small = new()
    {
        IpMaxFailures = 3,
        IpFailureWindow = TimeSpan.FromMinutes(10),
        IpLockoutBase = TimeSpan.FromMinutes(5),
        IpLockoutMax = TimeSpan.FromMinutes(15),
        AccountMaxFailures = 5,
        AccountFailureWindow = TimeSpan.FromHours(1),
        AccountThrottleBase = TimeSpan.FromMinutes(2),
        AccountThrottleMax = TimeSpan.FromMinutes(4),
        LockoutMemory = TimeSpan.FromHours(2),
    };

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task A_client_is_locked_out_after_the_failure_limit_and_let_in_again_later(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);

        for (var i = 0; i < 2; i++)
        {
            Assert.True((await guard.CheckAsync(Attacker, "u@x.test", Ct)).IsAllowed);
            var f = await guard.RecordFailureAsync(Attacker, "u@x.test", null, Ct);
            Assert.Null(f.ClientLockout);
        }

        var third = await guard.RecordFailureAsync(Attacker, "u@x.test", null, Ct);
        Assert.Equal(TimeSpan.FromMinutes(5), third.ClientLockout);

        var check = await guard.CheckAsync(Attacker, "u@x.test", Ct);
        Assert.Equal(AuthBlock.ClientLockedOut, check.Block);
        Assert.Equal(TimeSpan.FromMinutes(5), check.RetryAfter);
        Assert.Equal(AuthBlock.ClientLockedOut, (await guard.CheckAsync(Attacker, null, Ct)).Block);
        Assert.True((await guard.CheckAsync(Home, "u@x.test", Ct)).IsAllowed);

        clock.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(TimeSpan.FromMinutes(1), (await guard.CheckAsync(Attacker, null, Ct)).RetryAfter);
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.True((await guard.CheckAsync(Attacker, "u@x.test", Ct)).IsAllowed);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Repeated_lockouts_grow_up_to_the_maximum_and_are_forgotten_after_the_memory(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);

        async Task<TimeSpan?> LockOnce()
        {
            AuthFailureResult last = default;
            for (var i = 0; i < Small.IpMaxFailures; i++)
            {
                Assert.True((await guard.CheckAsync(Attacker, null, Ct)).IsAllowed);
                last = await guard.RecordFailureAsync(Attacker, null, null, Ct);
            }

            clock.Advance(last.ClientLockout!.Value);
            return last.ClientLockout;
        }

        Assert.Equal(TimeSpan.FromMinutes(5), await LockOnce());
        Assert.Equal(TimeSpan.FromMinutes(10), await LockOnce());
        Assert.Equal(TimeSpan.FromMinutes(15), await LockOnce());
        Assert.Equal(TimeSpan.FromMinutes(15), await LockOnce());

        clock.Advance(TimeSpan.FromHours(3));
        Assert.Equal(TimeSpan.FromMinutes(5), await LockOnce());
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task A_success_resets_the_clients_failures_and_the_tarpit(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);

        Assert.Equal(TimeSpan.FromSeconds(2), (await guard.RecordFailureAsync(Home, "me@x.test", null, Ct)).Delay);
        Assert.Equal(TimeSpan.FromSeconds(4), (await guard.RecordFailureAsync(Home, "me@x.test", null, Ct)).Delay);
        await guard.RecordSuccessAsync(Home, "me@x.test", Ct);

        var again = await guard.RecordFailureAsync(Home, "me@x.test", null, Ct);
        Assert.Equal(1, again.ClientFailures);
        Assert.Equal(TimeSpan.FromSeconds(2), again.Delay);
        Assert.Null((await guard.RecordFailureAsync(Home, "me@x.test", null, Ct)).ClientLockout);
        Assert.True((await guard.CheckAsync(Home, "me@x.test", Ct)).IsAllowed);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task A_client_retrying_the_same_stale_password_is_delayed_but_not_locked_out(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);

        var first = await guard.RecordFailureAsync(Home, "me@x.test", "old-password", Ct);
        Assert.False(first.Repeated);
        for (var i = 0; i < 20; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(20));
            var again = await guard.RecordFailureAsync(Home, "ME@x.test", "old-password", Ct);
            Assert.True(again.Repeated);
            Assert.Equal(Small.TarpitInitial, again.Delay);
        }

        Assert.True((await guard.CheckAsync(Home, "me@x.test", Ct)).IsAllowed);

        // Different passwords are guesses and count.
        Assert.False((await guard.RecordFailureAsync(Home, "me@x.test", "guess-1", Ct)).Repeated);
        Assert.NotNull((await guard.RecordFailureAsync(Home, "me@x.test", "guess-2", Ct)).ClientLockout);
    }

    [Fact]
    public void The_tarpit_doubles_up_to_its_maximum()
    {
        var clock = new ManualClock();
        var guard = new AuthGuard(new InMemoryKeyValueStore(clock), new AuthProtectionOptions(), clock);
        Assert.Equal(TimeSpan.Zero, guard.Tarpit(0));
        Assert.Equal(TimeSpan.FromSeconds(2), guard.Tarpit(1));
        Assert.Equal(TimeSpan.FromSeconds(4), guard.Tarpit(2));
        Assert.Equal(TimeSpan.FromSeconds(8), guard.Tarpit(3));
        Assert.Equal(TimeSpan.FromSeconds(15), guard.Tarpit(4));
        Assert.Equal(TimeSpan.FromSeconds(15), guard.Tarpit(1_000_000));
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task IPv6_clients_are_counted_by_their_64_prefix(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);

        await guard.RecordFailureAsync(IPAddress.Parse("2001:db8:1:2::1"), null, null, Ct);
        await guard.RecordFailureAsync(IPAddress.Parse("2001:db8:1:2:ffff::9"), null, null, Ct);
        var third = await guard.RecordFailureAsync(IPAddress.Parse("2001:db8:1:2:abcd:1234:5678:9abc"), null, null, Ct);
        Assert.NotNull(third.ClientLockout);

        Assert.Equal(AuthBlock.ClientLockedOut, (await guard.CheckAsync(IPAddress.Parse("2001:db8:1:2::77"), null, Ct)).Block);
        Assert.True((await guard.CheckAsync(IPAddress.Parse("2001:db8:1:3::1"), null, Ct)).IsAllowed);
    }

    [Fact]
    public void Client_keys_group_IPv6_by_prefix_and_read_mapped_IPv4_as_IPv4()
    {
        Assert.Equal("2001:db8:1:2::/64", ClientAddress.Key(IPAddress.Parse("2001:db8:1:2:3:4:5:6")));
        Assert.Equal("2001:db8:100::/40", ClientAddress.Key(IPAddress.Parse("2001:db8:1ff:2::1"), 40));
        Assert.Equal("192.0.2.1", ClientAddress.Key(IPAddress.Parse("::ffff:192.0.2.1")));
        Assert.Equal("192.0.2.1", ClientAddress.Key(IPAddress.Parse("192.0.2.1")));
        Assert.NotEqual(ClientAddress.Key(IPAddress.Parse("192.0.2.1")), ClientAddress.Key(IPAddress.Parse("192.0.2.2")));
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Trusted_networks_are_never_counted_or_locked(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small with { TrustedNetworks = ["10.0.0.0/8", "2001:db8:ffff::/48"] }, clock);
        var webmail = IPAddress.Parse("10.1.2.3");

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(TimeSpan.Zero, (await guard.RecordFailureAsync(webmail, "u@x.test", null, Ct)).Delay);
        }

        Assert.True((await guard.CheckAsync(webmail, "u@x.test", Ct)).IsAllowed);
        Assert.True(guard.IsTrusted(IPAddress.Parse("2001:db8:ffff:1::5")));
        Assert.True(guard.IsTrusted(IPAddress.Parse("::ffff:10.9.9.9")));
        Assert.False(guard.IsTrusted(IPAddress.Parse("11.0.0.1")));
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task A_distributed_attack_throttles_unfamiliar_clients_but_not_the_owners_usual_ones(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);
        const string Victim = "Victim@X.test";
        await guard.RecordSuccessAsync(Home, "victim@x.test", Ct);

        AuthFailureResult last = default;
        for (var i = 0; i < Small.AccountMaxFailures; i++)
        {
            var botnet = IPAddress.Parse($"192.0.2.{i + 1}");
            Assert.True((await guard.CheckAsync(botnet, Victim, Ct)).IsAllowed);
            last = await guard.RecordFailureAsync(botnet, Victim, null, Ct);
            Assert.Null(last.ClientLockout);
        }

        Assert.Equal(TimeSpan.FromMinutes(2), last.AccountThrottle);
        var fresh = IPAddress.Parse("192.0.2.200");
        var refused = await guard.CheckAsync(fresh, "victim@x.test", Ct);
        Assert.Equal(AuthBlock.AccountThrottled, refused.Block);
        Assert.Equal(TimeSpan.FromMinutes(2), refused.RetryAfter);
        Assert.True((await guard.CheckAsync(Home, Victim, Ct)).IsAllowed);
        Assert.True((await guard.CheckAsync(fresh, "someone-else@x.test", Ct)).IsAllowed);

        // Refused attempts still count against the client that makes them.
        for (var i = 1; i < Small.IpMaxFailures; i++)
        {
            Assert.Equal(AuthBlock.AccountThrottled, (await guard.CheckAsync(fresh, Victim, Ct)).Block);
        }

        Assert.Equal(AuthBlock.ClientLockedOut, (await guard.CheckAsync(fresh, Victim, Ct)).Block);
        fresh = IPAddress.Parse("192.0.2.201");

        // Failures from the owner's familiar client do not count against the account.
        var familiar = await guard.RecordFailureAsync(Home, Victim, null, Ct);
        Assert.Null(familiar.AccountThrottle);

        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.True((await guard.CheckAsync(fresh, Victim, Ct)).IsAllowed);

        // The attack goes on: the throttle grows, but never beyond its (short) maximum.
        var lengths = new List<TimeSpan?>();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < Small.AccountMaxFailures; i++)
            {
                last = await guard.RecordFailureAsync(IPAddress.Parse($"192.0.{round + 10}.{i + 1}"), Victim, null, Ct);
            }

            lengths.Add(last.AccountThrottle);
            clock.Advance(last.AccountThrottle!.Value);
        }

        Assert.Equal([TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(4)], lengths);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Two_nodes_on_one_store_share_counts_and_lockouts(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var smtp = new AuthGuard(s.Store, Small, clock);
        var imap = new AuthGuard(s.Store, Small, clock);

        await smtp.RecordFailureAsync(Attacker, null, null, Ct);
        await imap.RecordFailureAsync(Attacker, null, null, Ct);
        Assert.NotNull((await smtp.RecordFailureAsync(Attacker, null, null, Ct)).ClientLockout);

        Assert.Equal(AuthBlock.ClientLockedOut, (await imap.CheckAsync(Attacker, null, Ct)).Block);
    }

    [Fact]
    public async Task A_lockout_known_in_memory_needs_no_store_round_trip()
    {
        var clock = new ManualClock();
        var store = new InMemoryKeyValueStore(clock);
        var guard = new AuthGuard(store, Small, clock);
        for (var i = 0; i < Small.IpMaxFailures; i++)
        {
            await guard.RecordFailureAsync(Attacker, null, null, Ct);
        }

        var before = store.Calls;
        for (var i = 0; i < 100; i++)
        {
            Assert.False((await guard.CheckAsync(Attacker, "u@x.test", Ct)).IsAllowed);
        }

        Assert.Equal(before, store.Calls);
    }

    [Fact]
    public async Task A_failing_store_fails_open_but_keeps_a_delay()
    {
        var clock = new ManualClock();
        var store = new InMemoryKeyValueStore(clock) { Fail = true };
        var guard = new AuthGuard(store, Small, clock);
        Assert.True((await guard.CheckAsync(Attacker, "u@x.test", Ct)).IsAllowed);
        Assert.Equal(Small.TarpitInitial, (await guard.RecordFailureAsync(Attacker, "u@x.test", null, Ct)).Delay);
        await guard.RecordSuccessAsync(Attacker, "u@x.test", Ct);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task An_operator_can_lift_a_lockout(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var guard = new AuthGuard(s.Store, Small, clock);
        for (var i = 0; i < Small.IpMaxFailures; i++)
        {
            await guard.RecordFailureAsync(Attacker, null, null, Ct);
        }

        Assert.False((await guard.CheckAsync(Attacker, null, Ct)).IsAllowed);
        await guard.UnblockAsync(Attacker, null, Ct);
        Assert.True((await guard.CheckAsync(Attacker, null, Ct)).IsAllowed);
    }

    [Fact]
    public void Account_keys_are_bounded_and_case_insensitive()
    {
        Assert.Equal(AuthGuard.AccountKey("User@Example.COM"), AuthGuard.AccountKey("user@example.com"));
        Assert.Equal(32, AuthGuard.AccountKey(new string('a', 10_000)).Length);
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        var clock = new ManualClock();
        var store = new InMemoryKeyValueStore(clock);
        Assert.Throws<ArgumentException>(() => new AuthGuard(store, new AuthProtectionOptions { IpMaxFailures = 0 }, clock));
        Assert.Throws<FormatException>(() => new AuthGuard(store, new AuthProtectionOptions { TrustedNetworks = ["not a network"] }, clock));
    }
}
