using System.Security.Cryptography;

namespace Postern.Networking;

/// <summary>
/// Short session ids for logs: a random per-process prefix (so ids from several nodes or restarts do not
/// collide in a shared log) followed by a counter, in lower-case base32, e.g. <c>q7mf0000a3</c>.
/// </summary>
public static class SessionIds
{
    private const string Alphabet = "0123456789abcdefghjkmnpqrstvwxyz";
    private static readonly string Prefix = CreatePrefix();
    private static long _counter;

    /// <summary>The next id; unique within this process.</summary>
    public static string Next()
    {
        var n = Interlocked.Increment(ref _counter);
        Span<char> digits = stackalloc char[13];
        var i = digits.Length;
        do
        {
            digits[--i] = Alphabet[(int)(n & 31)];
            n >>= 5;
        }
        while (n != 0 || digits.Length - i < 6);
        return string.Concat(Prefix, digits[i..]);
    }

    private static string CreatePrefix()
    {
        Span<char> prefix = stackalloc char[4];
        for (var i = 0; i < prefix.Length; i++)
        {
            prefix[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return new string(prefix);
    }
}
