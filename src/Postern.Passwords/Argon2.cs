using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Postern.Passwords;

/// <summary>The three Argon2 variants; the values are the type numbers of RFC 9106.</summary>
internal enum Argon2Type
{
    Argon2d = 0,
    Argon2i = 1,
    Argon2id = 2,
}

/// <summary>Argon2 (RFC 9106), versions 0x10 and 0x13.</summary>
internal static class Argon2
{
    public const int Version10 = 0x10;
    public const int Version13 = 0x13;
    private const int BlockWords = 128;
    private const int SyncPoints = 4;

    /// <summary>Computes an Argon2 tag. The caller has checked the parameters against its limits.</summary>
    public static byte[] Hash(
        Argon2Type type,
        int version,
        ReadOnlySpan<byte> password,
        ReadOnlySpan<byte> salt,
        ReadOnlySpan<byte> secret,
        ReadOnlySpan<byte> associatedData,
        int memoryKiB,
        int iterations,
        int parallelism,
        int tagLength,
        bool? vectorized = null)
    {
        if (parallelism < 1 || iterations < 1 || tagLength < 4 || memoryKiB < 8 * parallelism)
        {
            throw new ArgumentOutOfRangeException(nameof(memoryKiB), "Argon2 parameters are out of range.");
        }

        // H0 = H^64(p, T, m, t, v, y, |P|, P, |S|, S, |K|, K, |X|, X)
        var h0Input = new byte[40 + password.Length + salt.Length + secret.Length + associatedData.Length];
        int pos = 0;
        void PutInt(int value)
        {
            BinaryPrimitives.WriteInt32LittleEndian(h0Input.AsSpan(pos), value);
            pos += 4;
        }

        void PutBytes(ReadOnlySpan<byte> value)
        {
            PutInt(value.Length);
            value.CopyTo(h0Input.AsSpan(pos));
            pos += value.Length;
        }

        PutInt(parallelism);
        PutInt(tagLength);
        PutInt(memoryKiB);
        PutInt(iterations);
        PutInt(version);
        PutInt((int)type);
        PutBytes(password);
        PutBytes(salt);
        PutBytes(secret);
        PutBytes(associatedData);

        Span<byte> h0 = stackalloc byte[72];
        Blake2b.Hash(h0Input, h0[..64]);
        Array.Clear(h0Input);

        int segmentLength = memoryKiB / (SyncPoints * parallelism);
        int laneLength = segmentLength * SyncPoints;
        var memory = new ulong[(long)laneLength * parallelism * BlockWords];
        bool simd = (vectorized ?? true) && Avx2.IsSupported;
        var instance = new Instance(memory, type, version, laneLength, segmentLength, parallelism, iterations, simd);

        Span<byte> blockBytes = stackalloc byte[1024];
        for (int lane = 0; lane < parallelism; lane++)
        {
            for (int i = 0; i < 2; i++)
            {
                BinaryPrimitives.WriteInt32LittleEndian(h0[64..], i);
                BinaryPrimitives.WriteInt32LittleEndian(h0[68..], lane);
                VariableHash(h0, blockBytes);
                LoadBlock(blockBytes, instance.Block(lane, i));
            }
        }

        for (int pass = 0; pass < iterations; pass++)
        {
            for (int slice = 0; slice < SyncPoints; slice++)
            {
                if (parallelism == 1)
                {
                    instance.FillSegment(pass, 0, slice);
                }
                else
                {
                    int p = pass, s = slice;
                    Parallel.For(0, parallelism, lane => instance.FillSegment(p, lane, s));
                }
            }
        }

        var final = new ulong[BlockWords];
        for (int lane = 0; lane < parallelism; lane++)
        {
            var last = instance.Block(lane, laneLength - 1);
            for (int i = 0; i < BlockWords; i++)
            {
                final[i] ^= last[i];
            }
        }

        for (int i = 0; i < BlockWords; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(blockBytes[(i * 8)..], final[i]);
        }

        var tag = new byte[tagLength];
        VariableHash(blockBytes, tag);
        Array.Clear(memory);
        blockBytes.Clear();
        return tag;
    }

