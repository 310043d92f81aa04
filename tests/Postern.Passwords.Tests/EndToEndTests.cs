using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Postern.Passwords.Tests;

/// <summary>
/// Live cross-checks with programs we did not write: mkpasswd (Debian whois) and doveadm pw (dovecot-core).
/// They hash random passwords (ASCII and non-ASCII UTF-8) that we then verify, and doveadm verifies ours.
/// </summary>
[Trait("Category", "EndToEnd")]
public class EndToEndTests
{
    private static readonly PasswordHasher Hasher = PasswordHasher.Default;

    public static TheoryData<string> MkpasswdMethods => new() { "sha-512", "sha-256", "md5crypt", "bcrypt", "bcrypt-a" };

    public static TheoryData<string> DoveadmSchemes => new()
    {
        "SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT", "BLF-CRYPT", "SSHA512", "SSHA256", "SSHA", "SHA512", "SHA256", "SHA",
        "SSHA512.HEX", "PLAIN-MD5", "LDAP-MD5", "SMD5", "PBKDF2", "ARGON2ID", "ARGON2I", "PLAIN", "CLEAR", "CRYPT",
    };

    [Theory]
    [MemberData(nameof(MkpasswdMethods))]
    public void Mkpasswd_hashes_of_random_passwords_verify(string method)
    {
        var mkpasswd = Locate("mkpasswd", "whois");
        foreach (var password in RandomPasswords(3))
        {
            var args = new List<string> { "-m", method, "--stdin" };
            if (method.StartsWith("bcrypt", StringComparison.Ordinal))
            {
                args.AddRange(["-R", "4"]);
            }

            var hash = Run(mkpasswd, args, password + "\n");
            var result = Hasher.Verify(hash, password);
            Assert.True(result.Outcome == PasswordVerifyOutcome.Match, $"mkpasswd -m {method}: {result.Outcome} {result.Error}");
            Assert.True(result.NeedsRehash);
            Assert.Equal(PasswordVerifyOutcome.Mismatch, Hasher.Verify(hash, "x" + password).Outcome);
        }
    }

    [Theory]
    [MemberData(nameof(DoveadmSchemes))]
    public void Doveadm_hashes_of_random_passwords_verify(string scheme)
    {
        var doveadm = Locate("doveadm", "dovecot-core");
        foreach (var password in RandomPasswords(scheme.StartsWith("ARGON2", StringComparison.Ordinal) ? 1 : 3))
        {
            var hash = Run(doveadm, ["pw", "-s", scheme, "-p", password], null);
            var result = Hasher.Verify(hash, password);
            Assert.True(result.Outcome == PasswordVerifyOutcome.Match, $"doveadm pw -s {scheme}: {result.Outcome} {result.Error}");
            if (!scheme.StartsWith("ARGON2", StringComparison.Ordinal))
            {
                // Argon2 mismatches are covered by the fixture tests; doveadm's 64 MiB cost makes them slow here.
                Assert.Equal(PasswordVerifyOutcome.Mismatch, Hasher.Verify(hash, "x" + password).Outcome);
            }
        }
    }

    [Fact]
    public void Doveadm_verifies_our_argon2id_hashes()
    {
        var doveadm = Locate("doveadm", "dovecot-core");
        var hasher = new PasswordHasher(new PasswordHashOptions { Argon2MemoryKiB = 1024, Argon2Iterations = 2 });
        foreach (var password in RandomPasswords(2))
        {
            var hash = "{ARGON2ID}" + hasher.Hash(password);
            // doveadm pw -t exits 0 and prints "(verified)" when the password matches the hash.
            var output = Run(doveadm, ["pw", "-t", hash, "-p", password], null);
            Assert.Contains("verified", output, StringComparison.Ordinal);
            var (code, _) = RunRaw(doveadm, ["pw", "-t", hash, "-p", password + "x"], null);
            Assert.NotEqual(0, code);
        }
    }

    [Fact]
    public void Doveadm_verifies_legacy_hashes_computed_by_our_code()
    {
        // Postern never writes these schemes, but computing them and letting Dovecot check the result proves our
        // SHA-crypt, md5crypt, bcrypt and salted-digest code from the other side.
        var doveadm = Locate("doveadm", "dovecot-core");
        foreach (var password in RandomPasswords(1))
        {
            var pw = Encoding.UTF8.GetBytes(password);
            var bcryptSalt = RandomNumberGenerator.GetBytes(16);
            var sshaSalt = RandomNumberGenerator.GetBytes(8);
            var hashes = new[]
            {
                "{SHA512-CRYPT}$6$rounds=2000$Postern.salt$" + ShaCrypt.ComputeHash(true, pw, "Postern.salt"u8, 2000),
                "{SHA256-CRYPT}$5$abc/def$" + ShaCrypt.ComputeHash(false, pw, "abc/def"u8, 5000),
                "{MD5-CRYPT}$1$8charsal$" + Md5Crypt.ComputeHash(pw, "8charsal"u8),
                "{BLF-CRYPT}$2y$04$" + CryptEncoding.EncodeMsbFirst(bcryptSalt, CryptEncoding.BcryptAlphabet)
                    + CryptEncoding.EncodeMsbFirst(Bcrypt.ComputeHash('y', pw, bcryptSalt, 4), CryptEncoding.BcryptAlphabet),
                "{SSHA512}" + Convert.ToBase64String([.. SHA512.HashData([.. pw, .. sshaSalt]), .. sshaSalt]),
            };
            foreach (var hash in hashes)
            {
                var output = Run(doveadm, ["pw", "-t", hash, "-p", password], null);
                Assert.Contains("verified", output, StringComparison.Ordinal);
                Assert.Equal(PasswordVerifyOutcome.Match, Hasher.Verify(hash, password).Outcome);
            }
        }
    }

