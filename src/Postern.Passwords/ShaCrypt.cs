using System.Security.Cryptography;
using System.Text;

namespace Postern.Passwords;

/// <summary>SHA-256-crypt and SHA-512-crypt as specified by Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512").</summary>
internal static class ShaCrypt
{
    public const int DefaultRounds = 5000;
    public const int MinRounds = 1000;
    public const int MaxRounds = 999_999_999;
    public const int MaxSaltLength = 16;

    /// <summary>Clamps a requested round count as the specification says.</summary>
    public static int ClampRounds(long rounds) => (int)Math.Clamp(rounds, MinRounds, MaxRounds);

    /// <summary>Computes the encoded hash part (43 or 86 characters) for a password, salt and round count.</summary>
    public static string ComputeHash(bool sha512, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int rounds)
    {
        var name = sha512 ? HashAlgorithmName.SHA512 : HashAlgorithmName.SHA256;
        int size = sha512 ? 64 : 32;
        int pLen = password.Length;
        int sLen = salt.Length;

        // Digest B = H(P S P).
        byte[] b;
        using (var ctx = IncrementalHash.CreateHash(name))
        {
            ctx.AppendData(password);
            ctx.AppendData(salt);
            ctx.AppendData(password);
            b = ctx.GetHashAndReset();
        }

        // Digest A = H(P S B-repeated-to-|P| (bits of |P| select B or P)).
        byte[] a;
        using (var ctx = IncrementalHash.CreateHash(name))
        {
            ctx.AppendData(password);
            ctx.AppendData(salt);
            int n = pLen;
            for (; n > size; n -= size)
            {
                ctx.AppendData(b);
            }

            ctx.AppendData(b, 0, n);
            for (int bit = pLen; bit > 0; bit >>= 1)
            {
                if ((bit & 1) != 0)
                {
                    ctx.AppendData(b);
                }
                else
                {
                    ctx.AppendData(password);
                }
            }

            a = ctx.GetHashAndReset();
        }

        // P' from DP = H(P repeated |P| times); S' from DS = H(S repeated 16 + A[0] times).
        var pSeq = new byte[pLen];
        using (var ctx = IncrementalHash.CreateHash(name))
        {
            for (int i = 0; i < pLen; i++)
            {
                ctx.AppendData(password);
            }

            var dp = ctx.GetHashAndReset();
            for (int i = 0; i < pLen; i++)
            {
                pSeq[i] = dp[i % size];
            }
        }

        var sSeq = new byte[sLen];
        using (var ctx = IncrementalHash.CreateHash(name))
        {
            for (int i = 0; i < 16 + a[0]; i++)
            {
                ctx.AppendData(salt);
            }

            var ds = ctx.GetHashAndReset();
            for (int i = 0; i < sLen; i++)
            {
                sSeq[i] = ds[i % size];
            }
        }

        // The rounds: one-shot hashes over a reused buffer.
        var buffer = new byte[(2 * size) + (3 * pLen) + sLen];
        var c = a;
        var next = new byte[size];
        for (int r = 0; r < rounds; r++)
        {
            int len = 0;
            bool odd = (r & 1) != 0;
            if (odd)
            {
                pSeq.CopyTo(buffer, len);
                len += pLen;
            }
            else
            {
                c.CopyTo(buffer, len);
                len += size;
            }

            if (r % 3 != 0)
            {
                sSeq.CopyTo(buffer, len);
                len += sLen;
            }

            if (r % 7 != 0)
            {
                pSeq.CopyTo(buffer, len);
                len += pLen;
            }

            if (odd)
            {
                c.CopyTo(buffer, len);
                len += size;
            }
            else
            {
                pSeq.CopyTo(buffer, len);
                len += pLen;
            }

            if (sha512)
            {
                SHA512.HashData(buffer.AsSpan(0, len), next);
            }
            else
            {
                SHA256.HashData(buffer.AsSpan(0, len), next);
            }

            (c, next) = (next, c);
        }

        CryptographicOperations.ZeroMemory(buffer);
        CryptographicOperations.ZeroMemory(pSeq);
        return sha512 ? Encode512(c) : Encode256(c);
    }

    private static string Encode256(byte[] f)
    {
        var sb = new StringBuilder(43);
        for (int k = 0; k < 10; k++)
        {
            int x = k, y = k + 10, z = k + 20;
            switch (k % 3)
            {
                case 0:
                    CryptEncoding.AppendCrypt24(sb, f[x], f[y], f[z], 4);
                    break;
                case 1:
                    CryptEncoding.AppendCrypt24(sb, f[z], f[x], f[y], 4);
                    break;
                default:
                    CryptEncoding.AppendCrypt24(sb, f[y], f[z], f[x], 4);
                    break;
            }
        }

        CryptEncoding.AppendCrypt24(sb, 0, f[31], f[30], 3);
        return sb.ToString();
    }

    private static string Encode512(byte[] f)
    {
        var sb = new StringBuilder(86);
        for (int k = 0; k < 21; k++)
        {
            int x = k, y = k + 21, z = k + 42;
            switch (k % 3)
            {
                case 0:
                    CryptEncoding.AppendCrypt24(sb, f[x], f[y], f[z], 4);
                    break;
                case 1:
                    CryptEncoding.AppendCrypt24(sb, f[y], f[z], f[x], 4);
                    break;
                default:
                    CryptEncoding.AppendCrypt24(sb, f[z], f[x], f[y], 4);
                    break;
            }
        }

        CryptEncoding.AppendCrypt24(sb, 0, 0, f[63], 2);
        return sb.ToString();
    }
}