    /// <summary>H' of RFC 9106 section 3.3: a BLAKE2b-based hash with any output length.</summary>
    internal static void VariableHash(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var buffer = new byte[4 + input.Length];
        BinaryPrimitives.WriteInt32LittleEndian(buffer, output.Length);
        input.CopyTo(buffer.AsSpan(4));
        if (output.Length <= 64)
        {
            Blake2b.Hash(buffer, output);
            return;
        }

        int r = ((output.Length + 31) / 32) - 2;
        Span<byte> v = stackalloc byte[64];
        Blake2b.Hash(buffer, v);
        v[..32].CopyTo(output);
        Span<byte> next = stackalloc byte[64];
        for (int i = 1; i < r; i++)
        {
            Blake2b.Hash(v, next);
            next.CopyTo(v);
            v[..32].CopyTo(output[(i * 32)..]);
        }

        int remaining = output.Length - (32 * r);
        Blake2b.Hash(v, output.Slice(32 * r, remaining));
    }

    private static void LoadBlock(ReadOnlySpan<byte> bytes, Span<ulong> block)
    {
        for (int i = 0; i < BlockWords; i++)
        {
            block[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes[(i * 8)..]);
        }
    }

    private sealed class Instance(
        ulong[] memory,
        Argon2Type type,
        int version,
        int laneLength,
        int segmentLength,
        int lanes,
        int passes,
        bool simd)
    {
        public Span<ulong> Block(int lane, int index) =>
            memory.AsSpan((int)(((long)lane * laneLength + index) * BlockWords), BlockWords);

        public void FillSegment(int pass, int lane, int slice)
        {
            bool independent = type == Argon2Type.Argon2i || (type == Argon2Type.Argon2id && pass == 0 && slice < 2);
            Span<ulong> scratch = stackalloc ulong[BlockWords * 2];
            Span<ulong> zero = stackalloc ulong[BlockWords];
            Span<ulong> input = stackalloc ulong[BlockWords];
            Span<ulong> address = stackalloc ulong[BlockWords];
            zero.Clear();
            input.Clear();
            if (independent)
            {
                input[0] = (ulong)pass;
                input[1] = (ulong)lane;
                input[2] = (ulong)slice;
                input[3] = (ulong)(laneLength * lanes);
                input[4] = (ulong)passes;
                input[5] = (ulong)type;
            }

            int start = 0;
            if (pass == 0 && slice == 0)
            {
                start = 2;
                if (independent)
                {
                    NextAddresses(zero, input, address, scratch, simd);
                }
            }

            for (int i = start; i < segmentLength; i++)
            {
                int index = (slice * segmentLength) + i;
                int prevIndex = index == 0 ? laneLength - 1 : index - 1;
                ulong pseudoRandom;
                if (independent)
                {
                    if (i % BlockWords == 0)
                    {
                        NextAddresses(zero, input, address, scratch, simd);
                    }

                    pseudoRandom = address[i % BlockWords];
                }
                else
                {
                    pseudoRandom = Block(lane, prevIndex)[0];
                }

                ulong j1 = pseudoRandom & 0xFFFFFFFFUL;
                ulong j2 = pseudoRandom >> 32;
                int refLane = pass == 0 && slice == 0 ? lane : (int)(j2 % (ulong)lanes);
                bool sameLane = refLane == lane;

                long areaSize;
                if (pass == 0)
                {
                    areaSize = slice == 0
                        ? i - 1
                        : sameLane
                            ? ((long)slice * segmentLength) + i - 1
                            : ((long)slice * segmentLength) + (i == 0 ? -1 : 0);
                }
                else
                {
                    areaSize = sameLane
                        ? laneLength - segmentLength + i - 1
                        : laneLength - segmentLength + (i == 0 ? -1 : 0);
                }

                ulong x = (j1 * j1) >> 32;
                ulong y = ((ulong)areaSize * x) >> 32;
                ulong relative = (ulong)areaSize - 1 - y;
                ulong startPosition = pass == 0 || slice == SyncPoints - 1 ? 0 : (ulong)((slice + 1) * segmentLength);
                int refIndex = (int)((startPosition + relative) % (ulong)laneLength);

                bool xor = pass != 0 && version == Version13;
                Compress(Block(lane, prevIndex), Block(refLane, refIndex), Block(lane, index), xor, scratch, simd);
            }
        }

        private static void NextAddresses(Span<ulong> zero, Span<ulong> input, Span<ulong> address, Span<ulong> scratch, bool simd)
        {
            input[6]++;
            Compress(zero, input, address, false, scratch, simd);
            Compress(zero, address, address, false, scratch, simd);
        }
    }

