using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Postern.Security;

/// <summary>
/// Remembers, in this process only, keyed fingerprints of the last few failed (login name, password) pairs per
/// client, so that a mail client retrying the same stale password does not lock out its own network (Dovecot's
/// auth penalty does the same with CRC32). The fingerprint is an HMAC under a random per-process key, cut to
/// 64 bits: nothing stored can be used to test password guesses, and nothing leaves the process.
/// </summary>
internal sealed class RepeatedCredentials(TimeProvider time, int perClient = 10, int capacity = 100_000)
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, Recent> _clients = new(StringComparer.Ordinal);

    /// <summary>Records the pair; true when the client failed with the same pair within <paramref name="window"/>.</summary>
    public bool SeenBefore(string client, string? account, string password, TimeSpan window)
    {
        var fingerprint = Fingerprint(account, password);
        var now = time.GetUtcNow();
        if (_clients.Count >= capacity)
        {
            _clients.Clear();
        }

        var recent = _clients.GetOrAdd(client, _ => new Recent(perClient));
        lock (recent)
        {
            var seen = false;
            for (var i = 0; i < recent.Fingerprints.Length; i++)
            {
                if (recent.Fingerprints[i] == fingerprint && now - recent.At[i] <= window)
                {
                    seen = true;
                }
            }

            recent.Fingerprints[recent.Next] = fingerprint;
            recent.At[recent.Next] = now;
            recent.Next = (recent.Next + 1) % recent.Fingerprints.Length;
            return seen;
        }
    }

    private ulong Fingerprint(string? account, string password)
    {
        var data = Encoding.UTF8.GetBytes((account ?? string.Empty).Trim().ToLowerInvariant() + "\0" + password);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_key, data, mac);
        CryptographicOperations.ZeroMemory(data);
        return BitConverter.ToUInt64(mac[..8]);
    }

    private sealed class Recent(int size)
    {
        public ulong[] Fingerprints { get; } = new ulong[size];

        public DateTimeOffset[] At { get; } = new DateTimeOffset[size];

        public int Next { get; set; }
    }
}
