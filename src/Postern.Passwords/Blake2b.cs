using System.Buffers.Binary;

namespace Postern.Passwords;

/// <summary>BLAKE2b (RFC 7693), unkeyed, with an output of 1 to 64 bytes.</summary>
internal static class Blake2b
{
    private static readonly ulong[] Iv =
    [
        0x6A09E667F3BCC908UL, 0xBB67AE8584CAA73BUL, 0x3C6EF372FE94F82BUL, 0xA54FF53A5F1D36F1UL,
        0x510E527FADE682D1UL, 0x9B05688C2B3E6C1FUL, 0x1F83D9ABFB41BD6BUL, 0x5BE0CD19137E2179UL,
    ];

    private static readonly byte[] Sigma =
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3,
        11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4,
        7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8,
        9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13,
        2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9,
        12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11,
        13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10,
        6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5,
        10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0,
    ];

    /// <summary>Hashes <paramref name="input"/> into all of <paramref name="output"/> (1..64 bytes).</summary>
    public static void Hash(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (output.Length is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(nameof(output), "BLAKE2b output must be 1 to 64 bytes.");
        }

        Span<ulong> h = stackalloc ulong[8];
        Iv.CopyTo(h);
        h[0] ^= 0x01010000UL ^ (ulong)output.Length;

        Span<ulong> m = stackalloc ulong[16];
        Span<byte> last = stackalloc byte[128];
        ulong counter = 0;
        int offset = 0;
        while (input.Length - offset > 128)
        {
            counter += 128;
            LoadBlock(input.Slice(offset, 128), m);
            Compress(h, m, counter, false);
            offset += 128;
        }

        int rest = input.Length - offset;
        last.Clear();
        input[offset..].CopyTo(last);
        counter += (ulong)rest;
        LoadBlock(last, m);
        Compress(h, m, counter, true);

        Span<byte> full = stackalloc byte[64];
        for (int i = 0; i < 8; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(full[(i * 8)..], h[i]);
        }

        full[..output.Length].CopyTo(output);
    }

    private static void LoadBlock(ReadOnlySpan<byte> block, Span<ulong> m)
    {
        for (int i = 0; i < 16; i++)
        {
            m[i] = BinaryPrimitives.ReadUInt64LittleEndian(block[(i * 8)..]);
        }
    }

    private static void Compress(Span<ulong> h, ReadOnlySpan<ulong> m, ulong counter, bool final)
    {
        Span<ulong> v = stackalloc ulong[16];
        h.CopyTo(v);
        Iv.CopyTo(v[8..]);
        v[12] ^= counter;
        if (final)
        {
            v[14] = ~v[14];
        }

        for (int round = 0; round < 12; round++)
        {
            int s = (round % 10) * 16;
            Mix(v, 0, 4, 8, 12, m[Sigma[s]], m[Sigma[s + 1]]);
            Mix(v, 1, 5, 9, 13, m[Sigma[s + 2]], m[Sigma[s + 3]]);
            Mix(v, 2, 6, 10, 14, m[Sigma[s + 4]], m[Sigma[s + 5]]);
            Mix(v, 3, 7, 11, 15, m[Sigma[s + 6]], m[Sigma[s + 7]]);
            Mix(v, 0, 5, 10, 15, m[Sigma[s + 8]], m[Sigma[s + 9]]);
            Mix(v, 1, 6, 11, 12, m[Sigma[s + 10]], m[Sigma[s + 11]]);
            Mix(v, 2, 7, 8, 13, m[Sigma[s + 12]], m[Sigma[s + 13]]);
            Mix(v, 3, 4, 9, 14, m[Sigma[s + 14]], m[Sigma[s + 15]]);
        }

        for (int i = 0; i < 8; i++)
        {
            h[i] ^= v[i] ^ v[i + 8];
        }
    }

    private static void Mix(Span<ulong> v, int a, int b, int c, int d, ulong x, ulong y)
    {
        v[a] = v[a] + v[b] + x;
        v[d] = ulong.RotateRight(v[d] ^ v[a], 32);
        v[c] = v[c] + v[d];
        v[b] = ulong.RotateRight(v[b] ^ v[c], 24);
        v[a] = v[a] + v[b] + y;
        v[d] = ulong.RotateRight(v[d] ^ v[a], 16);
        v[c] = v[c] + v[d];
        v[b] = ulong.RotateRight(v[b] ^ v[c], 63);
    }
}
