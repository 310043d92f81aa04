using System.Security.Cryptography;
using System.Text;

namespace Postern.Passwords;

/// <summary>
/// Verifies passwords against stored hashes of every supported scheme and makes new hashes with the configured
/// algorithm. Thread-safe. Passwords are taken as UTF-8 bytes; nothing here logs or throws with a password in it.
/// </summary>
public sealed class PasswordHasher
{
    private const int NewSaltBytes = 16;
    private const int Argon2TagBytes = 32;
    private const int Pbkdf2HashBytes = 64;

    /// <summary>Creates a hasher; <paramref name="options"/> defaults to <see cref="PasswordHashOptions.Default"/>.</summary>
    /// <exception cref="ArgumentException">The options are out of range.</exception>
    public PasswordHasher(PasswordHashOptions? options = null)
    {
        Options = options ?? PasswordHashOptions.Default;
        Validate(Options);
    }

    /// <summary>A hasher with the default options.</summary>
    public static PasswordHasher Default { get; } = new();

    /// <summary>The options in force.</summary>
    public PasswordHashOptions Options { get; }

    /// <summary>
    /// Checks <paramref name="password"/> against <paramref name="storedHash"/>. Never throws: a broken hash gives
    /// <see cref="PasswordVerifyOutcome.Malformed"/>, an unknown scheme or a cost above the limits gives
    /// <see cref="PasswordVerifyOutcome.Unsupported"/>. Passwords containing NUL never match C-string schemes.
    /// </summary>
    public PasswordVerifyResult Verify(string? storedHash, string? password)
    {
        var parsed = PasswordHashFormat.Parse(storedHash);
        if (parsed.Hash is null)
        {
            return new PasswordVerifyResult(parsed.Failure, false, PasswordScheme.Unknown, parsed.Error);
        }

        var hash = parsed.Hash;
        string? overLimit = PasswordHashFormat.CheckLimits(hash, Options.Limits);
        if (overLimit is not null)
        {
            return new PasswordVerifyResult(PasswordVerifyOutcome.Unsupported, false, hash.Scheme, overLimit);
        }

        if (password is null)
        {
            return new PasswordVerifyResult(PasswordVerifyOutcome.Mismatch, false, hash.Scheme, null);
        }

        // Lone surrogates become U+FFFD, as in Hash, so both sides see the same bytes.
        var pw = Encoding.UTF8.GetBytes(password);

        try
        {
            bool match = pw.Length <= Options.Limits.MaxPasswordBytes && Matches(hash, pw);
            return match
                ? new PasswordVerifyResult(PasswordVerifyOutcome.Match, NeedsRehash(hash), hash.Scheme, null)
                : new PasswordVerifyResult(PasswordVerifyOutcome.Mismatch, false, hash.Scheme, null);
        }
        catch (Exception e) when (e is OutOfMemoryException or OverflowException or ArgumentException)
        {
            // Only reachable when the configured limits allow parameters this machine cannot compute.
            return new PasswordVerifyResult(PasswordVerifyOutcome.Unsupported, false, hash.Scheme, "the hash parameters cannot be computed here");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pw);
        }
    }

    /// <summary>Hashes a new password with the configured algorithm and parameters.</summary>
    /// <exception cref="ArgumentNullException">The password is null.</exception>
    /// <exception cref="ArgumentException">The password is longer than the configured maximum.</exception>
    public string Hash(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var pw = Encoding.UTF8.GetBytes(password);
        try
        {
            if (pw.Length > Options.Limits.MaxPasswordBytes)
            {
                throw new ArgumentException($"The password is longer than {Options.Limits.MaxPasswordBytes} UTF-8 bytes.", nameof(password));
            }

            var salt = RandomNumberGenerator.GetBytes(NewSaltBytes);
            if (Options.Algorithm == PasswordHashAlgorithm.Pbkdf2Sha512)
            {
                var derived = Rfc2898DeriveBytes.Pbkdf2(pw, salt, Options.Pbkdf2Iterations, HashAlgorithmName.SHA512, Pbkdf2HashBytes);
                return $"$pbkdf2-sha512$i={Options.Pbkdf2Iterations}${Phc(salt)}${Phc(derived)}";
            }

            var tag = Argon2.Hash(
                Argon2Type.Argon2id,
                Argon2.Version13,
                pw,
                salt,
                [],
                [],
                Options.Argon2MemoryKiB,
                Options.Argon2Iterations,
                Options.Argon2Parallelism,
                Argon2TagBytes);
            return $"$argon2id$v=19$m={Options.Argon2MemoryKiB},t={Options.Argon2Iterations},p={Options.Argon2Parallelism}${Phc(salt)}${Phc(tag)}";
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pw);
        }
    }

    private static string Phc(byte[] data) => CryptEncoding.EncodeMsbFirst(data, CryptEncoding.StandardAlphabet);

    private static void Validate(PasswordHashOptions o)
    {
        if (!Enum.IsDefined(o.Algorithm))
        {
            throw new ArgumentException("Unknown password hash algorithm.", nameof(o));
        }

        if (o.Argon2Parallelism is < 1 or > 0xFFFFFF || o.Argon2Iterations < 1 || o.Argon2MemoryKiB < 8 * o.Argon2Parallelism)
        {
            throw new ArgumentException("Argon2 parameters out of range (p >= 1, t >= 1, m >= 8p).", nameof(o));
        }

        if (o.Pbkdf2Iterations < 1)
        {
            throw new ArgumentException("PBKDF2 iterations must be positive.", nameof(o));
        }

        ArgumentNullException.ThrowIfNull(o.Limits);
        var l = o.Limits;
        if (o.Argon2MemoryKiB > l.MaxArgon2MemoryKiB || o.Argon2Iterations > l.MaxArgon2Iterations
            || o.Argon2Parallelism > l.MaxArgon2Parallelism || o.Pbkdf2Iterations > l.MaxPbkdf2Iterations)
        {
            throw new ArgumentException("The hashing parameters exceed the verify limits; new hashes could not be verified.", nameof(o));
        }
    }

    private bool NeedsRehash(ParsedHash hash)
    {
        var o = Options;
        return o.Algorithm switch
        {
            PasswordHashAlgorithm.Argon2id => hash is not Argon2Parsed
            {
                Type: Argon2Type.Argon2id,
                Version: Argon2.Version13,
            } a || a.MemoryKiB < o.Argon2MemoryKiB || a.Iterations < o.Argon2Iterations || a.Hash.Length < Argon2TagBytes || a.Salt.Length < NewSaltBytes,
            _ => hash is not Pbkdf2Sha512Parsed p || p.Iterations < o.Pbkdf2Iterations || p.Hash.Length < Pbkdf2HashBytes || p.Salt.Length < NewSaltBytes,
        };
    }

    private static bool Matches(ParsedHash hash, byte[] pw)
    {
        bool hasNul = Array.IndexOf(pw, (byte)0) >= 0;
        switch (hash)
        {
            case PlainParsed plain:
                return CryptographicOperations.FixedTimeEquals(plain.Password, pw);
            case DigestParsed digest:
                {
                    var input = new byte[pw.Length + digest.Salt.Length];
                    pw.CopyTo(input, 0);
                    digest.Salt.CopyTo(input, pw.Length);
                    var computed = DigestOf(digest.Algorithm, input);
                    CryptographicOperations.ZeroMemory(input);
                    return CryptographicOperations.FixedTimeEquals(computed, digest.Digest);
                }

            case ShaCryptParsed sha:
                return !hasNul && AsciiEquals(ShaCrypt.ComputeHash(sha.Sha512, pw, sha.Salt, sha.Rounds), sha.Encoded);
            case Md5CryptParsed md5:
                return !hasNul && AsciiEquals(Md5Crypt.ComputeHash(pw, md5.Salt), md5.Encoded);
            case BcryptParsed bcrypt:
                {
                    if (hasNul)
                    {
                        return false;
                    }

                    var computed = Bcrypt.ComputeHash(bcrypt.Minor, pw, bcrypt.Salt, bcrypt.Cost);
                    string encoded = CryptEncoding.EncodeMsbFirst(bcrypt.Salt, CryptEncoding.BcryptAlphabet)
                        + CryptEncoding.EncodeMsbFirst(computed, CryptEncoding.BcryptAlphabet);
                    return AsciiEquals(encoded, bcrypt.Encoded);
                }

            case DovecotPbkdf2Parsed dovecot:
                {
                    if (hasNul)
                    {
                        return false;
                    }

                    var computed = Rfc2898DeriveBytes.Pbkdf2(pw, dovecot.Salt, dovecot.Rounds, HashAlgorithmName.SHA1, 20);
                    return CryptographicOperations.FixedTimeEquals(computed, dovecot.Hash);
                }

            case Argon2Parsed argon:
                {
                    var computed = Argon2.Hash(
                        argon.Type,
                        argon.Version,
                        pw,
                        argon.Salt,
                        [],
                        [],
                        argon.MemoryKiB,
                        argon.Iterations,
                        argon.Parallelism,
                        argon.Hash.Length);
                    return CryptographicOperations.FixedTimeEquals(computed, argon.Hash);
                }

            case Pbkdf2Sha512Parsed own:
                {
                    var computed = Rfc2898DeriveBytes.Pbkdf2(pw, own.Salt, own.Iterations, HashAlgorithmName.SHA512, own.Hash.Length);
                    return CryptographicOperations.FixedTimeEquals(computed, own.Hash);
                }

            default:
                return false;
        }
    }

    private static byte[] DigestOf(HashAlgorithmName algorithm, byte[] input)
    {
#pragma warning disable CA5350, CA5351 // Legacy Dovecot schemes are verified for import only, then rehashed.
        if (algorithm == HashAlgorithmName.SHA1)
        {
            return SHA1.HashData(input);
        }

        if (algorithm == HashAlgorithmName.SHA256)
        {
            return SHA256.HashData(input);
        }

        if (algorithm == HashAlgorithmName.SHA512)
        {
            return SHA512.HashData(input);
        }

        return MD5.HashData(input);
#pragma warning restore CA5350, CA5351
    }

    private static bool AsciiEquals(string computed, string stored) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(stored));
}
