namespace Postern.Passwords.Tests;

/// <summary>Every hash made by an independent tool verifies, identifies and rejects wrong passwords.</summary>
public class FixtureTests
{
    public static TheoryData<string, string, string> Rows => Fixtures.Theory();

    private static readonly Dictionary<string, PasswordScheme> ExpectedScheme = new(StringComparer.Ordinal)
    {
        ["mkpasswd-sha-512"] = PasswordScheme.Sha512Crypt,
        ["mkpasswd-sha-512-rounds"] = PasswordScheme.Sha512Crypt,
        ["mkpasswd-sha-256"] = PasswordScheme.Sha256Crypt,
        ["mkpasswd-sha-256-rounds"] = PasswordScheme.Sha256Crypt,
        ["mkpasswd-md5crypt"] = PasswordScheme.Md5Crypt,
        ["mkpasswd-bcrypt"] = PasswordScheme.Bcrypt,
        ["mkpasswd-bcrypt-a"] = PasswordScheme.Bcrypt,
        ["doveadm-SHA512-CRYPT"] = PasswordScheme.Sha512Crypt,
        ["doveadm-SHA512-CRYPT-rounds"] = PasswordScheme.Sha512Crypt,
        ["doveadm-SHA256-CRYPT"] = PasswordScheme.Sha256Crypt,
        ["doveadm-MD5-CRYPT"] = PasswordScheme.Md5Crypt,
        ["doveadm-MD5"] = PasswordScheme.Md5Crypt,
        ["doveadm-BLF-CRYPT"] = PasswordScheme.Bcrypt,
        ["doveadm-SSHA512"] = PasswordScheme.Ssha512,
        ["doveadm-SSHA512.HEX"] = PasswordScheme.Ssha512,
        ["doveadm-SSHA256"] = PasswordScheme.Ssha256,
        ["doveadm-SSHA"] = PasswordScheme.Ssha1,
        ["doveadm-SHA512"] = PasswordScheme.Sha512,
        ["doveadm-SHA512.HEX"] = PasswordScheme.Sha512,
        ["doveadm-SHA256"] = PasswordScheme.Sha256,
        ["doveadm-SHA"] = PasswordScheme.Sha1,
        ["doveadm-PLAIN-MD5"] = PasswordScheme.PlainMd5,
        ["doveadm-LDAP-MD5"] = PasswordScheme.PlainMd5,
        ["doveadm-SMD5"] = PasswordScheme.Smd5,
        ["doveadm-PBKDF2"] = PasswordScheme.DovecotPbkdf2,
        ["doveadm-PBKDF2-rounds"] = PasswordScheme.DovecotPbkdf2,
        ["doveadm-ARGON2ID"] = PasswordScheme.Argon2id,
        ["doveadm-ARGON2I"] = PasswordScheme.Argon2i,
        ["doveadm-PLAIN"] = PasswordScheme.Plain,
        ["doveadm-CLEAR"] = PasswordScheme.Plain,
        ["doveadm-CLEARTEXT"] = PasswordScheme.Plain,
        ["doveadm-PLAIN.B64"] = PasswordScheme.Plain,
        ["python-argon2-argon2id"] = PasswordScheme.Argon2id,
        ["python-argon2-argon2i"] = PasswordScheme.Argon2i,
        ["python-argon2-argon2d"] = PasswordScheme.Argon2d,
    };

    [Fact]
    public void Fixture_file_covers_every_tool_and_scheme()
    {
        Assert.True(Fixtures.All.Count >= 100);
        foreach (var tool in ExpectedScheme.Keys)
        {
            Assert.Contains(Fixtures.All, r => r.Tool == tool);
        }

        Assert.Contains(Fixtures.All, r => r.Password.Any(c => c > 127));
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Tool_made_hash_matches_its_password(string tool, string password, string hash)
    {
        var result = PasswordHasher.Default.Verify(hash, password);
        Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
        Assert.Equal(ExpectedScheme[tool], result.Scheme);
        // doveadm's ARGON2ID (m=65536, t=3) is at least as strong as Postern's default (m=19456, t=2).
        Assert.Equal(tool != "doveadm-ARGON2ID", result.NeedsRehash);
        Assert.Equal(ExpectedScheme[tool], PasswordHashFormat.Identify(hash));
        Assert.True(PasswordHashFormat.IsWellFormed(hash, out var error), error);
        Assert.Null(error);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Tool_made_hash_rejects_a_wrong_password(string tool, string password, string hash)
    {
        if (tool.StartsWith("doveadm-ARGON2", StringComparison.Ordinal) && password != "password")
        {
            return; // 32-64 MiB per check: one wrong-password check per Argon2 tool is enough to keep the suite fast.
        }

        // A changed first character: bcrypt ignores bytes after the 72nd, so an appended one would still match.
        Assert.Equal(PasswordVerifyOutcome.Mismatch, PasswordHasher.Default.Verify(hash, "x" + password).Outcome);
    }
}
