using System.Collections.Concurrent;

namespace Postern.Security;

/// <summary>
/// The in-process fast path: keys with an end time that this node already knows about (lockouts, exhausted
/// rate windows, familiar clients), so the common case needs no store round trip. Only facts that end by time
/// alone are cached (a lockout is never shortened, except by an operator on this node), so the cache never
/// allows what the shared store would refuse.
/// </summary>
internal sealed class ExpiringKeyCache(TimeProvider time, int capacity = 100_000)
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _until = new(StringComparer.Ordinal);

    public bool TryGet(string key, out TimeSpan remaining)
    {
        remaining = TimeSpan.Zero;
        if (!_until.TryGetValue(key, out var until))
        {
            return false;
        }

        var now = time.GetUtcNow();
        if (until <= now)
        {
            _until.TryRemove(new KeyValuePair<string, DateTimeOffset>(key, until));
            return false;
        }

        remaining = until - now;
        return true;
    }

    public void Set(string key, DateTimeOffset until)
    {
        if (_until.Count >= capacity)
        {
            Prune();
        }

        _until.AddOrUpdate(key, until, (_, old) => old > until ? old : until);
    }

    public void Remove(string key) => _until.TryRemove(key, out _);

    private void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var pair in _until)
        {
            if (pair.Value <= now)
            {
                _until.TryRemove(pair);
            }
        }

        if (_until.Count >= capacity)
        {
            _until.Clear();
        }
    }
}