    /// <summary>The compression function G; writes G(x, y) (xor the old content when asked) into dest.</summary>
    private static void Compress(ReadOnlySpan<ulong> x, ReadOnlySpan<ulong> y, Span<ulong> dest, bool xorIntoDest, Span<ulong> scratch, bool simd)
    {
        var r = scratch[..BlockWords];
        var keep = scratch.Slice(BlockWords, BlockWords);
        for (int i = 0; i < BlockWords; i++)
        {
            r[i] = x[i] ^ y[i];
            keep[i] = xorIntoDest ? r[i] ^ dest[i] : r[i];
        }

        ref ulong rr = ref MemoryMarshal.GetReference(r);
        if (simd)
        {
            PermuteAllAvx2(ref rr);
        }
        else
        {
            PermuteAllScalar(ref rr);
        }

        for (int i = 0; i < BlockWords; i++)
        {
            dest[i] = keep[i] ^ r[i];
        }
    }

    private static void PermuteAllScalar(ref ulong rr)
    {
        for (int row = 0; row < 8; row++)
        {
            int b = row * 16;
            Permute(ref rr, b, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14, b + 15);
        }

        for (int col = 0; col < 8; col++)
        {
            int b = col * 2;
            Permute(ref rr, b, b + 1, b + 16, b + 17, b + 32, b + 33, b + 48, b + 49, b + 64, b + 65, b + 80, b + 81, b + 96, b + 97, b + 112, b + 113);
        }
    }

    /// <summary>The same row and column permutations with four 64-bit lanes per AVX2 register.</summary>
    private static void PermuteAllAvx2(ref ulong rr)
    {
        for (int row = 0; row < 8; row++)
        {
            nuint b = (nuint)(row * 16);
            var a = Vector256.LoadUnsafe(ref rr, b);
            var bb = Vector256.LoadUnsafe(ref rr, b + 4);
            var c = Vector256.LoadUnsafe(ref rr, b + 8);
            var d = Vector256.LoadUnsafe(ref rr, b + 12);
            RoundAvx2(ref a, ref bb, ref c, ref d);
            a.StoreUnsafe(ref rr, b);
            bb.StoreUnsafe(ref rr, b + 4);
            c.StoreUnsafe(ref rr, b + 8);
            d.StoreUnsafe(ref rr, b + 12);
        }

        for (int col = 0; col < 8; col++)
        {
            nuint b = (nuint)(col * 2);
            var a = Vector256.Create(Vector128.LoadUnsafe(ref rr, b), Vector128.LoadUnsafe(ref rr, b + 16));
            var bb = Vector256.Create(Vector128.LoadUnsafe(ref rr, b + 32), Vector128.LoadUnsafe(ref rr, b + 48));
            var c = Vector256.Create(Vector128.LoadUnsafe(ref rr, b + 64), Vector128.LoadUnsafe(ref rr, b + 80));
            var d = Vector256.Create(Vector128.LoadUnsafe(ref rr, b + 96), Vector128.LoadUnsafe(ref rr, b + 112));
            RoundAvx2(ref a, ref bb, ref c, ref d);
            a.GetLower().StoreUnsafe(ref rr, b);
            a.GetUpper().StoreUnsafe(ref rr, b + 16);
            bb.GetLower().StoreUnsafe(ref rr, b + 32);
            bb.GetUpper().StoreUnsafe(ref rr, b + 48);
            c.GetLower().StoreUnsafe(ref rr, b + 64);
            c.GetUpper().StoreUnsafe(ref rr, b + 80);
            d.GetLower().StoreUnsafe(ref rr, b + 96);
            d.GetUpper().StoreUnsafe(ref rr, b + 112);
        }
    }

