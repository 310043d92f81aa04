using System.Net;

namespace Postern.Dns.Tests;

/// <summary>Caching with a clock moved by hand, negative caching and in-flight de-duplication.</summary>
public class CacheTests
{
    private static readonly IPAddress Web = IPAddress.Parse("192.0.2.80");

    private static DnsStubResolver Resolver(FakeDnsServer server, TimeProvider time, TimeSpan? floor = null,
        TimeSpan? ceiling = null, int entries = 100) =>
        new(new DnsResolverOptions
        {
            Servers = [server.EndPoint],
            Attempts = 1,
            Timeout = TimeSpan.FromSeconds(5),
            ResolvConfPath = "/nonexistent",
            MinimumCacheTtl = floor ?? TimeSpan.Zero,
            MaximumCacheTtl = ceiling ?? TimeSpan.FromDays(1),
            MaxCacheEntries = entries,
        }, time);

    [Fact]
    public async Task Answer_is_served_from_cache_until_its_TTL_runs_out()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 60, Web)]);
        using var resolver = Resolver(server, time);

        await resolver.ResolveAsync("example.com", DnsRecordType.A);
        time.Advance(TimeSpan.FromSeconds(59));
        var cached = await resolver.ResolveAsync("EXAMPLE.com.", DnsRecordType.A);

        Assert.True(cached.FromCache);
        Assert.Equal(TimeSpan.FromSeconds(1), cached.TimeToLive);
        Assert.Equal(1, server.TotalQueries);

        time.Advance(TimeSpan.FromSeconds(1));
        var fresh = await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.False(fresh.FromCache);
        Assert.Equal(2, server.TotalQueries);
    }

    [Fact]
    public async Task Different_types_are_cached_separately()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q => q.Type == DnsRecordType.A
            ? [new ARecord(q.Name, 60, Web)]
            : [new MxRecord(q.Name, 60, 10, "mx.example.com")]);
        using var resolver = Resolver(server, time);

        await resolver.ResolveAsync("example.com", DnsRecordType.A);
        var mx = await resolver.ResolveAsync("example.com", DnsRecordType.MX);

        Assert.IsType<MxRecord>(Assert.Single(mx.Records));
        Assert.Equal(2, server.TotalQueries);
    }

    [Fact]
    public async Task TTL_zero_is_not_cached_unless_a_floor_is_set()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 0, Web)]);
        using var noFloor = Resolver(server, time);
        using var withFloor = Resolver(server, time, floor: TimeSpan.FromSeconds(30));

        await noFloor.ResolveAsync("example.com", DnsRecordType.A);
        await noFloor.ResolveAsync("example.com", DnsRecordType.A);
        Assert.Equal(2, server.TotalQueries);

        await withFloor.ResolveAsync("example.com", DnsRecordType.A);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.True((await withFloor.ResolveAsync("example.com", DnsRecordType.A)).FromCache);
        Assert.Equal(3, server.TotalQueries);
    }

    [Fact]
    public async Task Ceiling_shortens_long_TTLs()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 604800, Web)]);
        using var resolver = Resolver(server, time, ceiling: TimeSpan.FromMinutes(5));

        await resolver.ResolveAsync("example.com", DnsRecordType.A);
        time.Advance(TimeSpan.FromMinutes(5));
        await resolver.ResolveAsync("example.com", DnsRecordType.A);

        Assert.Equal(2, server.TotalQueries);
    }

    [Fact]
    public async Task NXDOMAIN_is_cached_for_the_SOA_minimum_when_smaller_than_the_SOA_TTL()
    {
        var time = new ManualTimeProvider();
        await using var server = new FakeDnsServer(q =>
            [FakeDnsServer.Reply(q.Message, DnsResponseCode.NameError, authorities: [FakeDnsServer.Soa("example.com", 3600, 30)])]);
        using var resolver = Resolver(server, time);

        var first = await resolver.ResolveAsync("nothing.example.com", DnsRecordType.A);
        time.Advance(TimeSpan.FromSeconds(29));
        var cached = await resolver.ResolveAsync("nothing.example.com", DnsRecordType.A);

        Assert.Equal(DnsStatus.NxDomain, first.Status);
        Assert.Equal((DnsStatus.NxDomain, true), (cached.Status, cached.FromCache));
        Assert.Equal(1, server.TotalQueries);

        time.Advance(TimeSpan.FromSeconds(1));
        await resolver.ResolveAsync("nothing.example.com", DnsRecordType.A);
        Assert.Equal(2, server.TotalQueries);
    }

    [Fact]
    public async Task NODATA_is_cached_for_the_SOA_TTL_when_smaller_than_its_minimum()
    {
        var time = new ManualTimeProvider();
        await using var server = new FakeDnsServer(q =>
            [FakeDnsServer.Reply(q.Message, authorities: [FakeDnsServer.Soa("example.com", 20, 3600)])]);
        using var resolver = Resolver(server, time);

        await resolver.ResolveAsync("example.com", DnsRecordType.TLSA);
        time.Advance(TimeSpan.FromSeconds(19));
        Assert.True((await resolver.ResolveAsync("example.com", DnsRecordType.TLSA)).FromCache);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.False((await resolver.ResolveAsync("example.com", DnsRecordType.TLSA)).FromCache);
    }

    [Fact]
    public async Task Negative_answer_without_SOA_and_failures_are_not_cached()
    {
        var time = new ManualTimeProvider();
        await using var server = new FakeDnsServer(q => q.Message.Questions[0].Name == "nosoa.example"
            ? [FakeDnsServer.Reply(q.Message, DnsResponseCode.NameError)]
            : [FakeDnsServer.Reply(q.Message, DnsResponseCode.ServerFailure)]);
        using var resolver = Resolver(server, time);

        await resolver.ResolveAsync("nosoa.example", DnsRecordType.A);
        await resolver.ResolveAsync("nosoa.example", DnsRecordType.A);
        await resolver.ResolveAsync("broken.example", DnsRecordType.A);
        await resolver.ResolveAsync("broken.example", DnsRecordType.A);

        Assert.Equal(4, server.TotalQueries);
    }

    [Fact]
    public async Task Least_recently_used_entry_is_evicted_when_the_cache_is_full()
    {
        var time = new ManualTimeProvider();
        await using var server = FakeDnsServer.Answering(q => [new ARecord(q.Name, 3600, Web)]);
        using var resolver = Resolver(server, time, entries: 2);

        await resolver.ResolveAsync("a.example", DnsRecordType.A);
        await resolver.ResolveAsync("b.example", DnsRecordType.A);
        await resolver.ResolveAsync("a.example", DnsRecordType.A); // a is now the most recent
        await resolver.ResolveAsync("c.example", DnsRecordType.A); // evicts b
        Assert.Equal(3, server.TotalQueries);
        Assert.Equal(2, resolver.CachedCount);

        Assert.True((await resolver.ResolveAsync("a.example", DnsRecordType.A)).FromCache);
        Assert.False((await resolver.ResolveAsync("b.example", DnsRecordType.A)).FromCache);
        Assert.Equal(4, server.TotalQueries);
    }

    [Fact]
    public async Task A_thousand_concurrent_identical_queries_make_one_upstream_query()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new FakeDnsServer(async q =>
        {
            await release.Task;
            return (IReadOnlyList<byte[]>)[FakeDnsServer.Reply(q.Message, answers: [new ARecord("hot.example.com", 60, Web)])];
        });
        using var resolver = Resolver(server, TimeProvider.System);

        var lookups = Enumerable.Range(0, 1000)
            .Select(i => resolver.ResolveAsync(i % 2 == 0 ? "hot.example.com" : "HOT.example.com.", DnsRecordType.A))
            .ToArray();
        release.SetResult();
        var results = await Task.WhenAll(lookups);

        Assert.All(results, r => Assert.Equal(Web, Assert.IsType<ARecord>(Assert.Single(r.Records)).Address));
        Assert.Equal(1, server.TotalQueries);
    }

    [Fact]
    public async Task One_caller_cancelling_does_not_cancel_the_shared_query()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = new FakeDnsServer(async q =>
        {
            await release.Task;
            return (IReadOnlyList<byte[]>)[FakeDnsServer.Reply(q.Message, answers: [new ARecord("example.com", 60, Web)])];
        });
        using var resolver = Resolver(server, TimeProvider.System);
        using var cts = new CancellationTokenSource();

        var cancelled = resolver.ResolveAsync("example.com", DnsRecordType.A, cts.Token);
        var patient = resolver.ResolveAsync("example.com", DnsRecordType.A);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        release.SetResult();

        Assert.True((await patient).IsSuccess);
        Assert.Equal(1, server.TotalQueries);
    }
}
