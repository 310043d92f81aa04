using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants;

public enum AuthenticationOutcome
{
    Succeeded = 0,

    /// <summary>Unknown user or wrong password: the two are never told apart to the client.</summary>
    Failed = 1,

    /// <summary>The account exists and the password is right, but the account is disabled.</summary>
    Disabled = 2,

    /// <summary>The stored hash cannot be used (a scheme this build cannot verify): an operator must reset it.</summary>
    Unusable = 3,
}

public sealed record AuthenticationResult(AuthenticationOutcome Outcome, Account? Account = null, AdminLogin? Admin = null, bool Rehashed = false)
{
    public bool Succeeded => Outcome == AuthenticationOutcome.Succeeded;
}

/// <summary>
/// Checks end users' (mailbox address and password) and admins' credentials. On success with a hash
/// in a scheme weaker than the current default (imported <c>{SHA512-CRYPT}</c>, <c>{PLAIN}</c>, ...), the
/// password is hashed again and stored, so imported accounts move to Argon2id as their owners sign in.
/// An unknown user costs a hash computation too, so timing does not reveal which addresses exist.
/// </summary>
public sealed class Authenticator(IDirectoryStore store, IPasswordHasher hasher, VerifiedCredentialCache? cache = null)
{
    private readonly Lazy<string> _decoy = new(() => hasher.Hash("decoy password for unknown users"));

    /// <summary>
    /// Password hashing is deliberately expensive (Argon2id): at most one hash per core runs at a time, so a
    /// burst of logins queues instead of thrashing memory and starving every other session.
    /// </summary>
    private static readonly SemaphoreSlim Hashing = new(Math.Max(1, Environment.ProcessorCount), Math.Max(1, Environment.ProcessorCount));

    /// <summary>Successful end-user credentials remembered for a while (see <see cref="VerifiedCredentialCache"/>); null: none.</summary>
    public VerifiedCredentialCache? Cache => cache;

    private static async Task<PasswordCheck> VerifyAsync(IPasswordHasher hasher, string storedHash, string password, CancellationToken cancellationToken)
    {
        await Hashing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return hasher.Verify(storedHash, password);
        }
        finally
        {
            Hashing.Release();
        }
    }

    /// <summary>Signs in an end user by the primary address or any alias (through domain aliases).</summary>
    public async Task<AuthenticationResult> AuthenticateUserAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        if (!EmailAddress.TryParse(address, out var parsed, out _) || string.IsNullOrEmpty(password))
        {
            await VerifyAsync(hasher, _decoy.Value, password ?? string.Empty, cancellationToken).ConfigureAwait(false);
            return new AuthenticationResult(AuthenticationOutcome.Failed);
        }

        var account = await FindAccountAsync(parsed!, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            await VerifyAsync(hasher, _decoy.Value, password, cancellationToken).ConfigureAwait(false);
            return new AuthenticationResult(AuthenticationOutcome.Failed);
        }

        // The same address and password were verified against this very hash a moment ago.
        var check = cache is not null && cache.IsVerified(address, password, account.PasswordHash)
            ? PasswordCheck.Match
            : await VerifyAsync(hasher, account.PasswordHash, password, cancellationToken).ConfigureAwait(false);
        switch (check)
        {
            case PasswordCheck.Mismatch:
                return new AuthenticationResult(AuthenticationOutcome.Failed);
            case PasswordCheck.Unusable:
                return new AuthenticationResult(AuthenticationOutcome.Unusable, account);
        }

        if (account.Disabled)
        {
            return new AuthenticationResult(AuthenticationOutcome.Disabled, account);
        }

        if (check == PasswordCheck.MatchNeedsRehash)
        {
            account = account with { PasswordHash = hasher.Hash(password) };
            await store.UpdateAccountAsync(account, cancellationToken).ConfigureAwait(false);
            cache?.Remember(address, password, account.PasswordHash);
            return new AuthenticationResult(AuthenticationOutcome.Succeeded, account, Rehashed: true);
        }

        cache?.Remember(address, password, account.PasswordHash);
        return new AuthenticationResult(AuthenticationOutcome.Succeeded, account);
    }

    /// <summary>The enabled account an address signs in as (primary address or alias), without a password: for a master user's authorization identity.</summary>
    public async Task<Account?> FindUserAsync(string address, CancellationToken cancellationToken = default)
    {
        if (!EmailAddress.TryParse(address, out var parsed, out _))
        {
            return null;
        }

        var account = await FindAccountAsync(parsed!, cancellationToken).ConfigureAwait(false);
        return account is { Disabled: false } ? account : null;
    }

    public async Task<AuthenticationResult> AuthenticateAdminAsync(string login, string password, CancellationToken cancellationToken = default)
    {
        var admin = string.IsNullOrWhiteSpace(login) ? null : await store.FindAdminAsync(login.Trim(), cancellationToken).ConfigureAwait(false);
        if (admin is null || string.IsNullOrEmpty(password))
        {
            hasher.Verify(_decoy.Value, password ?? string.Empty);
            return new AuthenticationResult(AuthenticationOutcome.Failed);
        }

        var check = hasher.Verify(admin.PasswordHash, password);
        if (check == PasswordCheck.Mismatch)
        {
            return new AuthenticationResult(AuthenticationOutcome.Failed);
        }

        if (check == PasswordCheck.Unusable)
        {
            return new AuthenticationResult(AuthenticationOutcome.Unusable, Admin: admin);
        }

        if (admin.Disabled)
        {
            return new AuthenticationResult(AuthenticationOutcome.Disabled, Admin: admin);
        }

        if (check == PasswordCheck.MatchNeedsRehash)
        {
            await store.UpdateAdminPasswordAsync(admin.Id, hasher.Hash(password), admin.MustChangePassword, cancellationToken).ConfigureAwait(false);
            return new AuthenticationResult(AuthenticationOutcome.Succeeded, Admin: admin, Rehashed: true);
        }

        return new AuthenticationResult(AuthenticationOutcome.Succeeded, Admin: admin);
    }

    private async Task<Account?> FindAccountAsync(EmailAddress address, CancellationToken cancellationToken)
    {
        var domain = await store.FindDomainAsync(address.Domain.Ascii, cancellationToken).ConfigureAwait(false);
        if (domain is null)
        {
            return null;
        }

        var entry = await store.FindAddressAsync(domain.Id, address.LocalPartKey, cancellationToken).ConfigureAwait(false);
        return entry is { Kind: AddressOwnerKind.Account or AddressOwnerKind.Alias }
            ? await store.GetAccountAsync(entry.OwnerId, cancellationToken).ConfigureAwait(false)
            : null;
    }
}
