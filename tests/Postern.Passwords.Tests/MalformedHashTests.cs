using FsCheck;
using FsCheck.Fluent;

namespace Postern.Passwords.Tests;

/// <summary>Broken, hostile and random stored hashes give Malformed or Unsupported, never an exception or a hang.</summary>
public class MalformedHashTests
{
    private static readonly PasswordHasher Hasher = PasswordHasher.Default;

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("password")]
    [InlineData("{SHA512-CRYPT")]
    [InlineData("{SHA512-CRYPT}")]
    [InlineData("{SHA512-CRYPT}$5$abc$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5")]
    [InlineData("$6$")]
    [InlineData("$6$saltstring")]
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz")]
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35in!1")]
    [InlineData("$6$rounds=abc$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$rounds=$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$rounds=-5$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$rounds=99999999999999999999$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$saltstringsaltstringsalt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$1$saltstri$YMyguxXMBpd2TEZ.vS/3q")]
    [InlineData("$1$saltstringlong$YMyguxXMBpd2TEZ.vS/3q1")]
    [InlineData("$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOe")]
    [InlineData("$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeWW")]
    [InlineData("$2b$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    [InlineData("$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    [InlineData("$2b$05$CCCCCCCCCCCCCCCCCCCCC!E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")]
    [InlineData("{SSHA512}!!!!")]
    [InlineData("{SSHA512}AAAA")]
    [InlineData("{SHA512}W6ph5Mm5Pz8GgiULbPgzG37mj9g=")]
    [InlineData("{SHA}W6ph5Mm5Pz8G=iULbPgzG37mj9g=")]
    [InlineData("{SHA512.HEX}zz")]
    [InlineData("{PLAIN-MD5}5f4dcc3b5aa765d61d8327deb882cf9")]
    [InlineData("{PBKDF2}$1$salt$5000$cfcc7f086681b780eee07a42083042aab128c9a")]
    [InlineData("{PBKDF2}$1$salt$0$cfcc7f086681b780eee07a42083042aab128c9a2")]
    [InlineData("{PBKDF2}$1$salt$x$cfcc7f086681b780eee07a42083042aab128c9a2")]
    [InlineData("{PBKDF2}$2$salt$5000$cfcc7f086681b780eee07a42083042aab128c9a2")]
    [InlineData("{PBKDF2}$1$$5000$cfcc7f086681b780eee07a42083042aab128c9a2")]
    [InlineData("{PBKDF2}1$salt$5000$cfcc7f086681b780eee07a42083042aab128c9a2")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHQ")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHQ$")]
    [InlineData("$argon2id$v=20$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$m=4,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$m=65536,t=0,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=0$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$t=3,m=65536,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=1$c29tZQ$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw==")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHL*aRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("{ARGON2ID}$argon2i$v=19$m=65536,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$pbkdf2-sha512$i=0$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("$pbkdf2-sha512$210000$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw")]
    [InlineData("{PLAIN.HEX}xyz")]
    public void Broken_hash_is_malformed(string? hash)
    {
        var result = Hasher.Verify(hash, "password");
        Assert.Equal(PasswordVerifyOutcome.Malformed, result.Outcome);
        Assert.False(result.NeedsRehash);
        Assert.False(PasswordHashFormat.IsWellFormed(hash, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
        Assert.Equal(PasswordScheme.Unknown, PasswordHashFormat.Identify(hash));
    }

    [Theory]
    [InlineData("{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6")]
    [InlineData("{SCRAM-SHA-256}4096,abc,def")]
    [InlineData("{NOSUCHSCHEME}abc")]
    [InlineData("{SHA512.ROT13}abc")]
    [InlineData("{CRYPT}abJnggxhB/yWI")]
    [InlineData("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7")]
    [InlineData("$7$CU..../....abc")]
    [InlineData("$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e")]
    [InlineData("$md5$abc")]
    public void Unknown_or_unsupported_scheme_is_unsupported(string hash)
    {
        var result = Hasher.Verify(hash, "password");
        Assert.Equal(PasswordVerifyOutcome.Unsupported, result.Outcome);
        Assert.False(PasswordHashFormat.IsWellFormed(hash, out var error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("$2b$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt cost 17")]
    [InlineData("$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt cost 31")]
    [InlineData("$6$rounds=999999999$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "SHA-crypt rounds")]
    [InlineData("$5$rounds=4000000000$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "SHA-crypt rounds")]
    [InlineData("{PBKDF2}$1$salt$4000000000$cfcc7f086681b780eee07a42083042aab128c9a2", "PBKDF2 rounds")]
    [InlineData("$pbkdf2-sha512$i=99999999$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw", "PBKDF2 iterations")]
    [InlineData("$argon2id$v=19$m=4194304,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw", "Argon2 memory")]
    [InlineData("$argon2id$v=19$m=2147483647,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw", "Argon2 memory")]
    [InlineData("$argon2id$v=19$m=65536,t=1000000,p=1$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw", "Argon2 iterations")]
    [InlineData("$argon2id$v=19$m=65536,t=3,p=255$c29tZXNhbHRzb21lc2FsdA$1HHLpaRbzy7G/53LN4vTieZJOjShfYs1oTkVNRTu/fw", "Argon2 parallelism")]
    public void Hash_whose_cost_would_be_a_denial_of_service_is_refused_without_work(string hash, string reason)
    {
        var result = Hasher.Verify(hash, "password");
        Assert.Equal(PasswordVerifyOutcome.Unsupported, result.Outcome);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
        Assert.False(PasswordHashFormat.IsWellFormed(hash, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
        Assert.NotEqual(PasswordScheme.Unknown, PasswordHashFormat.Identify(hash));
    }

    [Fact]
    public void Limits_are_configurable()
    {
        const string Cost6 = "$2b$06$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        var strict = new PasswordVerifyLimits { MaxBcryptCost = 5 };
        Assert.False(PasswordHashFormat.IsWellFormed(Cost6, strict, out _));
        Assert.True(PasswordHashFormat.IsWellFormed(Cost6, out _));
        var hasher = new PasswordHasher(new PasswordHashOptions { Limits = strict });
        Assert.Equal(PasswordVerifyOutcome.Unsupported, hasher.Verify(Cost6, "U*U").Outcome);
    }

    [Fact]
    public void Error_messages_never_quote_the_stored_value()
    {
        const string Secret = "hunter2-Correct-Horse";
        var inputs = new[]
        {
            "{PLAIN.HEX}" + Secret,
            "{SHA512}" + Secret,
            "{PBKDF2}$1$" + Secret + "$x$00",
            "$6$" + Secret + Secret,
            "$argon2id$v=19$m=1,t=1,p=1$" + Secret + "$" + Secret,
            "{" + Secret + "}" + Secret,
            Secret,
        };
        foreach (var input in inputs)
        {
            var result = Hasher.Verify(input, Secret);
            Assert.NotEqual(PasswordVerifyOutcome.Match, result.Outcome);
            Assert.DoesNotContain("hunter2", result.Error ?? string.Empty, StringComparison.Ordinal);
            PasswordHashFormat.IsWellFormed(input, out var error);
            Assert.DoesNotContain("hunter2", error ?? string.Empty, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Overlong_stored_hash_is_malformed()
    {
        var result = Hasher.Verify("{PLAIN}" + new string('x', 5000), "x");
        Assert.Equal(PasswordVerifyOutcome.Malformed, result.Outcome);
    }

    [Fact]
    public void Random_strings_never_throw_and_never_match()
    {
        Check.QuickThrowOnFailure(Prop.ForAll<string>(s =>
        {
            var result = Hasher.Verify(s, "password");
            PasswordHashFormat.IsWellFormed(s, out _);
            PasswordHashFormat.Identify(s);
            return result.Outcome != PasswordVerifyOutcome.Match || (s is not null && s.Contains("password", StringComparison.Ordinal));
        }));
    }

    [Fact]
    public void Random_strings_after_every_known_prefix_never_throw()
    {
        string[] prefixes =
        [
            "$6$", "$5$", "$1$", "$2a$", "$2b$05$", "$2y$04$", "$argon2id$v=19$m=8,t=1,p=1$", "$argon2i$", "$argon2d$v=16$",
            "$pbkdf2-sha512$i=1$", "{SSHA512}", "{SHA}", "{SHA512.HEX}", "{PBKDF2}$1$", "{ARGON2ID}", "{BLF-CRYPT}",
            "{CRYPT}", "{PLAIN.B64}", "{MD5}", "{SMD5}", "{", "$6$rounds=",
        ];
        var gen = Gen.Elements(prefixes).SelectMany(p => ArbMap.Default.GeneratorFor<string>().Select(s => p + s));
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), s =>
        {
            var result = Hasher.Verify(s, "pw");
            PasswordHashFormat.IsWellFormed(s, out _);
            return Enum.IsDefined(result.Outcome);
        }));
    }

    [Fact]
    public void Mutated_tool_hashes_never_throw_and_never_match_a_wrong_password()
    {
        var cheap = Fixtures.All.Where(r => !r.Hash.Contains("argon2", StringComparison.Ordinal)
            && !r.Hash.Contains("rounds=", StringComparison.Ordinal)
            && !r.Tool.Contains("PBKDF2", StringComparison.Ordinal)).ToArray();
        var gen =
            from row in Gen.Elements(cheap)
            from position in Gen.Choose(0, 1000)
            from kind in Gen.Choose(0, 3)
            from ch in Gen.Elements("$.,/=+{}0123456789aAzZ\u00e9\0!".ToCharArray())
            select Mutate(row.Hash, position % row.Hash.Length, kind, ch);
        // Tight limits: a mutated cost digit must not turn the test into a slow one.
        var hasher = new PasswordHasher(new PasswordHashOptions
        {
            Pbkdf2Iterations = 1000,
            Limits = new PasswordVerifyLimits { MaxBcryptCost = 6, MaxShaCryptRounds = 10_000, MaxPbkdf2Iterations = 10_000 },
        });
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), mutated =>
        {
            var result = hasher.Verify(mutated, "definitely not the password");
            return result.Outcome != PasswordVerifyOutcome.Match;
        }));
    }

    [Fact]
    public void Truncated_tool_hashes_are_never_a_match_and_never_throw()
    {
        foreach (var row in Fixtures.All.Where(r => !r.Hash.Contains("argon2", StringComparison.Ordinal) && r.Hash.StartsWith('$')))
        {
            for (int length = 0; length < row.Hash.Length; length++)
            {
                var result = Hasher.Verify(row.Hash[..length], row.Password);
                Assert.NotEqual(PasswordVerifyOutcome.Match, result.Outcome);
            }
        }
    }

    private static string Mutate(string s, int position, int kind, char ch) => kind switch
    {
        0 => s.Remove(position, 1),
        1 => s.Insert(position, ch.ToString()),
        2 => s[..position],
        _ => s.Remove(position, 1).Insert(position, ch.ToString()),
    };
}
