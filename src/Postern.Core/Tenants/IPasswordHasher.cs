namespace Postern.Core.Tenants;

/// <summary>The outcome of checking a password against a stored hash.</summary>
public enum PasswordCheck
{
    Mismatch = 0,
    Match = 1,

    /// <summary>Matched, and the stored scheme or its parameters are weaker than the current default: store a new hash.</summary>
    MatchNeedsRehash = 2,

    /// <summary>The stored value is not a hash this build can read.</summary>
    Unusable = 3,
}

/// <summary>Hashes new passwords and verifies stored ones (the schemes brought from Dovecot and Postfix setups included).</summary>
public interface IPasswordHasher
{
    string Hash(string password);

    PasswordCheck Verify(string storedHash, string password);

    /// <summary>True when <paramref name="storedHash"/> is a hash in a scheme this build can verify (for imports).</summary>
    bool IsWellFormed(string storedHash, out string? error);
}
