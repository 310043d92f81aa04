using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Postern.Passwords;

/// <summary>Recognises and checks stored password hashes without verifying a password.</summary>
public static class PasswordHashFormat
{
    /// <summary>Longest stored hash accepted, in characters.</summary>
    public const int MaxStoredHashLength = 1024;

    /// <summary>Longest scheme name between the braces of a <c>{SCHEME}</c> prefix.</summary>
    private const int MaxSchemeNameLength = 32;

    /// <summary>
    /// The scheme of a stored hash, or <see cref="PasswordScheme.Unknown"/> when it is not a well-formed hash
    /// of a supported scheme. Cost limits are not applied here (see <see cref="IsWellFormed(string, out string?)"/>).
    /// </summary>
    public static PasswordScheme Identify(string? storedHash)
    {
        var result = Parse(storedHash);
        return result.Hash?.Scheme ?? PasswordScheme.Unknown;
    }

    /// <summary>
    /// True when <paramref name="storedHash"/> is a supported, well-formed hash within the default limits;
    /// otherwise false with a reason in <paramref name="error"/> that never quotes the hash.
    /// </summary>
    public static bool IsWellFormed(string? storedHash, out string? error) =>
        IsWellFormed(storedHash, PasswordVerifyLimits.Default, out error);

    /// <summary>As <see cref="IsWellFormed(string, out string?)"/> with the given limits.</summary>
    public static bool IsWellFormed(string? storedHash, PasswordVerifyLimits limits, out string? error)
    {
        ArgumentNullException.ThrowIfNull(limits);
        var result = Parse(storedHash);
        if (result.Hash is null)
        {
            error = result.Error;
            return false;
        }

        error = CheckLimits(result.Hash, limits);
        return error is null;
    }

    /// <summary>Returns why a parsed hash is over the limits, or null.</summary>
    internal static string? CheckLimits(ParsedHash hash, PasswordVerifyLimits limits) => hash switch
    {
        BcryptParsed b when b.Cost > limits.MaxBcryptCost =>
            $"bcrypt cost {b.Cost} is above the limit of {limits.MaxBcryptCost}",
        ShaCryptParsed s when s.Rounds > limits.MaxShaCryptRounds =>
            $"SHA-crypt rounds {s.Rounds} are above the limit of {limits.MaxShaCryptRounds}",
        DovecotPbkdf2Parsed d when d.Rounds > limits.MaxPbkdf2Iterations =>
            $"PBKDF2 rounds {d.Rounds} are above the limit of {limits.MaxPbkdf2Iterations}",
        Pbkdf2Sha512Parsed p when p.Iterations > limits.MaxPbkdf2Iterations =>
            $"PBKDF2 iterations {p.Iterations} are above the limit of {limits.MaxPbkdf2Iterations}",
        Argon2Parsed a when a.MemoryKiB > limits.MaxArgon2MemoryKiB =>
            $"Argon2 memory {a.MemoryKiB} KiB is above the limit of {limits.MaxArgon2MemoryKiB} KiB",
        Argon2Parsed a when a.Iterations > limits.MaxArgon2Iterations =>
            $"Argon2 iterations {a.Iterations} are above the limit of {limits.MaxArgon2Iterations}",
        Argon2Parsed a when a.Parallelism > limits.MaxArgon2Parallelism =>
            $"Argon2 parallelism {a.Parallelism} is above the limit of {limits.MaxArgon2Parallelism}",
        _ => null,
    };

    internal readonly record struct ParseResult(ParsedHash? Hash, PasswordVerifyOutcome Failure, string? Error)
    {
        public static ParseResult Ok(ParsedHash hash) => new(hash, PasswordVerifyOutcome.Match, null);

        public static ParseResult Malformed(string error) => new(null, PasswordVerifyOutcome.Malformed, error);

        public static ParseResult Unsupported(string error) => new(null, PasswordVerifyOutcome.Unsupported, error);
    }

    private enum Encoding64
    {
        Default,
        Base64,
        Hex,
    }

    /// <summary>Takes a stored hash apart. Total: never throws, never quotes the input in an error.</summary>
    internal static ParseResult Parse(string? storedHash)
    {
        if (string.IsNullOrEmpty(storedHash))
        {
            return ParseResult.Malformed("the stored hash is empty");
        }

        if (storedHash.Length > MaxStoredHashLength)
        {
            return ParseResult.Malformed($"the stored hash is longer than {MaxStoredHashLength} characters");
        }

        if (storedHash[0] == '{')
        {
            int close = storedHash.IndexOf('}', StringComparison.Ordinal);
            if (close < 0 || close > MaxSchemeNameLength + 1)
            {
                return ParseResult.Malformed("the {SCHEME} prefix is not closed");
            }

            return ParsePrefixed(storedHash[1..close], storedHash[(close + 1)..]);
        }

        if (storedHash[0] == '$')
        {
            return ParseBare(storedHash, inCrypt: false);
        }

        return ParseResult.Malformed("no {SCHEME} prefix and no $id$ crypt form");
    }

