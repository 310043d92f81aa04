using System.Security.Cryptography;
using System.Text;

namespace Postern.Passwords;

/// <summary>Poul-Henning Kamp's FreeBSD md5crypt (<c>$1$</c>).</summary>
internal static class Md5Crypt
{
    public const int MaxSaltLength = 8;

    private static readonly byte[] Magic = "$1$"u8.ToArray();

    /// <summary>Computes the 22-character encoded hash for a password and a salt of at most 8 bytes.</summary>
    public static string ComputeHash(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt)
    {
#pragma warning disable CA5351 // md5crypt is MD5 by definition; verified for import only.
        byte[] final;
        using (var alt = IncrementalHash.CreateHash(HashAlgorithmName.MD5))
        {
            alt.AppendData(password);
            alt.AppendData(salt);
            alt.AppendData(password);
            final = alt.GetHashAndReset();
        }

        using (var ctx = IncrementalHash.CreateHash(HashAlgorithmName.MD5))
        {
            ctx.AppendData(password);
            ctx.AppendData(Magic);
            ctx.AppendData(salt);
            for (int pl = password.Length; pl > 0; pl -= 16)
            {
                ctx.AppendData(final, 0, Math.Min(pl, 16));
            }

            Span<byte> zero = [0];
            for (int i = password.Length; i != 0; i >>= 1)
            {
                ctx.AppendData((i & 1) != 0 ? zero : password[..1]);
            }

            final = ctx.GetHashAndReset();
        }

        var buffer = new byte[(2 * password.Length) + salt.Length + 16];
        for (int i = 0; i < 1000; i++)
        {
            int len = 0;
            bool odd = (i & 1) != 0;
            if (odd)
            {
                password.CopyTo(buffer.AsSpan(len));
                len += password.Length;
            }
            else
            {
                final.CopyTo(buffer, len);
                len += 16;
            }

            if (i % 3 != 0)
            {
                salt.CopyTo(buffer.AsSpan(len));
                len += salt.Length;
            }

            if (i % 7 != 0)
            {
                password.CopyTo(buffer.AsSpan(len));
                len += password.Length;
            }

            if (odd)
            {
                final.CopyTo(buffer, len);
                len += 16;
            }
            else
            {
                password.CopyTo(buffer.AsSpan(len));
                len += password.Length;
            }

            final = MD5.HashData(buffer.AsSpan(0, len));
        }
#pragma warning restore CA5351

        CryptographicOperations.ZeroMemory(buffer);
        var sb = new StringBuilder(22);
        CryptEncoding.AppendCrypt24(sb, final[0], final[6], final[12], 4);
        CryptEncoding.AppendCrypt24(sb, final[1], final[7], final[13], 4);
        CryptEncoding.AppendCrypt24(sb, final[2], final[8], final[14], 4);
        CryptEncoding.AppendCrypt24(sb, final[3], final[9], final[15], 4);
        CryptEncoding.AppendCrypt24(sb, final[4], final[10], final[5], 4);
        CryptEncoding.AppendCrypt24(sb, 0, 0, final[11], 2);
        return sb.ToString();
    }
}
