using Postern.Core.Tenants;
using Postern.Passwords;

namespace Postern.Host.Embedded;

/// <summary>Connects the directory's <see cref="IPasswordHasher"/> seam to Postern.Passwords.</summary>
public sealed class PasswordHasherAdapter(PasswordHasher hasher) : IPasswordHasher
{
    public string Hash(string password) => hasher.Hash(password);

    public PasswordCheck Verify(string storedHash, string password)
    {
        var result = hasher.Verify(storedHash, password);
        return result.Outcome switch
        {
            PasswordVerifyOutcome.Match => result.NeedsRehash ? PasswordCheck.MatchNeedsRehash : PasswordCheck.Match,
            PasswordVerifyOutcome.Mismatch => PasswordCheck.Mismatch,
            _ => PasswordCheck.Unusable,
        };
    }

    public bool IsWellFormed(string storedHash, out string? error) => PasswordHashFormat.IsWellFormed(storedHash, out error);
}