    [Fact]
    public void Doveadm_verifies_our_default_hash_with_default_parameters()
    {
        var doveadm = Locate("doveadm", "dovecot-core");
        var hash = Hasher.Hash("Grüße, Welt");
        var output = Run(doveadm, ["pw", "-t", "{ARGON2ID}" + hash, "-p", "Grüße, Welt"], null);
        Assert.Contains("verified", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Python_argon2_verifies_our_hashes_and_we_verify_its()
    {
        var python = Locate("python3", "python3");
        var hasher = new PasswordHasher(new PasswordHashOptions { Argon2MemoryKiB = 512, Argon2Iterations = 2, Argon2Parallelism = 2 });
        const string Script =
            "import sys, argon2\n" +
            "from argon2.low_level import hash_secret, verify_secret, Type\n" +
            "h, pw = sys.stdin.buffer.read().split(b'\\n')[:2]\n" +
            "try:\n" +
            "    verify_secret(h, pw, Type.ID)\n" +
            "    print('verified')\n" +
            "except argon2.exceptions.VerifyMismatchError:\n" +
            "    print('mismatch')\n" +
            "print(hash_secret(pw, b'0123456789abcdef', time_cost=1, memory_cost=64, parallelism=3, hash_len=24, type=Type.ID).decode())\n";
        foreach (var password in RandomPasswords(2))
        {
            var ours = hasher.Hash(password);
            var lines = Run(python, ["-c", Script], ours + "\n" + password + "\n").Split('\n');
            Assert.True(lines[0] == "verified", "python3-argon2 did not verify our Argon2id hash (is python3-argon2 installed?)");
            var result = Hasher.Verify(lines[1].Trim(), password);
            Assert.Equal(PasswordVerifyOutcome.Match, result.Outcome);
            Assert.Equal(PasswordVerifyOutcome.Mismatch, Hasher.Verify(lines[1].Trim(), password + "!").Outcome);
            var wrong = Run(python, ["-c", Script], ours + "\n" + password + "?\n").Split('\n');
            Assert.Equal("mismatch", wrong[0]);
        }
    }

    private static IEnumerable<string> RandomPasswords(int count)
    {
        const string Ascii = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%&()*+,-./:;<=>?@[]^_{|}~";
        const string Unicode = "äöüßéèñçøåłžšΩπλжщ中文字漢€£¥😀";
        for (int i = 0; i < count; i++)
        {
            var sb = new StringBuilder();
            int length = RandomNumberGenerator.GetInt32(1, 30);
            for (int j = 0; j < length; j++)
            {
                sb.Append(Ascii[RandomNumberGenerator.GetInt32(Ascii.Length)]);
            }

            yield return sb.ToString();

            var text = new StringInfoBuilder(Unicode);
            sb.Clear();
            for (int j = 0; j < length; j++)
            {
                sb.Append(j % 2 == 0 ? text.Random() : Ascii[RandomNumberGenerator.GetInt32(Ascii.Length)].ToString());
            }

            yield return sb.ToString();
        }
    }

    private sealed class StringInfoBuilder(string source)
    {
        private readonly string[] _elements = SplitElements(source);

        public string Random() => _elements[RandomNumberGenerator.GetInt32(_elements.Length)];

        private static string[] SplitElements(string s)
        {
            var list = new List<string>();
            var e = System.Globalization.StringInfo.GetTextElementEnumerator(s);
            while (e.MoveNext())
            {
                list.Add(e.GetTextElement());
            }

            return [.. list];
        }
    }

    private static string Locate(string program, string debianPackage)
    {
        foreach (var dir in new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin", "/sbin" })
        {
            var path = Path.Combine(dir, program);
            if (File.Exists(path))
            {
                return path;
            }
        }

        Assert.Fail($"{program} is not installed: install the Debian package '{debianPackage}' (listed in scripts/test-deps/passwords.txt).");
        return program;
    }

    private static string Run(string program, IEnumerable<string> args, string? stdin)
    {
        var (code, output) = RunRaw(program, args, stdin);
        Assert.True(code == 0, $"{Path.GetFileName(program)} exited with {code}");
        return output.Trim();
    }

    private static (int Code, string Output) RunRaw(string program, IEnumerable<string> args, string? stdin)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C.UTF-8";
        using var process = Process.Start(psi)!;
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
        }

        process.StandardInput.Close();
        var errTask = process.StandardError.ReadToEndAsync();
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        _ = errTask.Result;
        return (process.ExitCode, output);
    }
}
