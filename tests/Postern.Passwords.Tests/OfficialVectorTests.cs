using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Passwords.Tests;

/// <summary>Published test vectors: RFC 7693, RFC 9106, Drepper's SHA-crypt spec, md5crypt, OpenBSD/OpenWall bcrypt.</summary>
public class OfficialVectorTests
{
    [Fact]
    public void Blake2b_rfc7693_abc_vector()
    {
        var output = new byte[64];
        Blake2b.Hash("abc"u8, output);
        Assert.Equal(
            "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
            Convert.ToHexStringLower(output));
    }

    [Fact]
    public void Blake2b_empty_input_and_multi_block_short_output_match_python_hashlib()
    {
        var empty = new byte[64];
        Blake2b.Hash([], empty);
        Assert.Equal(
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce",
            Convert.ToHexStringLower(empty));

        var input = new byte[768];
        for (int i = 0; i < input.Length; i++)
        {
            input[i] = (byte)i;
        }

        var short20 = new byte[20];
        Blake2b.Hash(input, short20);
        Assert.Equal("1e87621a16cfec1ca4d983f1762381eb4ea1e2f8", Convert.ToHexStringLower(short20));
    }

    [Theory]
    [InlineData(0, "512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb")]
    [InlineData(1, "c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8")]
    [InlineData(2, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659")]
    public void Argon2_rfc9106_vectors(int type, string expectedTag)
    {
        var password = Enumerable.Repeat((byte)0x01, 32).ToArray();
        var salt = Enumerable.Repeat((byte)0x02, 16).ToArray();
        var secret = Enumerable.Repeat((byte)0x03, 8).ToArray();
        var ad = Enumerable.Repeat((byte)0x04, 12).ToArray();
        // Both the portable path and the AVX2 path (when the CPU has it) must give the RFC's tag.
        var scalar = Argon2.Hash((Argon2Type)type, Argon2.Version13, password, salt, secret, ad, 32, 3, 4, 32, vectorized: false);
        Assert.Equal(expectedTag, Convert.ToHexStringLower(scalar));
        var fast = Argon2.Hash((Argon2Type)type, Argon2.Version13, password, salt, secret, ad, 32, 3, 4, 32);
        Assert.Equal(expectedTag, Convert.ToHexStringLower(fast));
    }

    [Fact]
    public void Argon2_portable_and_avx2_paths_agree_on_random_inputs()
    {
        var gen =
            from type in Gen.Elements(Argon2Type.Argon2d, Argon2Type.Argon2i, Argon2Type.Argon2id)
            from lanes in Gen.Choose(1, 3)
            from memory in Gen.Choose(8 * lanes, 200)
            from passes in Gen.Choose(1, 3)
            from password in ArbMap.Default.GeneratorFor<byte[]>()
            select (type, lanes, memory, passes, password);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(30), Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var salt = "saltsaltsalt"u8;
            var a = Argon2.Hash(t.type, Argon2.Version13, t.password, salt, [], [], t.memory, t.passes, t.lanes, 32, vectorized: false);
            var b = Argon2.Hash(t.type, Argon2.Version13, t.password, salt, [], [], t.memory, t.passes, t.lanes, 32, vectorized: true);
            return a.AsSpan().SequenceEqual(b);
        }));
    }

    [Theory]
    [InlineData("$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!")]
    [InlineData("$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", "Hello world!")]
    [InlineData("$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5", "This is just a test")]
    [InlineData("$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1", "a very much longer text to encrypt.  This one even stretches over morethan one line.")]
    [InlineData("$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/", "we have a short salt string but not a short password")]
    [InlineData("$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD", "a short string")]
    [InlineData("$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC", "the minimum number is still observed")]
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!")]
    [InlineData("$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!")]
    [InlineData("$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0", "This is just a test")]
    [InlineData("$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1", "a very much longer text to encrypt.  This one even stretches over morethan one line.")]
    [InlineData("$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0", "we have a short salt string but not a short password")]
    [InlineData("$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1", "a short string")]
    [InlineData("$6$rounds=10$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.", "the minimum number is still observed")]
    public void ShaCrypt_drepper_specification_vectors(string hash, string password)
    {
        var result = PasswordHasher.Default.Verify(hash, password);
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.True(result.NeedsRehash);
        string prefixed = "{" + (hash[1] == '6' ? "SHA512" : "SHA256") + "-CRYPT}" + hash;
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(prefixed, password + "!").Outcome);
    }

    [Theory]
    [InlineData("$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1", "Hello world!")]
    [InlineData("$1$TXd8nZqR$RleNKN206rQFcXqETtuT2/", "password")]
    public void Md5Crypt_known_vectors(string hash, string password)
    {
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(hash, password).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(hash, "x" + password).Outcome);
    }

    [Theory]
    [InlineData("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U")]
    [InlineData("$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*")]
    [InlineData("$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U")]
    [InlineData("$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored")]
    [InlineData("$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy", "")]
    public void Bcrypt_openwall_vectors(string hash, string password)
    {
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(hash, password).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(hash, "U" + password).Outcome);
        // $2b$ and $2y$ compute the same for these inputs.
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify("$2b$" + hash[4..], password).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify("{BLF-CRYPT}$2y$" + hash[4..], password).Outcome);
    }

    [Fact]
    public void Bcrypt_openwall_8bit_vector_for_byte_a3()
    {
        // OpenWall: "$2y$05$/OK.fbVrR/bpIqNJ5ianF.Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq" for the single byte 0xA3
        // ($2a$ and $2b$ give the same on OpenBSD, which never had the sign-extension bug).
        Assert.True(CryptEncoding.TryDecodeMsbFirst("/OK.fbVrR/bpIqNJ5ianF.", CryptEncoding.BcryptAlphabet, out var salt));
        foreach (char minor in "aby")
        {
            var hash = Bcrypt.ComputeHash(minor, [0xA3], salt, 5);
            Assert.Equal("Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq", CryptEncoding.EncodeMsbFirst(hash, CryptEncoding.BcryptAlphabet));
        }
    }

    [Fact]
    public void Bcrypt_2b_ignores_bytes_after_72_but_2a_wraps_the_length_like_openbsd()
    {
        Assert.True(CryptEncoding.TryDecodeMsbFirst("CCCCCCCCCCCCCCCCCCCCC.", CryptEncoding.BcryptAlphabet, out var salt));
        string Encode(char minor, string pw) =>
            $"$2{minor}$04$" + CryptEncoding.EncodeMsbFirst(salt, CryptEncoding.BcryptAlphabet)
            + CryptEncoding.EncodeMsbFirst(Bcrypt.ComputeHash(minor, Encoding.UTF8.GetBytes(pw), salt, 4), CryptEncoding.BcryptAlphabet);

        string b72 = new('b', 72);
        string longPassword = "b" + new string('a', 255); // 256 bytes

        // $2b$: only the first 72 bytes count.
        var b2 = Encode('b', "b" + new string('a', 71));
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(b2, longPassword).Outcome);

        // $2a$ on OpenBSD: key length is (256 + 1) mod 256 = 1, so only "b" repeats through the key.
        var a2 = Encode('a', b72);
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(a2, longPassword).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(b2, b72).Outcome);
    }
}
