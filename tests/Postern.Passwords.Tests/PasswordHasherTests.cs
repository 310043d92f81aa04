using FsCheck;
using FsCheck.Fluent;

namespace Postern.Passwords.Tests;

/// <summary>New hashes: formats, round trips, rehash decisions and options.</summary>
public class PasswordHasherTests
{
    // Cheap parameters for tests; the defaults are checked once below.
    private static readonly PasswordHasher CheapArgon = new(new PasswordHashOptions
    {
        Argon2MemoryKiB = 64,
        Argon2Iterations = 1,
        Argon2Parallelism = 1,
    });

    private static readonly PasswordHasher CheapPbkdf2 = new(new PasswordHashOptions
    {
        Algorithm = PasswordHashAlgorithm.Pbkdf2Sha512,
        Pbkdf2Iterations = 100,
    });

    [Fact]
    public void Default_hash_is_argon2id_phc_with_documented_parameters_and_verifies()
    {
        var hash = PasswordHasher.Default.Hash("correct horse");
        Assert.StartsWith("$argon2id$v=19$m=19456,t=2,p=1$", hash, StringComparison.Ordinal);
        var parts = hash.Split('$');
        Assert.Equal(22, parts[4].Length); // 16-byte salt, unpadded base64
        Assert.Equal(43, parts[5].Length); // 32-byte tag
        var result = PasswordHasher.Default.Verify("{ARGON2ID}" + hash, "correct horse");
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.False(result.NeedsRehash);
        Assert.Equal(PasswordScheme.Argon2id, result.Scheme);
    }

    [Fact]
    public void Two_hashes_of_one_password_differ_by_salt()
    {
        Assert.NotEqual(CheapArgon.Hash("same"), CheapArgon.Hash("same"));
        Assert.NotEqual(CheapPbkdf2.Hash("same"), CheapPbkdf2.Hash("same"));
    }

    [Fact]
    public void Pbkdf2_sha512_default_form_uses_owasp_iterations()
    {
        var hasher = new PasswordHasher(new PasswordHashOptions { Algorithm = PasswordHashAlgorithm.Pbkdf2Sha512 });
        var hash = hasher.Hash("pässwörd");
        Assert.StartsWith("$pbkdf2-sha512$i=210000$", hash, StringComparison.Ordinal);
        Assert.Equal(PasswordScheme.Pbkdf2Sha512, PasswordHashFormat.Identify(hash));
        var result = hasher.Verify(hash, "pässwörd");
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.False(result.NeedsRehash);
    }

    [Fact]
    public void Pbkdf2_sha512_form_is_computed_from_its_fields()
    {
        // Built independently with .NET's PBKDF2 so the string layout itself is pinned.
        var salt = "0123456789abcdef"u8.ToArray();
        var dk = System.Security.Cryptography.Rfc2898DeriveBytes.Pbkdf2("pw"u8, salt, 1000, System.Security.Cryptography.HashAlgorithmName.SHA512, 64);
        var hash = $"$pbkdf2-sha512$i=1000${Convert.ToBase64String(salt).TrimEnd('=')}${Convert.ToBase64String(dk).TrimEnd('=')}";
        Assert.Equal(PasswordVerifyOutcome.Match, CheapPbkdf2.Verify(hash, "pw").Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, CheapPbkdf2.Verify(hash, "pW").Outcome);
    }

