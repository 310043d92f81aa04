using System.Collections.Concurrent;

namespace Postern.Delivery.TlsPolicy;

/// <summary>Where the policy in an <see cref="MtaStsLookupResult"/> came from. Persisted values: do not renumber.</summary>
public enum MtaStsLookupSource
{
    /// <summary>No policy applies: the domain publishes none and nothing valid is cached.</summary>
    None = 0,

    /// <summary>The cached policy, still valid, with the id the TXT record still has.</summary>
    Cache = 1,

    /// <summary>Fetched just now.</summary>
    Fetched = 2,

    /// <summary>
    /// The cached policy, still valid, kept because discovery or the fetch failed, or because the TXT record is
    /// gone (RFC 8461 §5.1: a cached policy applies until it expires).
    /// </summary>
    CacheAfterFailure = 3,
}

/// <summary>The MTA-STS policy that applies to a domain now, if any.</summary>
/// <param name="Entry">The policy with its id and fetch time; null when none applies.</param>
/// <param name="Source">Where it came from.</param>
/// <param name="Error">What went wrong along the way (a failed fetch, a bad TXT record), for logs.</param>
public sealed record MtaStsLookupResult(MtaStsCachedPolicy? Entry, MtaStsLookupSource Source, string? Error)
{
    /// <summary>The policy, including one in mode <c>none</c>; null when the domain has none.</summary>
    public MtaStsPolicy? Policy => Entry?.Policy;

    /// <summary>The policy when it is in mode <c>enforce</c> or <c>testing</c>: what <see cref="TlsPolicyInput.MtaSts"/> takes.</summary>
    public MtaStsPolicy? ApplicablePolicy => Policy is { Mode: not MtaStsMode.None } p ? p : null;
}

/// <summary>Settings of <see cref="MtaStsCache"/>.</summary>
public sealed record MtaStsCacheOptions
{
    /// <summary>After a failed fetch, the same domain and TXT id are not fetched again for this long.</summary>
    public TimeSpan FetchFailureBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A cached policy whose TXT id has not changed is fetched again once this fraction of its max_age has passed,
    /// so that a policy in use is renewed before it expires (a failed renewal keeps the cached one). 0.5 by default.
    /// </summary>
    public double RefreshAfterFraction { get; init; } = 0.5;

    /// <summary>The most policies kept in memory (the store keeps all).</summary>
    public int MaxMemoryEntries { get; init; } = 10_000;
}

/// <summary>
/// The MTA-STS policy cache (RFC 8461 §5.1). <see cref="GetPolicyAsync"/> looks up the TXT record every time (the
/// DNS resolver caches it); a policy is fetched when none is cached, when the cached one expired, when the TXT id
/// changed, or when half of its max_age has passed. When discovery or fetching fails, a still-valid cached policy
/// keeps applying; an expired one never does. Concurrent look-ups of one domain share one discovery and fetch.
/// Policies live in memory and in an <see cref="IMtaStsPolicyStore"/> (read on a miss, written on every fetch),
/// so that they survive restarts. Thread-safe; never throws for network or policy problems.
/// </summary>
public sealed class MtaStsCache : IDisposable
{
    private readonly IMtaStsPolicyFetcher _fetcher;
    private readonly IMtaStsPolicyStore _store;
    private readonly MtaStsCacheOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, MtaStsCachedPolicy> _memory = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FailedFetch> _failures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task<MtaStsLookupResult>> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _disposed = new();

