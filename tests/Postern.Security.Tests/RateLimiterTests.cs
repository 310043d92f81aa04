using System.Net;

namespace Postern.Security.Tests;

public sealed class RateLimiterTests
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private static readonly IPAddress Client = IPAddress.Parse("198.51.100.7");

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Connections_per_minute_are_limited_until_the_minute_ends(StoreKind kind)
    {
        var clock = new ManualClock(); // 12:00:30
        using var s = new StoreFixture(kind, clock);
        var limiter = new RateLimiter(s.Store, new RateLimitOptions { ConnectionsPerIpPerMinute = 3 }, clock);

        for (var i = 0; i < 3; i++)
        {
            Assert.True((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
        }

        var refused = await limiter.CheckConnectionAsync(Client, Ct);
        Assert.Equal(RateLimit.ConnectionsPerIpPerMinute, refused.Limit);
        Assert.Equal(TimeSpan.FromSeconds(30), refused.RetryAfter);
        Assert.Equal(421, refused.SmtpCode);
        Assert.Equal("4.7.0", refused.EnhancedCode);
        Assert.True((await limiter.CheckConnectionAsync(IPAddress.Parse("198.51.100.8"), Ct)).IsAllowed);

        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.True((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Messages_are_limited_per_minute_and_per_hour_per_client_on_MX(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var limiter = new RateLimiter(s.Store, new RateLimitOptions { MessagesPerIpPerMinute = 2, MessagesPerIpPerHour = 5 }, clock);

        var results = new List<RateLimit>();
        for (var minute = 0; minute < 4; minute++)
        {
            for (var i = 0; i < 3; i++)
            {
                results.Add((await limiter.CheckMessageAsync(Client, null, Ct)).Limit);
            }

            clock.Advance(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(
            [
                RateLimit.None, RateLimit.None, RateLimit.MessagesPerIpPerMinute,
                RateLimit.None, RateLimit.None, RateLimit.MessagesPerIpPerMinute,
                RateLimit.None, RateLimit.MessagesPerIpPerHour, RateLimit.MessagesPerIpPerHour,
                RateLimit.MessagesPerIpPerHour, RateLimit.MessagesPerIpPerHour, RateLimit.MessagesPerIpPerHour,
            ],
            results);

        var refused = await limiter.CheckMessageAsync(Client, null, Ct);
        Assert.Equal((450, "4.7.1"), (refused.SmtpCode, refused.EnhancedCode));
        Assert.Equal(TimeSpan.FromMinutes(56) - TimeSpan.FromSeconds(30), refused.RetryAfter);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Authenticated_sessions_are_limited_per_account_not_per_client(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var limiter = new RateLimiter(s.Store, new RateLimitOptions { MessagesPerAccountPerMinute = 2, MessagesPerIpPerMinute = 1 }, clock);

        Assert.True((await limiter.CheckMessageAsync(Client, "a@x.test", Ct)).IsAllowed);
        Assert.True((await limiter.CheckMessageAsync(IPAddress.Parse("192.0.2.1"), "A@X.test", Ct)).IsAllowed);
        Assert.Equal(RateLimit.MessagesPerAccountPerMinute, (await limiter.CheckMessageAsync(IPAddress.Parse("192.0.2.2"), "a@x.test", Ct)).Limit);
        Assert.True((await limiter.CheckMessageAsync(Client, "b@x.test", Ct)).IsAllowed);
        Assert.True((await limiter.CheckMessageAsync(Client, null, Ct)).IsAllowed);
        Assert.False((await limiter.CheckMessageAsync(Client, null, Ct)).IsAllowed);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Recipients_are_limited_per_message_and_per_hour(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var limiter = new RateLimiter(s.Store, new RateLimitOptions { RecipientsPerMessage = 3, RecipientsPerAccountPerHour = 5, RecipientsPerIpPerHour = 0 }, clock);

        var perMessage = limiter.CheckRecipientsPerMessage(4);
        Assert.Equal(RateLimit.RecipientsPerMessage, perMessage.Limit);
        Assert.Equal((452, "4.5.3"), (perMessage.SmtpCode, perMessage.EnhancedCode));
        Assert.True(limiter.CheckRecipientsPerMessage(3).IsAllowed);

        for (var n = 1; n <= 3; n++)
        {
            Assert.True((await limiter.CheckRecipientAsync(Client, "a@x.test", n, Ct)).IsAllowed);
        }

        Assert.Equal(RateLimit.RecipientsPerMessage, (await limiter.CheckRecipientAsync(Client, "a@x.test", 4, Ct)).Limit);
        Assert.True((await limiter.CheckRecipientAsync(Client, "a@x.test", 1, Ct)).IsAllowed);
        Assert.True((await limiter.CheckRecipientAsync(Client, "a@x.test", 2, Ct)).IsAllowed);
        var hourly = await limiter.CheckRecipientAsync(Client, "a@x.test", 3, Ct);
        Assert.Equal(RateLimit.RecipientsPerAccountPerHour, hourly.Limit);
        Assert.Equal(452, hourly.SmtpCode);

        // RecipientsPerIpPerHour = 0 is off: unauthenticated clients meet only the per-message limit.
        for (var i = 0; i < 50; i++)
        {
            Assert.True((await limiter.CheckRecipientAsync(Client, null, 1, Ct)).IsAllowed);
        }
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Bytes_per_hour_are_counted_by_size(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var limiter = new RateLimiter(s.Store, new RateLimitOptions { BytesPerAccountPerHour = 1000, BytesPerIpPerHour = 0 }, clock);

        Assert.True((await limiter.CheckBytesAsync(Client, "a@x.test", 600, Ct)).IsAllowed);
        Assert.True((await limiter.CheckBytesAsync(Client, "a@x.test", 400, Ct)).IsAllowed);
        Assert.Equal(RateLimit.BytesPerAccountPerHour, (await limiter.CheckBytesAsync(Client, "a@x.test", 1, Ct)).Limit);
        Assert.True((await limiter.CheckBytesAsync(Client, null, 1_000_000, Ct)).IsAllowed);
        clock.Advance(TimeSpan.FromHours(1));
        Assert.True((await limiter.CheckBytesAsync(Client, "a@x.test", 999, Ct)).IsAllowed);
    }

    [Theory]
    [InlineData(StoreKind.InMemory)]
    [InlineData(StoreKind.Sqlite)]
    public async Task Two_nodes_share_one_count(StoreKind kind)
    {
        var clock = new ManualClock();
        using var s = new StoreFixture(kind, clock);
        var options = new RateLimitOptions { ConnectionsPerIpPerMinute = 4 };
        var a = new RateLimiter(s.Store, options, clock);
        var b = new RateLimiter(s.Store, options, clock);

        Assert.True((await a.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.True((await b.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.True((await a.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.True((await b.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.False((await a.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.False((await b.CheckConnectionAsync(Client, Ct)).IsAllowed);
    }

    [Fact]
    public async Task A_full_window_known_in_memory_needs_no_store_round_trip()
    {
        var clock = new ManualClock();
        var store = new InMemoryKeyValueStore(clock);
        var limiter = new RateLimiter(store, new RateLimitOptions { ConnectionsPerIpPerMinute = 1 }, clock);
        await limiter.CheckConnectionAsync(Client, Ct);
        await limiter.CheckConnectionAsync(Client, Ct);
        var before = store.Calls;
        for (var i = 0; i < 100; i++)
        {
            Assert.False((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
        }

        Assert.Equal(before, store.Calls);
        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.True((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
    }

    [Fact]
    public async Task Trusted_networks_and_IPv6_prefixes()
    {
        var clock = new ManualClock();
        var store = new InMemoryKeyValueStore(clock);
        var limiter = new RateLimiter(store, new RateLimitOptions { ConnectionsPerIpPerMinute = 1, TrustedNetworks = ["192.0.2.0/24"] }, clock);

        for (var i = 0; i < 10; i++)
        {
            Assert.True((await limiter.CheckConnectionAsync(IPAddress.Parse("192.0.2.9"), Ct)).IsAllowed);
        }

        Assert.True((await limiter.CheckConnectionAsync(IPAddress.Parse("2001:db8:5:6::1"), Ct)).IsAllowed);
        Assert.False((await limiter.CheckConnectionAsync(IPAddress.Parse("2001:db8:5:6::2"), Ct)).IsAllowed);
        Assert.True((await limiter.CheckConnectionAsync(IPAddress.Parse("2001:db8:5:7::1"), Ct)).IsAllowed);
    }

    [Fact]
    public async Task A_failing_store_fails_open()
    {
        var clock = new ManualClock();
        var limiter = new RateLimiter(new InMemoryKeyValueStore(clock) { Fail = true }, new RateLimitOptions { ConnectionsPerIpPerMinute = 1 }, clock);
        Assert.True((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
        Assert.True((await limiter.CheckConnectionAsync(Client, Ct)).IsAllowed);
    }
}