    [Fact]
    public void Argon2id_round_trip_for_random_unicode_passwords()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(40), Prop.ForAll<string>(password =>
        {
            password ??= string.Empty;
            var hash = CheapArgon.Hash(password);
            return CheapArgon.Verify(hash, password).Outcome == PasswordVerifyOutcome.Match
                && CheapArgon.Verify(hash, password + "\u00e9").Outcome == PasswordVerifyOutcome.Mismatch;
        }));
    }

    [Fact]
    public void Pbkdf2_round_trip_for_random_unicode_passwords()
    {
        Check.QuickThrowOnFailure(Prop.ForAll<string>(password =>
        {
            password ??= string.Empty;
            var hash = CheapPbkdf2.Hash(password);
            return CheapPbkdf2.Verify(hash, password).Outcome == PasswordVerifyOutcome.Match
                && CheapPbkdf2.Verify(hash, "x" + password).Outcome == PasswordVerifyOutcome.Mismatch;
        }));
    }

    [Fact]
    public void Non_ascii_passwords_are_utf8_bytes()
    {
        // {PLAIN.HEX} of the UTF-8 bytes of "é€" matches; Latin-1 bytes would not.
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify("{PLAIN.HEX}c3a9e282ac", "é€").Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify("{PLAIN.HEX}e980", "é€").Outcome);
    }

    [Theory]
    [InlineData("{PLAIN}secret", PasswordScheme.Plain)]
    [InlineData("{CLEAR}secret", PasswordScheme.Plain)]
    [InlineData("{CLEARTEXT}secret", PasswordScheme.Plain)]
    [InlineData("{plain}secret", PasswordScheme.Plain)]
    [InlineData("{PLAIN-MD5}5ebe2294ecd0e0f08eab7690d2a6ee69", PasswordScheme.PlainMd5)]
    [InlineData("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", PasswordScheme.Sha1)]
    [InlineData("{SHA}e5e9fa1ba31ecd1ae84f75caaa474f3a663f05f4", PasswordScheme.Sha1)]
    public void Weak_schemes_match_and_ask_for_a_rehash(string hash, PasswordScheme scheme)
    {
        var result = PasswordHasher.Default.Verify(hash, "secret");
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.Equal(scheme, result.Scheme);
        Assert.True(result.NeedsRehash);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(hash, "Secret").Outcome);
    }

    [Theory]
    [InlineData("{CRYPT}$2y$05$mUV1BXR0uZI.hEpfqEHkMeBYG9m8KcmDvi3oE.AO8jaZf9YBh.kQa", PasswordScheme.Bcrypt)]
    [InlineData("{crypt}$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1", PasswordScheme.Md5Crypt)]
    public void Crypt_prefix_wraps_the_crypt_forms(string hash, PasswordScheme scheme)
    {
        // First from `doveadm pw -s CRYPT -p x`; second is the md5crypt vector for "Hello world!".
        string password = scheme == PasswordScheme.Bcrypt ? "x" : "Hello world!";
        Assert.Equal(scheme, PasswordHashFormat.Identify(hash));
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(hash, password).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(hash, password + "y").Outcome);
    }

    [Fact]
    public void Argon2id_with_weaker_parameters_than_configured_asks_for_a_rehash()
    {
        var weak = CheapArgon.Hash("pw");
        var strongHasher = new PasswordHasher(new PasswordHashOptions { Argon2MemoryKiB = 128, Argon2Iterations = 1 });
        var result = strongHasher.Verify(weak, "pw");
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.True(result.NeedsRehash);
        Assert.False(CheapArgon.Verify(weak, "pw").NeedsRehash);
        Assert.False(CheapArgon.Verify(strongHasher.Hash("pw"), "pw").NeedsRehash);
    }

    [Fact]
    public void Switching_algorithm_asks_for_a_rehash_of_the_other_form()
    {
        var argon = CheapArgon.Hash("pw");
        var pbkdf2 = CheapPbkdf2.Hash("pw");
        Assert.True(CheapPbkdf2.Verify(argon, "pw").NeedsRehash);
        Assert.True(CheapArgon.Verify(pbkdf2, "pw").NeedsRehash);
        var morePbkdf2 = new PasswordHasher(new PasswordHashOptions { Algorithm = PasswordHashAlgorithm.Pbkdf2Sha512, Pbkdf2Iterations = 200 });
        Assert.True(morePbkdf2.Verify(pbkdf2, "pw").NeedsRehash);
    }

    [Fact]
    public void Mismatch_never_asks_for_a_rehash()
    {
        var result = PasswordHasher.Default.Verify("{PLAIN}secret", "wrong");
        Assert.Equal(PasswordVerifyOutcome.Mismatch, result.Outcome);
        Assert.False(result.NeedsRehash);
    }

    [Fact]
    public void Argon2_version_16_and_argon2d_hashes_verify_but_ask_for_a_rehash()
    {
        // Old version 0x10 strings omit v=; the tag is computed without XOR on later passes.
        var v10 = Argon2.Hash(Argon2Type.Argon2id, Argon2.Version10, "pw"u8, "saltsaltsalt"u8, [], [], 64, 2, 1, 32);
        var v13 = Argon2.Hash(Argon2Type.Argon2id, Argon2.Version13, "pw"u8, "saltsaltsalt"u8, [], [], 64, 2, 1, 32);
        Assert.NotEqual(v10, v13);
        var b64Salt = Convert.ToBase64String("saltsaltsalt"u8.ToArray()).TrimEnd('=');
        var old = $"$argon2id$m=64,t=2,p=1${b64Salt}${Convert.ToBase64String(v10).TrimEnd('=')}";
        var result = CheapArgon.Verify(old, "pw");
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.True(result.NeedsRehash);
    }

    [Fact]
    public void Null_password_is_a_mismatch_and_null_hash_is_malformed()
    {
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify("{PLAIN}x", null).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Malformed, PasswordHasher.Default.Verify(null, "x").Outcome);
        Assert.Throws<ArgumentNullException>(() => PasswordHasher.Default.Hash(null!));
    }

    [Fact]
    public void Password_with_nul_never_matches_c_string_schemes()
    {
        // crypt(3) would stop at the NUL and accept "Hello world!\0anything".
        const string Sha = "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5";
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(Sha, "Hello world!\0anything").Outcome);
        Assert.Equal(PasswordVerifyOutcome.Match, PasswordHasher.Default.Verify(Sha, "Hello world!").Outcome);
    }

    [Fact]
    public void Overlong_password_never_matches_and_cannot_be_hashed()
    {
        var limits = new PasswordVerifyLimits { MaxPasswordBytes = 16 };
        var hasher = new PasswordHasher(new PasswordHashOptions { Limits = limits });
        Assert.Equal(PasswordVerifyOutcome.Mismatch, hasher.Verify("{PLAIN}" + new string('a', 17), new string('a', 17)).Outcome);
        Assert.Equal(PasswordVerifyOutcome.Match, hasher.Verify("{PLAIN}" + new string('a', 16), new string('a', 16)).Outcome);
        var e = Assert.Throws<ArgumentException>(() => hasher.Hash("ééééééééé"));
        Assert.DoesNotContain("é", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 1, 1, 1)]
    [InlineData(7, 1, 1, 1)]
    [InlineData(64, 0, 1, 1)]
    [InlineData(64, 1, 0, 1)]
    [InlineData(64, 1, 9, 1)]
    [InlineData(64, 1, 1, 0)]
    public void Invalid_options_are_rejected(int memory, int iterations, int parallelism, int pbkdf2)
    {
        Assert.Throws<ArgumentException>(() => new PasswordHasher(new PasswordHashOptions
        {
            Argon2MemoryKiB = memory,
            Argon2Iterations = iterations,
            Argon2Parallelism = parallelism,
            Pbkdf2Iterations = pbkdf2,
        }));
        Assert.Throws<ArgumentException>(() => new PasswordHasher(new PasswordHashOptions { Algorithm = (PasswordHashAlgorithm)99 }));
    }

    [Fact]
    public void Options_above_the_verify_limits_are_rejected()
    {
        // Otherwise Postern would write hashes that it then refuses to verify.
        Assert.Throws<ArgumentException>(() => new PasswordHasher(new PasswordHashOptions
        {
            Argon2MemoryKiB = 4096,
            Limits = new PasswordVerifyLimits { MaxArgon2MemoryKiB = 1024 },
        }));
        Assert.Throws<ArgumentException>(() => new PasswordHasher(new PasswordHashOptions
        {
            Pbkdf2Iterations = 500_000,
            Limits = new PasswordVerifyLimits { MaxPbkdf2Iterations = 400_000 },
        }));
    }

    [Fact]
    public void Multi_lane_argon2_round_trip()
    {
        var hasher = new PasswordHasher(new PasswordHashOptions { Argon2MemoryKiB = 256, Argon2Iterations = 2, Argon2Parallelism = 4 });
        var hash = hasher.Hash("lanes");
        Assert.Contains("p=4", hash, StringComparison.Ordinal);
        Assert.Equal(PasswordVerifyOutcome.Match, hasher.Verify(hash, "lanes").Outcome);
    }

    [Fact]
    public void Persisted_enum_values_never_change()
    {
        Assert.Equal(0, (int)PasswordScheme.Unknown);
        Assert.Equal(1, (int)PasswordScheme.Plain);
        Assert.Equal(10, (int)PasswordScheme.Md5Crypt);
        Assert.Equal(11, (int)PasswordScheme.Sha256Crypt);
        Assert.Equal(12, (int)PasswordScheme.Sha512Crypt);
        Assert.Equal(13, (int)PasswordScheme.Bcrypt);
        Assert.Equal(20, (int)PasswordScheme.Sha1);
        Assert.Equal(21, (int)PasswordScheme.Sha256);
        Assert.Equal(22, (int)PasswordScheme.Sha512);
        Assert.Equal(23, (int)PasswordScheme.Ssha1);
        Assert.Equal(24, (int)PasswordScheme.Ssha256);
        Assert.Equal(25, (int)PasswordScheme.Ssha512);
        Assert.Equal(26, (int)PasswordScheme.PlainMd5);
        Assert.Equal(27, (int)PasswordScheme.Smd5);
        Assert.Equal(30, (int)PasswordScheme.DovecotPbkdf2);
        Assert.Equal(40, (int)PasswordScheme.Argon2i);
        Assert.Equal(41, (int)PasswordScheme.Argon2id);
        Assert.Equal(42, (int)PasswordScheme.Argon2d);
        Assert.Equal(50, (int)PasswordScheme.Pbkdf2Sha512);
        Assert.Equal(19, Enum.GetValues<PasswordScheme>().Length);
        Assert.Equal(1, (int)PasswordHashAlgorithm.Argon2id);
        Assert.Equal(2, (int)PasswordHashAlgorithm.Pbkdf2Sha512);
        Assert.Equal(1, (int)PasswordVerifyOutcome.Match);
        Assert.Equal(4, (int)PasswordVerifyOutcome.Unsupported);
    }
}
