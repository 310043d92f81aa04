using System.Buffers.Binary;

namespace Postern.Passwords;

/// <summary>bcrypt (Provos and Mazières' EksBlowfish) with OpenBSD's key-length rules per minor version.</summary>
internal static class Bcrypt
{
    public const int SaltBytes = 16;
    public const int HashBytes = 23;

    private static readonly byte[] MagicText = "OrpheanBeholderScryDoubt"u8.ToArray();

    /// <summary>
    /// Computes the 23 hash bytes. <paramref name="minor"/> is 'a', 'b' or 'y'. As in OpenBSD, the key is the
    /// password followed by a NUL byte; for 'b' and 'y' at most 72 password bytes count, for 'a' the key length
    /// is (length + 1) modulo 256, the historical OpenBSD wraparound.
    /// </summary>
    public static byte[] ComputeHash(char minor, ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int cost)
    {
        var key = new byte[password.Length + 1];
        password.CopyTo(key);
        int keyLength = minor == 'a'
            ? (byte)(password.Length + 1)
            : Math.Min(password.Length, 72) + 1;

        var state = new BlowfishState();
        state.ExpandState(salt, key, keyLength);
        long rounds = 1L << cost;
        for (long r = 0; r < rounds; r++)
        {
            state.Expand0State(key, keyLength);
            state.Expand0State(salt, salt.Length);
        }

        Span<uint> cdata = stackalloc uint[6];
        for (int i = 0; i < 6; i++)
        {
            cdata[i] = BinaryPrimitives.ReadUInt32BigEndian(MagicText.AsSpan(i * 4));
        }

        for (int i = 0; i < 64; i++)
        {
            for (int j = 0; j < 6; j += 2)
            {
                state.Encipher(ref cdata[j], ref cdata[j + 1]);
            }
        }

        Span<byte> output = stackalloc byte[24];
        for (int i = 0; i < 6; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(output[(i * 4)..], cdata[i]);
        }

        System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        state.Clear();
        return output[..HashBytes].ToArray();
    }

    private sealed class BlowfishState
    {
        private readonly uint[] _p = new uint[18];
        private readonly uint[] _s = new uint[1024];

        public BlowfishState()
        {
            BlowfishTables.PiWords.AsSpan(0, 18).CopyTo(_p);
            BlowfishTables.PiWords.AsSpan(18, 1024).CopyTo(_s);
        }

        public void Clear()
        {
            Array.Clear(_p);
            Array.Clear(_s);
        }

        public void Encipher(ref uint xl, ref uint xr)
        {
            uint l = xl ^ _p[0];
            uint r = xr;
            for (int i = 1; i <= 16; i += 2)
            {
                r ^= F(l) ^ _p[i];
                l ^= F(r) ^ _p[i + 1];
            }

            xl = r ^ _p[17];
            xr = l;
        }

        public void ExpandState(ReadOnlySpan<byte> data, ReadOnlySpan<byte> key, int keyLength)
        {
            int j = 0;
            for (int i = 0; i < 18; i++)
            {
                _p[i] ^= StreamToWord(key, keyLength, ref j);
            }

            j = 0;
            uint l = 0, r = 0;
            for (int i = 0; i < 18; i += 2)
            {
                l ^= StreamToWord(data, data.Length, ref j);
                r ^= StreamToWord(data, data.Length, ref j);
                Encipher(ref l, ref r);
                _p[i] = l;
                _p[i + 1] = r;
            }

            for (int i = 0; i < 1024; i += 2)
            {
                l ^= StreamToWord(data, data.Length, ref j);
                r ^= StreamToWord(data, data.Length, ref j);
                Encipher(ref l, ref r);
                _s[i] = l;
                _s[i + 1] = r;
            }
        }

        public void Expand0State(ReadOnlySpan<byte> key, int keyLength)
        {
            int j = 0;
            for (int i = 0; i < 18; i++)
            {
                _p[i] ^= StreamToWord(key, keyLength, ref j);
            }

            uint l = 0, r = 0;
            for (int i = 0; i < 18; i += 2)
            {
                Encipher(ref l, ref r);
                _p[i] = l;
                _p[i + 1] = r;
            }

            for (int i = 0; i < 1024; i += 2)
            {
                Encipher(ref l, ref r);
                _s[i] = l;
                _s[i + 1] = r;
            }
        }

        private uint F(uint x) =>
            ((_s[(int)(x >> 24)] + _s[256 + (int)((x >> 16) & 0xFF)]) ^ _s[512 + (int)((x >> 8) & 0xFF)])
            + _s[768 + (int)(x & 0xFF)];

        private static uint StreamToWord(ReadOnlySpan<byte> data, int length, ref int j)
        {
            uint word = 0;
            for (int i = 0; i < 4; i++)
            {
                if (j >= length)
                {
                    j = 0;
                }

                word = (word << 8) | data[j];
                j++;
            }

            return word;
        }
    }
}
