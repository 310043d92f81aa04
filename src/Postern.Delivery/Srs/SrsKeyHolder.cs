namespace Postern.Delivery.Srs;

/// <summary>
/// The SRS secrets in force, replaceable while the server runs (after <c>postern srs rotate</c> on any node). The
/// key ring is immutable and swapped whole, so each rewrite or reverse sees one ring, never half of two.
/// </summary>
public sealed class SrsKeyHolder
{
    private SrsKeyRing _current;

    public SrsKeyHolder(SrsKeyRing initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        _current = initial;
    }

    public SrsKeyRing Current => Volatile.Read(ref _current);

    /// <summary>Puts <paramref name="keys"/> in force; returns false (and changes nothing) when they are the secrets in force already.</summary>
    public bool Replace(SrsKeyRing keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        if (Current.Secrets.SequenceEqual(keys.Secrets, StringComparer.Ordinal))
        {
            return false;
        }

        Volatile.Write(ref _current, keys);
        return true;
    }
}
