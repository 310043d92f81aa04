namespace Postern.Dns;

/// <summary>A size-bounded LRU cache of results with absolute expiry times from a <see cref="TimeProvider"/>.</summary>
internal sealed class DnsCache(int capacity, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Name, DnsRecordType Type), LinkedListNode<Entry>> _map = [];
    private readonly LinkedList<Entry> _lru = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _map.Count;
            }
        }
    }

    public bool TryGet(string name, DnsRecordType type, out DnsResult result)
    {
        result = null!;
        if (capacity <= 0)
        {
            return false;
        }

        var now = time.GetUtcNow();
        lock (_lock)
        {
            if (!_map.TryGetValue((name, type), out var node))
            {
                return false;
            }

            if (node.Value.Expires <= now)
            {
                _lru.Remove(node);
                _map.Remove((name, type));
                return false;
            }

            _lru.Remove(node);
            _lru.AddFirst(node);
            result = node.Value.Result with { TimeToLive = node.Value.Expires - now, FromCache = true };
            return true;
        }
    }

    public void Set(string name, DnsRecordType type, DnsResult result, TimeSpan ttl)
    {
        if (capacity <= 0 || ttl <= TimeSpan.Zero)
        {
            return;
        }

        var entry = new Entry((name, type), result, time.GetUtcNow() + ttl);
        lock (_lock)
        {
            if (_map.TryGetValue(entry.Key, out var old))
            {
                _lru.Remove(old);
            }

            var node = _lru.AddFirst(entry);
            _map[entry.Key] = node;
            while (_map.Count > capacity && _lru.Last is { } last)
            {
                _lru.RemoveLast();
                _map.Remove(last.Value.Key);
            }
        }
    }

    private sealed record Entry((string Name, DnsRecordType Type) Key, DnsResult Result, DateTimeOffset Expires);
}
