using System.Security.Cryptography;
using System.Text;
using Postern.Core.Storage.KeyValue;

namespace Postern.Delivery.Srs;

/// <summary>
/// Keeps the SRS secrets in the <see cref="IKeyValueStore"/> (shared by every node in scale-out). The first
/// call creates a random secret (32 random bytes, written as base64 text so that the same secret can be put
/// in a postsrsd secret file); concurrent first calls on several nodes agree through compare-and-set.
/// </summary>
public sealed class SrsKeyProvider(IKeyValueStore store)
{
    /// <summary>The store key: UTF-8 text, one secret per line, the signing secret first.</summary>
    public const string StoreKey = "srs:secrets";

    private readonly IKeyValueStore _store = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>Returns the stored secrets, creating a random one first if there are none.</summary>
    public async Task<SrsKeyRing> GetOrCreateAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = await _store.GetAsync(StoreKey, cancellationToken).ConfigureAwait(false);
            if (current is not null && Decode(current.Value) is { Count: > 0 } existing)
            {
                return new SrsKeyRing(existing);
            }

            var created = new[] { NewSecret() };
            if (await _store.CompareAndSetAsync(StoreKey, current?.Version ?? 0, Encode(created), null, cancellationToken).ConfigureAwait(false))
            {
                return new SrsKeyRing(created);
            }
        }
    }

    /// <summary>The stored secrets, or null when none were made yet (nothing is created).</summary>
    public async Task<SrsKeyRing?> GetAsync(CancellationToken cancellationToken)
    {
        var current = await _store.GetAsync(StoreKey, cancellationToken).ConfigureAwait(false);
        return current is not null && Decode(current.Value) is { Count: > 0 } secrets ? new SrsKeyRing(secrets) : null;
    }

    /// <summary>
    /// Reads the stored secrets and puts them in force in <paramref name="holder"/> when they changed (a rotation on
    /// this or another node). Returns true when they changed. Stored secrets that are gone leave the holder as it is.
    /// Call it from one place at a time (one refresh loop), so that an older read never replaces a newer one.
    /// </summary>
    public async Task<bool> RefreshAsync(SrsKeyHolder holder, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(holder);
        var stored = await GetAsync(cancellationToken).ConfigureAwait(false);
        return stored is not null && holder.Replace(stored);
    }

    /// <summary>
    /// Makes a new random signing secret and keeps up to <paramref name="keepPrevious"/> earlier ones for
    /// verification. Rotate no more often than every <see cref="SrsOptions.MaxAgeDays"/> with keepPrevious = 1,
    /// or bounces to addresses signed with a dropped secret fail with a bad hash.
    /// </summary>
    public Task<SrsKeyRing> RotateAsync(int keepPrevious, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keepPrevious);
        return UpdateAsync(old => [NewSecret(), .. old.Take(keepPrevious)], cancellationToken);
    }

    /// <summary>
    /// Adds a secret (for example the contents of an existing /etc/postsrsd.secret). As signing secret it
    /// replaces the current signer, which is kept for verification; otherwise it is only accepted in reverse.
    /// </summary>
    public Task<SrsKeyRing> AddSecretAsync(string secret, bool useForSigning, CancellationToken cancellationToken)
    {
        _ = new SrsKeyRing([secret]); // validates
        return UpdateAsync(
            old =>
            {
                var rest = old.Where(s => !string.Equals(s, secret, StringComparison.Ordinal));
                return useForSigning ? [secret, .. rest] : [.. rest, secret];
            },
            cancellationToken);
    }

    private async Task<SrsKeyRing> UpdateAsync(Func<IReadOnlyList<string>, List<string>> change, CancellationToken cancellationToken)
    {
        while (true)
        {
            var current = await _store.GetAsync(StoreKey, cancellationToken).ConfigureAwait(false);
            var old = current is null ? [] : Decode(current.Value);
            var updated = change(old);
            if (await _store.CompareAndSetAsync(StoreKey, current?.Version ?? 0, Encode(updated), null, cancellationToken).ConfigureAwait(false))
            {
                return new SrsKeyRing(updated);
            }
        }
    }

    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static byte[] Encode(IEnumerable<string> secrets) => Encoding.UTF8.GetBytes(string.Join('\n', secrets));

    private static List<string> Decode(ReadOnlyMemory<byte> value) =>
        Encoding.UTF8.GetString(value.Span).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
}
