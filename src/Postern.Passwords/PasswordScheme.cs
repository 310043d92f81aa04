namespace Postern.Passwords;

/// <summary>
/// A stored password format. The numeric values are persisted: never renumber or reuse one.
/// </summary>
public enum PasswordScheme
{
    /// <summary>Not a format this library recognises (or not well formed).</summary>
    Unknown = 0,

    /// <summary>Clear text: Dovecot <c>{PLAIN}</c>, <c>{CLEAR}</c>, <c>{CLEARTEXT}</c>. Import only.</summary>
    Plain = 1,

    /// <summary>FreeBSD md5crypt: <c>$1$</c>, Dovecot <c>{MD5-CRYPT}</c> and <c>{MD5}</c>.</summary>
    Md5Crypt = 10,

    /// <summary>SHA-256-crypt: <c>$5$</c>, Dovecot <c>{SHA256-CRYPT}</c>.</summary>
    Sha256Crypt = 11,

    /// <summary>SHA-512-crypt: <c>$6$</c>, Dovecot <c>{SHA512-CRYPT}</c>.</summary>
    Sha512Crypt = 12,

    /// <summary>bcrypt: <c>$2a$</c>, <c>$2b$</c>, <c>$2y$</c>, Dovecot <c>{BLF-CRYPT}</c>.</summary>
    Bcrypt = 13,

    /// <summary>Unsalted SHA-1: Dovecot <c>{SHA}</c> / <c>{SHA1}</c>.</summary>
    Sha1 = 20,

    /// <summary>Unsalted SHA-256: Dovecot <c>{SHA256}</c>.</summary>
    Sha256 = 21,

    /// <summary>Unsalted SHA-512: Dovecot <c>{SHA512}</c>.</summary>
    Sha512 = 22,

    /// <summary>Salted SHA-1: Dovecot <c>{SSHA}</c>.</summary>
    Ssha1 = 23,

    /// <summary>Salted SHA-256: Dovecot <c>{SSHA256}</c>.</summary>
    Ssha256 = 24,

    /// <summary>Salted SHA-512: Dovecot <c>{SSHA512}</c>.</summary>
    Ssha512 = 25,

    /// <summary>Unsalted MD5: Dovecot <c>{PLAIN-MD5}</c> (hex) and <c>{LDAP-MD5}</c> (base64).</summary>
    PlainMd5 = 26,

    /// <summary>Salted MD5: Dovecot <c>{SMD5}</c>.</summary>
    Smd5 = 27,

    /// <summary>Dovecot <c>{PBKDF2}$1$salt$rounds$hex</c> (PBKDF2-HMAC-SHA1).</summary>
    DovecotPbkdf2 = 30,

    /// <summary>Argon2i PHC string, bare or as Dovecot <c>{ARGON2I}</c>.</summary>
    Argon2i = 40,

    /// <summary>Argon2id PHC string, bare or as Dovecot <c>{ARGON2ID}</c>. Postern's default for new hashes.</summary>
    Argon2id = 41,

    /// <summary>Argon2d PHC string (bare only).</summary>
    Argon2d = 42,

    /// <summary>Postern's <c>$pbkdf2-sha512$i=N$salt$hash</c> (PBKDF2-HMAC-SHA512, unpadded base64).</summary>
    Pbkdf2Sha512 = 50,
}

/// <summary>The algorithm <see cref="PasswordHasher.Hash"/> uses for new hashes. Persisted in configuration.</summary>
public enum PasswordHashAlgorithm
{
    /// <summary>Argon2id in PHC string form.</summary>
    Argon2id = 1,

    /// <summary>PBKDF2-HMAC-SHA512 in Postern's <c>$pbkdf2-sha512$</c> form.</summary>
    Pbkdf2Sha512 = 2,
}

/// <summary>What <see cref="PasswordHasher.Verify"/> concluded.</summary>
public enum PasswordVerifyOutcome
{
    /// <summary>The password is right.</summary>
    Match = 1,

    /// <summary>The hash is valid and the password is wrong.</summary>
    Mismatch = 2,

    /// <summary>The stored hash is broken (bad syntax, bad encoding, wrong length, bad parameters).</summary>
    Malformed = 3,

    /// <summary>The scheme is unknown or not supported, or its cost exceeds the configured safety limits.</summary>
    Unsupported = 4,
}

/// <summary>The result of verifying a password against a stored hash.</summary>
/// <param name="Outcome">Match, Mismatch, Malformed or Unsupported.</param>
/// <param name="NeedsRehash">After a match: the stored hash is weaker than (or different from) what
/// <see cref="PasswordHasher.Hash"/> would produce now, so store a fresh hash.</param>
/// <param name="Scheme">The scheme of the stored hash, when it was recognised.</param>
/// <param name="Error">For Malformed or Unsupported, a reason fit for logs. Never contains the hash or a password.</param>
public readonly record struct PasswordVerifyResult(
    PasswordVerifyOutcome Outcome,
    bool NeedsRehash,
    PasswordScheme Scheme,
    string? Error)
{
    /// <summary>True when the password matched.</summary>
    public bool Succeeded => Outcome == PasswordVerifyOutcome.Match;
}
