namespace Postern.Core.Storage.KeyValue;

/// <summary>A live value: its bytes, a version that grows with every write (for compare-and-set), and its expiry.</summary>
public sealed record KeyValueEntry(ReadOnlyMemory<byte> Value, long Version, DateTimeOffset? ExpiresAt);

/// <summary>
/// Small ephemeral values: verification caches, rate-limit and brute-force counters, secrets such as SRS
/// keys. Expired entries are invisible at once (the store's clock decides) and removed by
/// <see cref="PurgeExpiredAsync"/>. Counters are stored as their decimal text.
/// </summary>
public interface IKeyValueStore
{
    Task<KeyValueEntry?> GetAsync(string key, CancellationToken cancellationToken);

    /// <summary>Writes the value (replacing any) with an optional absolute expiry.</summary>
    Task SetAsync(string key, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken);

    /// <summary>
    /// Adds <paramref name="delta"/> atomically and returns the new count. A missing or expired key starts at 0
    /// and gets <paramref name="expiresAtIfNew"/>; an existing counter keeps its expiry (a fixed window).
    /// </summary>
    /// <exception cref="InvalidOperationException">The key holds a value that is not a counter.</exception>
    Task<long> IncrementAsync(string key, long delta, DateTimeOffset? expiresAtIfNew, CancellationToken cancellationToken);

    /// <summary>
    /// Writes the value only when the current version is <paramref name="expectedVersion"/> (0: only when the
    /// key is absent or expired). Returns false, writing nothing, otherwise.
    /// </summary>
    Task<bool> CompareAndSetAsync(string key, long expectedVersion, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>Removes expired entries; returns how many.</summary>
    Task<long> PurgeExpiredAsync(CancellationToken cancellationToken);
}
