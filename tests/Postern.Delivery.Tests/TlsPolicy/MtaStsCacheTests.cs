using Postern.Delivery.TlsPolicy;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>The MTA-STS cache (RFC 8461 §5.1) over a fake fetcher and a hand-moved clock.</summary>
public sealed class MtaStsCacheTests : IDisposable
{
    private const string Domain = "example.com";
    private readonly ManualClock _clock = new();
    private readonly FakeFetcher _fetcher = new();
    private readonly string _folder = Directory.CreateTempSubdirectory("postern-mta-sts-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private MtaStsCache Cache(IMtaStsPolicyStore? store = null, MtaStsCacheOptions? options = null) =>
        new(_fetcher, store, options, _clock);

    [Fact]
    public async Task A_policy_is_fetched_once_and_then_served_from_the_cache()
    {
        using var cache = Cache();

        var first = await cache.GetPolicyAsync(Domain);
        var second = await cache.GetPolicyAsync("Example.COM.");

        Assert.Equal(MtaStsLookupSource.Fetched, first.Source);
        Assert.Equal(MtaStsLookupSource.Cache, second.Source);
        Assert.Equal(MtaStsMode.Enforce, second.ApplicablePolicy!.Mode);
        Assert.Equal(1, _fetcher.Fetches);
        Assert.Equal(2, _fetcher.Discoveries);
    }

    [Fact]
    public async Task A_changed_TXT_id_makes_it_fetch_again()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);
        _fetcher.Id = "2";
        _fetcher.Body = FakeFetcher.Policy("testing", "mx.example.com");

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.Fetched, result.Source);
        Assert.Equal(MtaStsMode.Testing, result.Policy!.Mode);
        Assert.Equal("2", result.Entry!.Id);
        Assert.Equal(2, _fetcher.Fetches);
    }

    [Fact]
    public async Task A_failed_refetch_keeps_the_valid_cached_policy()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);
        _fetcher.Id = "2";
        _fetcher.Fail = true;

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.CacheAfterFailure, result.Source);
        Assert.Equal(MtaStsMode.Enforce, result.Policy!.Mode);
        Assert.Contains("server down", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_vanished_TXT_record_keeps_the_cached_policy_until_it_expires()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);
        _fetcher.Id = null;

        var kept = await cache.GetPolicyAsync(Domain);
        _clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));
        var gone = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.CacheAfterFailure, kept.Source);
        Assert.NotNull(kept.ApplicablePolicy);
        Assert.Equal(MtaStsLookupSource.None, gone.Source);
        Assert.Null(gone.Policy);
    }

    [Fact]
    public async Task An_expired_policy_is_never_applied_even_when_the_refetch_fails()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);
        _clock.Advance(TimeSpan.FromDays(2));
        _fetcher.Fail = true;

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Null(result.Policy);
        Assert.Equal(2, _fetcher.Fetches);
    }

    [Fact]
    public async Task Past_half_of_max_age_it_refreshes_and_the_new_fetch_restarts_the_clock()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);

        _clock.Advance(TimeSpan.FromHours(11));
        Assert.Equal(MtaStsLookupSource.Cache, (await cache.GetPolicyAsync(Domain)).Source);
        _clock.Advance(TimeSpan.FromHours(2));
        var refreshed = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.Fetched, refreshed.Source);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromDays(1), refreshed.Entry!.ExpiresAt);
    }

    [Fact]
    public async Task A_failed_fetch_is_not_retried_before_the_backoff()
    {
        using var cache = Cache(options: new MtaStsCacheOptions { FetchFailureBackoff = TimeSpan.FromMinutes(5) });
        _fetcher.Fail = true;

        await cache.GetPolicyAsync(Domain);
        await cache.GetPolicyAsync(Domain);
        _clock.Advance(TimeSpan.FromMinutes(6));
        _fetcher.Fail = false;
        var later = await cache.GetPolicyAsync(Domain);

        Assert.Equal(2, _fetcher.Fetches);
        Assert.Equal(MtaStsLookupSource.Fetched, later.Source);
    }

    [Fact]
    public async Task A_new_TXT_id_is_fetched_at_once_even_during_a_backoff()
    {
        using var cache = Cache();
        _fetcher.Fail = true;
        await cache.GetPolicyAsync(Domain);
        _fetcher.Fail = false;
        _fetcher.Id = "fixed";

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.Fetched, result.Source);
    }

    [Fact]
    public async Task An_invalid_TXT_record_without_a_cached_policy_means_no_policy()
    {
        using var cache = Cache();
        _fetcher.Discovery = new MtaStsDiscovery(MtaStsDiscoveryStatus.Invalid, null, "2 v=STSv1 TXT records");

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Null(result.Policy);
        Assert.Equal(0, _fetcher.Fetches);
        Assert.Equal("2 v=STSv1 TXT records", result.Error);
    }

    [Fact]
    public async Task Mode_none_replaces_an_enforce_policy()
    {
        using var cache = Cache();
        await cache.GetPolicyAsync(Domain);
        _fetcher.Id = "withdrawn";
        _fetcher.Body = "version: STSv1\nmode: none\nmax_age: 86400\n";

        var result = await cache.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsMode.None, result.Policy!.Mode);
        Assert.Null(result.ApplicablePolicy);
    }

    [Fact]
    public async Task Concurrent_lookups_of_one_domain_share_one_fetch()
    {
        using var cache = Cache();
        _fetcher.Gate = new TaskCompletionSource();

        var lookups = Enumerable.Range(0, 20).Select(_ => cache.GetPolicyAsync(Domain)).ToList();
        var other = cache.GetPolicyAsync("example.net");
        await _fetcher.WaitForDiscoveriesAsync(2);
        _fetcher.Gate.SetResult();
        var results = await Task.WhenAll(lookups);
        await other;

        Assert.All(results, r => Assert.Equal(MtaStsLookupSource.Fetched, r.Source));
        Assert.Equal(2, _fetcher.Fetches);
        Assert.Single(results.Select(r => r.Entry).Distinct());
    }

    [Fact]
    public async Task A_cancelled_caller_does_not_cancel_the_shared_fetch()
    {
        using var cache = Cache();
        _fetcher.Gate = new TaskCompletionSource();
        using var cancel = new CancellationTokenSource();

        var impatient = cache.GetPolicyAsync(Domain, cancel.Token);
        var patient = cache.GetPolicyAsync(Domain);
        await cancel.CancelAsync();
        _fetcher.Gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => impatient);
        Assert.Equal(MtaStsLookupSource.Fetched, (await patient).Source);
    }

    [Fact]
    public async Task A_file_store_keeps_the_policy_across_restarts()
    {
        var store = new FileMtaStsPolicyStore(_folder);
        using (var cache = Cache(store))
        {
            await cache.GetPolicyAsync(Domain);
        }

        _fetcher.Fail = true;
        _fetcher.Id = "changed-while-we-were-down";
        using var restarted = Cache(new FileMtaStsPolicyStore(_folder));
        var result = await restarted.GetPolicyAsync(Domain);

        Assert.Equal(MtaStsLookupSource.CacheAfterFailure, result.Source);
        Assert.Equal(["mx.example.com", "*.example.net"], result.Policy!.MxPatterns);
        Assert.Equal("1", result.Entry!.Id);
        Assert.Single(Directory.GetFiles(_folder));
    }

    [Fact]
    public async Task A_damaged_store_file_counts_as_no_policy()
    {
        var store = new FileMtaStsPolicyStore(_folder);
        using (var cache = Cache(store))
        {
            await cache.GetPolicyAsync(Domain);
        }

        var file = Assert.Single(Directory.GetFiles(_folder));
        await File.WriteAllTextAsync(file, "postern-mta-sts 1\ndomain: example.com\nid: 1\nfetched: yesterday\n\nversion: STSv1\n");

        Assert.Null(await store.GetAsync(Domain));
        await File.WriteAllTextAsync(file, "garbage");
        Assert.Null(await store.GetAsync(Domain));
    }

    [Fact]
    public async Task The_file_store_round_trips_and_refuses_names_that_are_not_domains()
    {
        var store = new FileMtaStsPolicyStore(_folder);
        var policy = MtaStsPolicyParser.Parse(FakeFetcher.Policy("enforce", "mx.example.com")).Policy!;
        var entry = new MtaStsCachedPolicy(Domain, "abc", policy, FakeFetcher.Policy("enforce", "mx.example.com"), _clock.GetUtcNow());

        await store.SaveAsync(entry);
        var back = await store.GetAsync("EXAMPLE.com");

        Assert.Equal(entry.Id, back!.Id);
        Assert.Equal(entry.FetchedAt, back.FetchedAt);
        Assert.Equal(entry.Policy.MxPatterns, back.Policy.MxPatterns);
        Assert.Null(await store.GetAsync("../etc/passwd"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.SaveAsync(entry with { Domain = "../../x" }));
        await store.RemoveAsync(Domain);
        Assert.Null(await store.GetAsync(Domain));
    }

    [Fact]
    public async Task The_memory_bound_evicts_but_the_store_still_answers()
    {
        var store = new InMemoryMtaStsPolicyStore();
        using var cache = Cache(store, new MtaStsCacheOptions { MaxMemoryEntries = 10 });
        for (var i = 0; i < 30; i++)
        {
            await cache.GetPolicyAsync($"d{i}.example");
        }

        Assert.Equal(30, store.Count);
        var again = await cache.GetPolicyAsync("d0.example");
        Assert.Equal(MtaStsLookupSource.Cache, again.Source);
        Assert.Equal(30, _fetcher.Fetches);
    }

    /// <summary>Answers discovery with <see cref="Id"/> and fetches with <see cref="Body"/>, counting calls.</summary>
    private sealed class FakeFetcher : IMtaStsPolicyFetcher
    {
        private int _discoveries;
        private int _fetches;

        public string? Id { get; set; } = "1";

        public string Body { get; set; } = Policy("enforce", "mx.example.com", "*.example.net");

        public bool Fail { get; set; }

        public MtaStsDiscovery? Discovery { get; set; }

        public TaskCompletionSource? Gate { get; set; }

        public int Discoveries => Volatile.Read(ref _discoveries);

        public int Fetches => Volatile.Read(ref _fetches);

        public static string Policy(string mode, params string[] mx) =>
            $"version: STSv1\nmode: {mode}\n{string.Concat(mx.Select(m => $"mx: {m}\n"))}max_age: 86400\n";

        public async Task WaitForDiscoveriesAsync(int count)
        {
            while (Discoveries < count)
            {
                await Task.Delay(5);
            }
        }

        public async Task<MtaStsDiscovery> DiscoverAsync(string domain, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _discoveries);
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            return Discovery ?? (Id is null
                ? new MtaStsDiscovery(MtaStsDiscoveryStatus.NoRecord, null, null)
                : new MtaStsDiscovery(MtaStsDiscoveryStatus.Found, Id, null));
        }

        public Task<MtaStsFetchResult> FetchPolicyAsync(string domain, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _fetches);
            if (Fail)
            {
                return Task.FromResult(new MtaStsFetchResult(null, null, MtaStsFetchFailure.Connect, "server down"));
            }

            var parsed = MtaStsPolicyParser.Parse(Body);
            return Task.FromResult(new MtaStsFetchResult(parsed.Policy, Body, MtaStsFetchFailure.None, parsed.Error));
        }
    }
}