    private static ParseResult ParsePrefixed(string fullName, string body)
    {
        string name = fullName;
        var encoding = Encoding64.Default;
        int dot = fullName.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            name = fullName[..dot];
            string suffix = fullName[(dot + 1)..];
            if (suffix.Equals("HEX", StringComparison.OrdinalIgnoreCase))
            {
                encoding = Encoding64.Hex;
            }
            else if (suffix.Equals("B64", StringComparison.OrdinalIgnoreCase) || suffix.Equals("BASE64", StringComparison.OrdinalIgnoreCase))
            {
                encoding = Encoding64.Base64;
            }
            else
            {
                return ParseResult.Unsupported("unknown encoding suffix in the {SCHEME} prefix");
            }
        }

        switch (name.ToUpperInvariant())
        {
            case "PLAIN":
            case "CLEAR":
            case "CLEARTEXT":
                return ParsePlain(body, encoding);
            case "SHA":
            case "SHA1":
                return ParseDigest(PasswordScheme.Sha1, HashAlgorithmName.SHA1, 20, salted: false, body, encoding, Encoding64.Base64);
            case "SHA256":
                return ParseDigest(PasswordScheme.Sha256, HashAlgorithmName.SHA256, 32, salted: false, body, encoding, Encoding64.Base64);
            case "SHA512":
                return ParseDigest(PasswordScheme.Sha512, HashAlgorithmName.SHA512, 64, salted: false, body, encoding, Encoding64.Base64);
            case "SSHA":
                return ParseDigest(PasswordScheme.Ssha1, HashAlgorithmName.SHA1, 20, salted: true, body, encoding, Encoding64.Base64);
            case "SSHA256":
                return ParseDigest(PasswordScheme.Ssha256, HashAlgorithmName.SHA256, 32, salted: true, body, encoding, Encoding64.Base64);
            case "SSHA512":
                return ParseDigest(PasswordScheme.Ssha512, HashAlgorithmName.SHA512, 64, salted: true, body, encoding, Encoding64.Base64);
            case "PLAIN-MD5":
                return ParseDigest(PasswordScheme.PlainMd5, HashAlgorithmName.MD5, 16, salted: false, body, encoding, Encoding64.Hex);
            case "LDAP-MD5":
                return ParseDigest(PasswordScheme.PlainMd5, HashAlgorithmName.MD5, 16, salted: false, body, encoding, Encoding64.Base64);
            case "SMD5":
                return ParseDigest(PasswordScheme.Smd5, HashAlgorithmName.MD5, 16, salted: true, body, encoding, Encoding64.Base64);
            case "MD5":
            case "MD5-CRYPT":
                return RequirePrefix(body, "$1$", "MD5-CRYPT");
            case "SHA256-CRYPT":
                return RequirePrefix(body, "$5$", "SHA256-CRYPT");
            case "SHA512-CRYPT":
                return RequirePrefix(body, "$6$", "SHA512-CRYPT");
            case "BLF-CRYPT":
                return RequirePrefix(body, "$2", "BLF-CRYPT");
            case "CRYPT":
                return body.StartsWith('$')
                    ? ParseBare(body, inCrypt: true)
                    : ParseResult.Unsupported("traditional DES crypt is not supported");
            case "PBKDF2":
                return ParseDovecotPbkdf2(body);
            case "ARGON2I":
                return RequirePrefix(body, "$argon2i$", "ARGON2I");
            case "ARGON2ID":
                return RequirePrefix(body, "$argon2id$", "ARGON2ID");
            case "DES-CRYPT":
            case "CRAM-MD5":
            case "HMAC-MD5":
            case "DIGEST-MD5":
            case "PLAIN-MD4":
            case "PLAIN-TRUNC":
            case "LANMAN":
            case "NTLM":
            case "OTP":
            case "SKEY":
            case "RPA":
            case "SCRAM-SHA-1":
            case "SCRAM-SHA-256":
                return ParseResult.Unsupported("this Dovecot scheme is not supported for import");
            default:
                return ParseResult.Unsupported("unknown {SCHEME} prefix");
        }
    }

    private static ParseResult RequirePrefix(string body, string prefix, string schemeName)
    {
        if (!body.StartsWith(prefix, StringComparison.Ordinal))
        {
            return ParseResult.Malformed($"a {schemeName} hash must start with {prefix}");
        }

        return ParseBare(body, inCrypt: false);
    }

    private static ParseResult ParseBare(string text, bool inCrypt)
    {
        if (text.StartsWith("$6$", StringComparison.Ordinal))
        {
            return ParseShaCrypt(text, true);
        }

        if (text.StartsWith("$5$", StringComparison.Ordinal))
        {
            return ParseShaCrypt(text, false);
        }

        if (text.StartsWith("$1$", StringComparison.Ordinal))
        {
            return ParseMd5Crypt(text);
        }

        if (text.StartsWith("$2", StringComparison.Ordinal))
        {
            return ParseBcrypt(text);
        }

        if (!inCrypt)
        {
            if (text.StartsWith("$argon2id$", StringComparison.Ordinal))
            {
                return ParseArgon2(text, Argon2Type.Argon2id);
            }

            if (text.StartsWith("$argon2i$", StringComparison.Ordinal))
            {
                return ParseArgon2(text, Argon2Type.Argon2i);
            }

            if (text.StartsWith("$argon2d$", StringComparison.Ordinal))
            {
                return ParseArgon2(text, Argon2Type.Argon2d);
            }

            if (text.StartsWith("$pbkdf2-sha512$", StringComparison.Ordinal))
            {
                return ParsePbkdf2Sha512(text);
            }
        }

        return ParseResult.Unsupported("unknown or unsupported $id$ crypt scheme");
    }

    private static ParseResult ParsePlain(string body, Encoding64 encoding)
    {
        switch (encoding)
        {
            case Encoding64.Hex:
                return CryptEncoding.TryDecodeHex(body, out var hex)
                    ? ParseResult.Ok(new PlainParsed(hex))
                    : ParseResult.Malformed("the PLAIN.HEX value is not valid hex");
            case Encoding64.Base64:
                return CryptEncoding.TryDecodeBase64(body, out var b64)
                    ? ParseResult.Ok(new PlainParsed(b64))
                    : ParseResult.Malformed("the PLAIN.B64 value is not valid base64");
            default:
                return ParseResult.Ok(new PlainParsed(Encoding.UTF8.GetBytes(body)));
        }
    }

    private static ParseResult ParseDigest(
        PasswordScheme scheme,
        HashAlgorithmName algorithm,
        int size,
        bool salted,
        string body,
        Encoding64 encoding,
        Encoding64 defaultEncoding)
    {
        if (!TryDecodeDigest(body, encoding, defaultEncoding, salted ? -1 : size * 2, out var raw))
        {
            return ParseResult.Malformed(encoding == Encoding64.Hex
                ? "the digest is not valid hex"
                : "the digest is neither valid base64 nor hex");
        }

        if (salted ? raw.Length <= size : raw.Length != size)
        {
            return ParseResult.Malformed(salted
                ? "the salted digest is too short to hold a digest and a salt"
                : "the digest has the wrong length");
        }

        return ParseResult.Ok(new DigestParsed(scheme, algorithm, raw[..size], raw[size..]));
    }

    /// <summary>
    /// Decodes a digest as Dovecot does: an explicit suffix wins; otherwise a value of exactly the digest's hex
    /// length is hex even where base64 is the default, and base64 is accepted where hex is the default.
    /// </summary>
    private static bool TryDecodeDigest(string body, Encoding64 encoding, Encoding64 defaultEncoding, int hexLength, out byte[] raw)
    {
        switch (encoding)
        {
            case Encoding64.Hex:
                return CryptEncoding.TryDecodeHex(body, out raw);
            case Encoding64.Base64:
                return CryptEncoding.TryDecodeBase64(body, out raw);
            default:
                if ((body.Length == hexLength || defaultEncoding == Encoding64.Hex) && CryptEncoding.TryDecodeHex(body, out raw))
                {
                    return true;
                }

                return CryptEncoding.TryDecodeBase64(body, out raw);
        }
    }

    private static ParseResult ParseShaCrypt(string text, bool sha512)
    {
        string rest = text[3..];
        int rounds = ShaCrypt.DefaultRounds;
        if (rest.StartsWith("rounds=", StringComparison.Ordinal))
        {
            int end = rest.IndexOf('$', StringComparison.Ordinal);
            if (end < 0 || !TryParseDecimal(rest.AsSpan(7, end - 7), out long requested))
            {
                return ParseResult.Malformed("the SHA-crypt rounds= value is not a number");
            }

            rounds = ShaCrypt.ClampRounds(requested);
            rest = rest[(end + 1)..];
        }

        int dollar = rest.IndexOf('$', StringComparison.Ordinal);
        if (dollar < 0)
        {
            return ParseResult.Malformed("the SHA-crypt hash has no salt separator");
        }

        string salt = rest[..dollar];
        string encoded = rest[(dollar + 1)..];
        if (salt.Length > ShaCrypt.MaxSaltLength || !IsSaltText(salt))
        {
            return ParseResult.Malformed("the SHA-crypt salt is too long or has invalid characters");
        }

        if (encoded.Length != (sha512 ? 86 : 43) || !IsAlphabet(encoded, CryptEncoding.CryptAlphabet))
        {
            return ParseResult.Malformed("the SHA-crypt hash part has the wrong length or characters");
        }

        return ParseResult.Ok(new ShaCryptParsed(sha512, Encoding.ASCII.GetBytes(salt), rounds, encoded));
    }

    private static ParseResult ParseMd5Crypt(string text)
    {
        string rest = text[3..];
        int dollar = rest.IndexOf('$', StringComparison.Ordinal);
        if (dollar < 0)
        {
            return ParseResult.Malformed("the MD5-crypt hash has no salt separator");
        }

        string salt = rest[..dollar];
        string encoded = rest[(dollar + 1)..];
        if (salt.Length > Md5Crypt.MaxSaltLength || !IsSaltText(salt))
        {
            return ParseResult.Malformed("the MD5-crypt salt is too long or has invalid characters");
        }

        if (encoded.Length != 22 || !IsAlphabet(encoded, CryptEncoding.CryptAlphabet))
        {
            return ParseResult.Malformed("the MD5-crypt hash part has the wrong length or characters");
        }

        return ParseResult.Ok(new Md5CryptParsed(Encoding.ASCII.GetBytes(salt), encoded));
    }

    private static ParseResult ParseBcrypt(string text)
    {
        // $2b$NN$ + 22 salt + 31 hash = 60 characters.
        if (text.Length < 4 || text[3] != '$')
        {
            return ParseResult.Unsupported("unknown bcrypt variant");
        }

        char minor = text[2];
        if (minor is not ('a' or 'b' or 'y'))
        {
            return ParseResult.Unsupported("only the $2a$, $2b$ and $2y$ bcrypt variants are supported");
        }

        if (text.Length != 60 || text[6] != '$' || !char.IsAsciiDigit(text[4]) || !char.IsAsciiDigit(text[5]))
        {
            return ParseResult.Malformed("a bcrypt hash is $2x$NN$ followed by 53 characters");
        }

        int cost = ((text[4] - '0') * 10) + (text[5] - '0');
        if (cost is < 4 or > 31)
        {
            return ParseResult.Malformed("the bcrypt cost must be between 04 and 31");
        }

        string encoded = text[7..];
        if (!IsAlphabet(encoded, CryptEncoding.BcryptAlphabet)
            || !CryptEncoding.TryDecodeMsbFirst(encoded.AsSpan(0, 22), CryptEncoding.BcryptAlphabet, out var salt))
        {
            return ParseResult.Malformed("the bcrypt salt or hash has invalid characters");
        }

        return ParseResult.Ok(new BcryptParsed(minor, cost, salt, encoded));
    }

    private static ParseResult ParseDovecotPbkdf2(string body)
    {
        // $1$<salt>$<rounds>$<hex of 20 bytes>
        var parts = body.Split('$');
        if (parts.Length != 5 || parts[0].Length != 0 || parts[1] != "1")
        {
            return ParseResult.Malformed("a Dovecot PBKDF2 hash is $1$salt$rounds$hex");
        }

        if (parts[2].Length == 0 || parts[2].Length > 64 || !IsSaltText(parts[2]))
        {
            return ParseResult.Malformed("the PBKDF2 salt is empty, too long or has invalid characters");
        }

        if (!TryParseDecimal(parts[3], out long rounds) || rounds < 1)
        {
            return ParseResult.Malformed("the PBKDF2 rounds are not a positive number");
        }

        rounds = Math.Min(rounds, int.MaxValue); // above any limit; refused by CheckLimits

        if (parts[4].Length != 40 || !CryptEncoding.TryDecodeHex(parts[4], out var hash))
        {
            return ParseResult.Malformed("the PBKDF2 hash is not 40 hex digits");
        }

        return ParseResult.Ok(new DovecotPbkdf2Parsed(Encoding.ASCII.GetBytes(parts[2]), (int)rounds, hash));
    }

    private static ParseResult ParseArgon2(string text, Argon2Type type)
    {
        // $argon2id$v=19$m=65536,t=3,p=4$salt$hash   (v= is optional: absent means version 0x10)
        var parts = text.Split('$');
        int i = 2;
        int version = Argon2.Version10;
        if (parts.Length == 6)
        {
            if (!parts[2].StartsWith("v=", StringComparison.Ordinal)
                || !TryParseDecimal(parts[2].AsSpan(2), out long v)
                || (v != Argon2.Version10 && v != Argon2.Version13))
            {
                return ParseResult.Malformed("the Argon2 version must be v=16 or v=19");
            }

            version = (int)v;
            i = 3;
        }
        else if (parts.Length != 5)
        {
            return ParseResult.Malformed("an Argon2 hash is $argon2id$v=19$m=M,t=T,p=P$salt$hash");
        }

        var fields = parts[i].Split(',');
        if (fields.Length != 3)
        {
            return ParseResult.Malformed("the Argon2 parameters must be exactly m=, t= and p=");
        }

        if (!TryField(fields[0], "m=", out long m) || !TryField(fields[1], "t=", out long t) || !TryField(fields[2], "p=", out long p))
        {
            return ParseResult.Malformed("the Argon2 parameters must be m=M,t=T,p=P with decimal numbers");
        }

        m = Math.Min(m, int.MaxValue); // above any limit; refused by CheckLimits
        t = Math.Min(t, int.MaxValue);
        if (p is < 1 or > 0xFFFFFF || t < 1 || m < 8 * p)
        {
            return ParseResult.Malformed("the Argon2 parameters are out of range (p >= 1, t >= 1, m >= 8p)");
        }

        if (!CryptEncoding.TryDecodeMsbFirst(parts[i + 1], CryptEncoding.StandardAlphabet, out var salt) || salt.Length is < 8 or > 64)
        {
            return ParseResult.Malformed("the Argon2 salt is not 8 to 64 bytes of unpadded base64");
        }

        if (!CryptEncoding.TryDecodeMsbFirst(parts[i + 2], CryptEncoding.StandardAlphabet, out var hash) || hash.Length is < 4 or > 128)
        {
            return ParseResult.Malformed("the Argon2 hash is not 4 to 128 bytes of unpadded base64");
        }

        var scheme = type switch
        {
            Argon2Type.Argon2id => PasswordScheme.Argon2id,
            Argon2Type.Argon2i => PasswordScheme.Argon2i,
            _ => PasswordScheme.Argon2d,
        };
        return ParseResult.Ok(new Argon2Parsed(scheme, type, version, (int)m, (int)t, (int)p, salt, hash));
    }

    private static ParseResult ParsePbkdf2Sha512(string text)
    {
        // $pbkdf2-sha512$i=210000$salt$hash
        var parts = text.Split('$');
        if (parts.Length != 5 || !TryField(parts[2], "i=", out long iterations) || iterations < 1)
        {
            return ParseResult.Malformed("a PBKDF2-SHA512 hash is $pbkdf2-sha512$i=N$salt$hash");
        }

        iterations = Math.Min(iterations, int.MaxValue); // above any limit; refused by CheckLimits

        if (!CryptEncoding.TryDecodeMsbFirst(parts[3], CryptEncoding.StandardAlphabet, out var salt) || salt.Length is < 8 or > 64)
        {
            return ParseResult.Malformed("the PBKDF2-SHA512 salt is not 8 to 64 bytes of unpadded base64");
        }

        if (!CryptEncoding.TryDecodeMsbFirst(parts[4], CryptEncoding.StandardAlphabet, out var hash) || hash.Length is < 16 or > 64)
        {
            return ParseResult.Malformed("the PBKDF2-SHA512 hash is not 16 to 64 bytes of unpadded base64");
        }

        return ParseResult.Ok(new Pbkdf2Sha512Parsed((int)iterations, salt, hash));
    }

    private static bool TryField(string field, string name, out long value)
    {
        value = 0;
        return field.StartsWith(name, StringComparison.Ordinal) && TryParseDecimal(field.AsSpan(name.Length), out value);
    }

    /// <summary>Parses 1 to 10 ASCII digits.</summary>
    private static bool TryParseDecimal(ReadOnlySpan<char> text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > 10)
        {
            return false;
        }

        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }

    private static bool IsSaltText(string salt)
    {
        foreach (char c in salt)
        {
            if (c is < '!' or > '~' or '$' or ':')
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsAlphabet(string text, string alphabet)
    {
        foreach (char c in text)
        {
            if (alphabet.IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return true;
    }
}
