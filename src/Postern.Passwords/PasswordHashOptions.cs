namespace Postern.Passwords;

/// <summary>
/// How new hashes are made, and the limits that refuse imported hashes whose cost would be a denial of service.
/// </summary>
/// <remarks>
/// Argon2id defaults follow OWASP's Password Storage Cheat Sheet (m = 19456 KiB, t = 2, p = 1): a mail server
/// verifies passwords on every IMAP/SMTP login, often many at once, so the modest memory per verification matters.
/// RFC 9106's second recommendation (m = 65536, t = 3, p = 4) is a valid choice for fewer, more valuable logins.
/// </remarks>
public sealed record PasswordHashOptions
{
    /// <summary>The defaults described on the type.</summary>
    public static PasswordHashOptions Default { get; } = new();

    /// <summary>Algorithm for new hashes. Default Argon2id.</summary>
    public PasswordHashAlgorithm Algorithm { get; init; } = PasswordHashAlgorithm.Argon2id;

    /// <summary>Argon2 memory in KiB (at least 8 × parallelism). Default 19456 (19 MiB).</summary>
    public int Argon2MemoryKiB { get; init; } = 19456;

    /// <summary>Argon2 passes over memory. Default 2.</summary>
    public int Argon2Iterations { get; init; } = 2;

    /// <summary>Argon2 lanes. Default 1.</summary>
    public int Argon2Parallelism { get; init; } = 1;

    /// <summary>PBKDF2-HMAC-SHA512 iterations. Default 210000 (OWASP).</summary>
    public int Pbkdf2Iterations { get; init; } = 210_000;

    /// <summary>Safety limits applied when verifying and checking stored hashes.</summary>
    public PasswordVerifyLimits Limits { get; init; } = PasswordVerifyLimits.Default;
}

/// <summary>
/// Upper bounds on the cost of a stored hash. A hash above a bound is refused as
/// <see cref="PasswordVerifyOutcome.Unsupported"/> without computing anything.
/// </summary>
public sealed record PasswordVerifyLimits
{
    /// <summary>The default limits.</summary>
    public static PasswordVerifyLimits Default { get; } = new();

    /// <summary>Highest bcrypt cost (2^cost rounds). Default 16.</summary>
    public int MaxBcryptCost { get; init; } = 16;

    /// <summary>Highest SHA-crypt <c>rounds=</c> value. Default 1,000,000 (passlib's 656,000 fits).</summary>
    public int MaxShaCryptRounds { get; init; } = 1_000_000;

    /// <summary>Highest PBKDF2 iteration count (Dovecot PBKDF2 and Postern's PBKDF2-SHA512). Default 2,000,000.</summary>
    public int MaxPbkdf2Iterations { get; init; } = 2_000_000;

    /// <summary>Highest Argon2 memory in KiB. Default 1048576 (1 GiB).</summary>
    public int MaxArgon2MemoryKiB { get; init; } = 1_048_576;

    /// <summary>Highest Argon2 pass count. Default 10.</summary>
    public int MaxArgon2Iterations { get; init; } = 10;

    /// <summary>Highest Argon2 lane count. Default 16.</summary>
    public int MaxArgon2Parallelism { get; init; } = 16;

    /// <summary>Longest password, in UTF-8 bytes, that is hashed at all; longer ones never match. Default 4096.</summary>
    public int MaxPasswordBytes { get; init; } = 4096;
}