    public MtaStsCache(IMtaStsPolicyFetcher fetcher, IMtaStsPolicyStore? store = null, MtaStsCacheOptions? options = null,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(fetcher);
        _fetcher = fetcher;
        _store = store ?? new InMemoryMtaStsPolicyStore();
        _options = options ?? new MtaStsCacheOptions();
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The policy that applies to <paramref name="domain"/> now (see the class summary for when it is fetched).</summary>
    public async Task<MtaStsLookupResult> GetPolicyAsync(string domain, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
        var name = TlsHostName.Normalize(domain);
        if (!TlsHostName.IsLdhName(name))
        {
            return new MtaStsLookupResult(null, MtaStsLookupSource.None, $"'{MtaStsPolicyParser.Shorten(domain ?? string.Empty)}' is not a domain name");
        }

        TaskCompletionSource<MtaStsLookupResult>? owner = null;
        Task<MtaStsLookupResult>? task;
        lock (_inFlight)
        {
            if (!_inFlight.TryGetValue(name, out task))
            {
                owner = new TaskCompletionSource<MtaStsLookupResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                task = owner.Task;
                _inFlight[name] = task;
            }
        }

        if (owner is not null)
        {
            _ = RunAsync(name, owner);
        }

        return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _disposed.Cancel();
        _disposed.Dispose();
    }

    private async Task RunAsync(string domain, TaskCompletionSource<MtaStsLookupResult> completion)
    {
        MtaStsLookupResult result;
        try
        {
            result = await LookupAsync(domain, _disposed.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            lock (_inFlight)
            {
                _inFlight.Remove(domain);
            }

            completion.TrySetCanceled();
            return;
        }
        catch (Exception e)
        {
            // A fetcher or store that throws must not take delivery down: fall back to what is cached.
            var valid = ValidCached(domain);
            result = new MtaStsLookupResult(valid, valid is null ? MtaStsLookupSource.None : MtaStsLookupSource.CacheAfterFailure,
                $"MTA-STS look-up failed: {e.Message}");
        }

        lock (_inFlight)
        {
            _inFlight.Remove(domain);
        }

        completion.TrySetResult(result);
    }

    private async Task<MtaStsLookupResult> LookupAsync(string domain, CancellationToken cancellationToken)
    {
        var cached = await LoadAsync(domain, cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var valid = cached is not null && cached.IsValidAt(now) ? cached : null;

        var discovery = await _fetcher.DiscoverAsync(domain, cancellationToken).ConfigureAwait(false);
        if (discovery.Status != MtaStsDiscoveryStatus.Found || discovery.Id is null)
        {
            var why = discovery.Error ?? "no _mta-sts TXT record";
            return valid is not null
                ? new MtaStsLookupResult(valid, MtaStsLookupSource.CacheAfterFailure, why + "; the cached policy applies until it expires")
                : new MtaStsLookupResult(null, MtaStsLookupSource.None, discovery.Error);
        }

        if (valid is not null && valid.Id == discovery.Id
            && now < valid.FetchedAt + (valid.Policy.MaxAge * Math.Clamp(_options.RefreshAfterFraction, 0, 1)))
        {
            return new MtaStsLookupResult(valid, MtaStsLookupSource.Cache, null);
        }

        if (_failures.TryGetValue(domain, out var failed) && failed.Id == discovery.Id && now < failed.RetryAt)
        {
            return FallBack(valid, failed.Error);
        }

        var fetched = await _fetcher.FetchPolicyAsync(domain, cancellationToken).ConfigureAwait(false);
        now = _time.GetUtcNow();
        if (fetched.Policy is null || fetched.PolicyText is null)
        {
            var error = fetched.Error ?? "policy fetch failed";
            _failures[domain] = new FailedFetch(discovery.Id, now + _options.FetchFailureBackoff, error);
            return FallBack(valid, error);
        }

        _failures.TryRemove(domain, out _);
        var entry = new MtaStsCachedPolicy(domain, discovery.Id, fetched.Policy, fetched.PolicyText, now);
        Remember(entry);
        string? storeError = null;
        try
        {
            await _store.SaveAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            storeError = $"policy not persisted: {e.Message}";
        }

        return new MtaStsLookupResult(entry, MtaStsLookupSource.Fetched, storeError);
    }

    private static MtaStsLookupResult FallBack(MtaStsCachedPolicy? valid, string error) =>
        valid is null
            ? new MtaStsLookupResult(null, MtaStsLookupSource.None, error)
            : new MtaStsLookupResult(valid, MtaStsLookupSource.CacheAfterFailure, error + "; the cached policy applies until it expires");

    private MtaStsCachedPolicy? ValidCached(string domain) =>
        _memory.TryGetValue(domain, out var p) && p.IsValidAt(_time.GetUtcNow()) ? p : null;

    private async Task<MtaStsCachedPolicy?> LoadAsync(string domain, CancellationToken cancellationToken)
    {
        if (_memory.TryGetValue(domain, out var inMemory))
        {
            return inMemory;
        }

        MtaStsCachedPolicy? stored;
        try
        {
            stored = await _store.GetAsync(domain, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stored = null;
        }

        if (stored is not null && stored.Domain == domain)
        {
            Remember(stored);
            return stored;
        }

        return null;
    }

    private void Remember(MtaStsCachedPolicy entry)
    {
        _memory[entry.Domain] = entry;
        if (_memory.Count <= Math.Max(1, _options.MaxMemoryEntries))
        {
            return;
        }

        // Over the limit: drop the expired entries, then those expiring soonest (the store still has them).
        var now = _time.GetUtcNow();
        foreach (var (key, value) in _memory)
        {
            if (!value.IsValidAt(now))
            {
                _memory.TryRemove(key, out _);
            }
        }

        var excess = _memory.Count - Math.Max(1, _options.MaxMemoryEntries * 9 / 10);
        if (excess > 0)
        {
            foreach (var key in _memory.Where(kv => kv.Key != entry.Domain).OrderBy(kv => kv.Value.ExpiresAt)
                         .Take(excess).Select(kv => kv.Key).ToList())
            {
                _memory.TryRemove(key, out _);
            }
        }
    }

    private sealed record FailedFetch(string Id, DateTimeOffset RetryAt, string Error);
}
