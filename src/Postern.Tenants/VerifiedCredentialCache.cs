using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Postern.Tenants;

/// <summary>
/// Remembers end-user credentials that verified, so that a client opening ten IMAP connections (or
/// reconnecting every few minutes) costs one Argon2 computation, not ten. An entry is an HMAC of address
/// and password under a key that lives only in this process (nothing reversible is kept), bound to the
/// stored hash it matched: a password change, reset or rehash makes it useless at once. Entries expire
/// after <see cref="Lifetime"/>; failures are never cached, so guessing still costs a full hash.
/// </summary>
public sealed class VerifiedCredentialCache(TimeProvider? time = null, TimeSpan? lifetime = null, int capacity = 100_000)
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, (string StoredHash, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public TimeSpan Lifetime { get; } = lifetime ?? TimeSpan.FromMinutes(10);

    public int Count => _entries.Count;

    public bool IsVerified(string address, string password, string storedHash)
    {
        var key = Key(address, password);
        if (!_entries.TryGetValue(key, out var entry))
        {
            return false;
        }

        if (entry.Expires <= _time.GetUtcNow() || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(entry.StoredHash), Encoding.UTF8.GetBytes(storedHash)))
        {
            _entries.TryRemove(key, out _);
            return false;
        }

        return true;
    }

    public void Remember(string address, string password, string storedHash)
    {
        if (_entries.Count >= capacity)
        {
            // Bounded: rather than track ages, start afresh (the cost is one hash per active user).
            _entries.Clear();
        }

        _entries[Key(address, password)] = (storedHash, _time.GetUtcNow() + Lifetime);
    }

    /// <summary>Forgets everything (an admin changed credentials in bulk).</summary>
    public void Clear() => _entries.Clear();

    private string Key(string address, string password)
    {
        var input = Encoding.UTF8.GetBytes(address.Trim().ToLowerInvariant() + "\0" + password);
        return Convert.ToBase64String(HMACSHA256.HashData(_key, input));
    }
}
