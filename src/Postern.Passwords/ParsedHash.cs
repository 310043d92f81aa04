using System.Security.Cryptography;

namespace Postern.Passwords;

/// <summary>A stored hash taken apart. Internal: callers see <see cref="PasswordScheme"/> only.</summary>
internal abstract record ParsedHash(PasswordScheme Scheme);

/// <summary>Clear text (import only).</summary>
internal sealed record PlainParsed(byte[] Password) : ParsedHash(PasswordScheme.Plain);

/// <summary>A plain or salted digest: digest = H(password + salt).</summary>
internal sealed record DigestParsed(PasswordScheme Kind, HashAlgorithmName Algorithm, byte[] Digest, byte[] Salt)
    : ParsedHash(Kind);

/// <summary>SHA-crypt; <see cref="Encoded"/> is the 43 or 86 character hash part.</summary>
internal sealed record ShaCryptParsed(bool Sha512, byte[] Salt, int Rounds, string Encoded)
    : ParsedHash(Sha512 ? PasswordScheme.Sha512Crypt : PasswordScheme.Sha256Crypt);

/// <summary>md5crypt; <see cref="Encoded"/> is the 22 character hash part.</summary>
internal sealed record Md5CryptParsed(byte[] Salt, string Encoded) : ParsedHash(PasswordScheme.Md5Crypt);

/// <summary>bcrypt; <see cref="Encoded"/> is the 53 characters of salt and hash as stored.</summary>
internal sealed record BcryptParsed(char Minor, int Cost, byte[] Salt, string Encoded) : ParsedHash(PasswordScheme.Bcrypt);

/// <summary>Dovecot's PBKDF2-HMAC-SHA1; the salt is used as its literal characters.</summary>
internal sealed record DovecotPbkdf2Parsed(byte[] Salt, int Rounds, byte[] Hash) : ParsedHash(PasswordScheme.DovecotPbkdf2);

/// <summary>An Argon2 PHC string.</summary>
internal sealed record Argon2Parsed(
    PasswordScheme Kind,
    Argon2Type Type,
    int Version,
    int MemoryKiB,
    int Iterations,
    int Parallelism,
    byte[] Salt,
    byte[] Hash) : ParsedHash(Kind);

/// <summary>Postern's PBKDF2-HMAC-SHA512 string.</summary>
internal sealed record Pbkdf2Sha512Parsed(int Iterations, byte[] Salt, byte[] Hash) : ParsedHash(PasswordScheme.Pbkdf2Sha512);
