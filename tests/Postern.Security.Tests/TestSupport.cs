using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Postern.Core.Storage.KeyValue;
using Postern.Storage.Sqlite.KeyValue;

namespace Postern.Security.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public ManualClock()
        : this(new DateTimeOffset(2026, 3, 1, 12, 0, 30, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>An in-memory <see cref="IKeyValueStore"/> with the contract's semantics; counts calls and can be made to fail.</summary>
public sealed class InMemoryKeyValueStore(TimeProvider time) : IKeyValueStore
{
    private readonly ConcurrentDictionary<string, KeyValueEntry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _version;

    public int Calls { get; private set; }

    public bool Fail { get; set; }

    public Task<KeyValueEntry?> GetAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Touch();
            return Task.FromResult(Live(key));
        }
    }

    public Task SetAsync(string key, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Touch();
            Put(key, value.ToArray(), expiresAt);
            return Task.CompletedTask;
        }
    }

    public Task<long> IncrementAsync(string key, long delta, DateTimeOffset? expiresAtIfNew, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Touch();
            var current = Live(key);
            var count = current is null ? 0 : long.Parse(Encoding.ASCII.GetString(current.Value.Span), CultureInfo.InvariantCulture);
            count += delta;
            Put(key, Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture)), current is null ? expiresAtIfNew : current.ExpiresAt);
            return Task.FromResult(count);
        }
    }

    public Task<bool> CompareAndSetAsync(string key, long expectedVersion, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Touch();
            if ((Live(key)?.Version ?? 0) != expectedVersion)
            {
                return Task.FromResult(false);
            }

            Put(key, value.ToArray(), expiresAt);
            return Task.FromResult(true);
        }
    }

    public Task<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            Touch();
            var live = Live(key) is not null;
            _entries.TryRemove(key, out _);
            return Task.FromResult(live);
        }
    }

    public Task<long> PurgeExpiredAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            long n = 0;
            foreach (var pair in _entries)
            {
                if (pair.Value.ExpiresAt <= time.GetUtcNow() && _entries.TryRemove(pair.Key, out _))
                {
                    n++;
                }
            }

            return Task.FromResult(n);
        }
    }

    private void Touch()
    {
        Calls++;
        if (Fail)
        {
            throw new IOException("store down");
        }
    }

    private KeyValueEntry? Live(string key) =>
        _entries.TryGetValue(key, out var e) && (e.ExpiresAt is null || e.ExpiresAt > time.GetUtcNow()) ? e : null;

    private void Put(string key, byte[] value, DateTimeOffset? expiresAt) =>
        _entries[key] = new KeyValueEntry(value, ++_version, expiresAt);
}

/// <summary>Which store a test runs on: the in-memory fake or the real SQLite store in a temporary folder.</summary>
public enum StoreKind
{
    InMemory,
    Sqlite,
}

public sealed class StoreFixture : IDisposable
{
    private readonly string? _folder;
    private readonly SqliteKeyValueStore? _sqlite;

    public StoreFixture(StoreKind kind, ManualClock clock)
    {
        if (kind == StoreKind.InMemory)
        {
            Store = new InMemoryKeyValueStore(clock);
        }
        else
        {
            _folder = Path.Combine(Path.GetTempPath(), "postern-security-" + Guid.NewGuid().ToString("N"));
            _sqlite = SqliteKeyValueStore.Open(_folder, clock);
            Store = _sqlite;
        }
    }

    public IKeyValueStore Store { get; }

    public void Dispose()
    {
        _sqlite?.Dispose();
        if (_folder is not null)
        {
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
