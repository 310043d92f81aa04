using System.Collections.Concurrent;
using System.Net;

namespace Postern.Security;

/// <summary>
/// Sessions open at once per key, counted in this process (per node, like Postfix's anvil connection count):
/// for IMAP's connections per account, or per client IPv6 prefix. (Connections per client address on a listener
/// are already limited by Postern.Networking's MaxConnectionsPerAddress.) Open a lease when the session starts
/// and dispose it when it ends.
/// </summary>
public sealed class ConnectionTracker(int ipv6PrefixLength = 64)
{
    private readonly ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    /// <summary>Connections open now under <paramref name="key"/>.</summary>
    public int Count(string key) => _open.TryGetValue(key, out var n) ? n : 0;

    /// <summary>The key a client IP is counted under.</summary>
    public string KeyFor(IPAddress client) => ClientAddress.Key(client, ipv6PrefixLength);

    /// <summary>Opens a session for the client unless <paramref name="limit"/> (0: none) are open already.</summary>
    public bool TryOpen(IPAddress client, int limit, out IDisposable? lease) => TryOpen(KeyFor(client), limit, out lease);

    /// <summary>Opens a connection under <paramref name="key"/> unless <paramref name="limit"/> (0: none) are open already.</summary>
    public bool TryOpen(string key, int limit, out IDisposable? lease)
    {
        ArgumentNullException.ThrowIfNull(key);
        while (true)
        {
            var current = Count(key);
            if (limit > 0 && current >= limit)
            {
                lease = null;
                return false;
            }

            if (current == 0 ? _open.TryAdd(key, 1) : _open.TryUpdate(key, current + 1, current))
            {
                lease = new Lease(this, key);
                return true;
            }
        }
    }

    private void Close(string key)
    {
        while (_open.TryGetValue(key, out var current))
        {
            if (current <= 1
                ? _open.TryRemove(new KeyValuePair<string, int>(key, current))
                : _open.TryUpdate(key, current - 1, current))
            {
                return;
            }
        }
    }

    private sealed class Lease(ConnectionTracker owner, string key) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Close(key);
            }
        }
    }
}