    /// <summary>
    /// The permutation P on (v0..v3, v4..v7, v8..v11, v12..v15): column mixes straight down the lanes, then the
    /// diagonal mixes after rotating the second, third and fourth registers by one, two and three lanes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RoundAvx2(ref Vector256<ulong> a, ref Vector256<ulong> b, ref Vector256<ulong> c, ref Vector256<ulong> d)
    {
        MixAvx2(ref a, ref b, ref c, ref d);
        b = Avx2.Permute4x64(b, 0x39);
        c = Avx2.Permute4x64(c, 0x4E);
        d = Avx2.Permute4x64(d, 0x93);
        MixAvx2(ref a, ref b, ref c, ref d);
        b = Avx2.Permute4x64(b, 0x93);
        c = Avx2.Permute4x64(c, 0x4E);
        d = Avx2.Permute4x64(d, 0x39);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MixAvx2(ref Vector256<ulong> a, ref Vector256<ulong> b, ref Vector256<ulong> c, ref Vector256<ulong> d)
    {
        a = BlaMkaAvx2(a, b);
        d = RotateRight(d ^ a, 32);
        c = BlaMkaAvx2(c, d);
        b = RotateRight(b ^ c, 24);
        a = BlaMkaAvx2(a, b);
        d = RotateRight(d ^ a, 16);
        c = BlaMkaAvx2(c, d);
        b = RotateRight(b ^ c, 63);
    }

    /// <summary>x + y + 2 * lo32(x) * lo32(y) per lane; vpmuludq multiplies exactly the low 32-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> BlaMkaAvx2(Vector256<ulong> x, Vector256<ulong> y)
    {
        var product = Avx2.Multiply(x.AsUInt32(), y.AsUInt32());
        return x + y + product + product;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> RotateRight(Vector256<ulong> v, [ConstantExpected] byte n) =>
        Vector256.ShiftRightLogical(v, n) | Vector256.ShiftLeft(v, 64 - n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Permute(
        ref ulong r,
        int i0, int i1, int i2, int i3, int i4, int i5, int i6, int i7,
        int i8, int i9, int i10, int i11, int i12, int i13, int i14, int i15)
    {
        ref ulong p0 = ref Unsafe.Add(ref r, i0), p1 = ref Unsafe.Add(ref r, i1), p2 = ref Unsafe.Add(ref r, i2), p3 = ref Unsafe.Add(ref r, i3);
        ref ulong p4 = ref Unsafe.Add(ref r, i4), p5 = ref Unsafe.Add(ref r, i5), p6 = ref Unsafe.Add(ref r, i6), p7 = ref Unsafe.Add(ref r, i7);
        ref ulong p8 = ref Unsafe.Add(ref r, i8), p9 = ref Unsafe.Add(ref r, i9), p10 = ref Unsafe.Add(ref r, i10), p11 = ref Unsafe.Add(ref r, i11);
        ref ulong p12 = ref Unsafe.Add(ref r, i12), p13 = ref Unsafe.Add(ref r, i13), p14 = ref Unsafe.Add(ref r, i14), p15 = ref Unsafe.Add(ref r, i15);
        ulong v0 = p0, v1 = p1, v2 = p2, v3 = p3, v4 = p4, v5 = p5, v6 = p6, v7 = p7;
        ulong v8 = p8, v9 = p9, v10 = p10, v11 = p11, v12 = p12, v13 = p13, v14 = p14, v15 = p15;
        Mix(ref v0, ref v4, ref v8, ref v12);
        Mix(ref v1, ref v5, ref v9, ref v13);
        Mix(ref v2, ref v6, ref v10, ref v14);
        Mix(ref v3, ref v7, ref v11, ref v15);
        Mix(ref v0, ref v5, ref v10, ref v15);
        Mix(ref v1, ref v6, ref v11, ref v12);
        Mix(ref v2, ref v7, ref v8, ref v13);
        Mix(ref v3, ref v4, ref v9, ref v14);
        p0 = v0;
        p1 = v1;
        p2 = v2;
        p3 = v3;
        p4 = v4;
        p5 = v5;
        p6 = v6;
        p7 = v7;
        p8 = v8;
        p9 = v9;
        p10 = v10;
        p11 = v11;
        p12 = v12;
        p13 = v13;
        p14 = v14;
        p15 = v15;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Mix(ref ulong a, ref ulong b, ref ulong c, ref ulong d)
    {
        a = a + b + (2 * (a & 0xFFFFFFFFUL) * (b & 0xFFFFFFFFUL));
        d = ulong.RotateRight(d ^ a, 32);
        c = c + d + (2 * (c & 0xFFFFFFFFUL) * (d & 0xFFFFFFFFUL));
        b = ulong.RotateRight(b ^ c, 24);
        a = a + b + (2 * (a & 0xFFFFFFFFUL) * (b & 0xFFFFFFFFUL));
        d = ulong.RotateRight(d ^ a, 16);
        c = c + d + (2 * (c & 0xFFFFFFFFUL) * (d & 0xFFFFFFFFUL));
        b = ulong.RotateRight(b ^ c, 63);
    }
}
