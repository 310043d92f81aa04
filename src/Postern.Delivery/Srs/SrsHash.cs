using System.Security.Cryptography;
using System.Text;

namespace Postern.Delivery.Srs;

/// <summary>
/// The SRS cryptographic parts: HMAC-SHA1 over the ASCII-lowercased UTF-8 bytes of the fields, written in
/// base64 and cut to the hash length; and the two-character base32 day stamp. This is the construction of
/// Mail::SRS and libsrs2 (postsrsd), so that addresses interoperate.
/// </summary>
internal static class SrsHash
{
    /// <summary>base64 of a 20-byte HMAC-SHA1 without padding.</summary>
    public const int MaxLength = 27;

    private const string Base32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private const int DaySeconds = 86_400;
    private const int Slots = 1024;

    public static string Compute(byte[] key, int length, params ReadOnlySpan<string> fields)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA1, key);
        foreach (var field in fields)
        {
            hmac.AppendData(LowerAsciiUtf8(field));
        }

        var text = Convert.ToBase64String(hmac.GetHashAndReset());
        return text[..length];
    }

    /// <summary>
    /// True when <paramref name="hash"/> is a prefix (at least <paramref name="minLength"/> long) of the HMAC under
    /// any key, compared without regard to ASCII case (MTAs may lowercase local parts).
    /// </summary>
    public static bool Verify(IReadOnlyList<byte[]> keys, int minLength, string hash, params ReadOnlySpan<string> fields)
    {
        if (hash.Length < minLength || hash.Length > MaxLength)
        {
            return false;
        }

        var given = LowerAsciiUtf8(hash);
        var ok = false;
        foreach (var key in keys)
        {
            var expected = LowerAsciiUtf8(Compute(key, hash.Length, fields));
            ok |= CryptographicOperations.FixedTimeEquals(given, expected);
        }

        return ok;
    }

    /// <summary>The day stamp of <paramref name="now"/>: the low 10 bits of the day number in two base32 characters.</summary>
    public static string Timestamp(DateTimeOffset now)
    {
        var day = DayNumber(now);
        return string.Concat(Base32[(int)((day >> 5) & 31)], Base32[(int)(day & 31)]);
    }

    public static bool TryDecodeTimestamp(string text, out int slot)
    {
        slot = 0;
        if (text.Length != 2)
        {
            return false;
        }

        foreach (var c in text)
        {
            var i = Base32.IndexOf(char.ToUpperInvariant(c), StringComparison.Ordinal);
            if (i < 0 || c > 127)
            {
                return false;
            }

            slot = (slot * 32) + i;
        }

        return true;
    }

    /// <summary>
    /// Valid when the stamp is today or at most <paramref name="maxAgeDays"/> days ago. A stamp "from the future"
    /// is read as one cycle (1024 days) old, as Mail::SRS and libsrs2 do.
    /// </summary>
    public static bool IsFresh(int slot, DateTimeOffset now, int maxAgeDays)
    {
        var today = (int)(DayNumber(now) % Slots);
        if (today < slot)
        {
            today += Slots;
        }

        return today - slot <= maxAgeDays;
    }

    private static long DayNumber(DateTimeOffset now) => Math.Max(0, now.ToUnixTimeSeconds()) / DaySeconds;

    private static byte[] LowerAsciiUtf8(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] is >= (byte)'A' and <= (byte)'Z')
            {
                bytes[i] += 32;
            }
        }

        return bytes;
    }
}
