using Postern.Core.Tenants;

namespace Postern.Tenants.Tests;

public sealed class AuthenticatorTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    /// <summary>Treats "{OLD}" hashes as a weak scheme that matches and asks for a rehash, like an imported SHA512-CRYPT.</summary>
    private sealed class UpgradingHasher : IPasswordHasher
    {
        public string Hash(string password) => "{NEW}" + password;

        public PasswordCheck Verify(string storedHash, string password) => storedHash switch
        {
            _ when storedHash == "{NEW}" + password => PasswordCheck.Match,
            _ when storedHash == "{OLD}" + password => PasswordCheck.MatchNeedsRehash,
            _ when storedHash.StartsWith("{BROKEN}", StringComparison.Ordinal) => PasswordCheck.Unusable,
            _ => PasswordCheck.Mismatch,
        };

        public bool IsWellFormed(string storedHash, out string? error)
        {
            error = null;
            return true;
        }
    }

    [Fact]
    public async Task A_weak_imported_hash_is_replaced_at_the_first_successful_sign_in()
    {
        await _d.HostedDomainAsync();
        var service = new DirectoryService(_d.Store, new UpgradingHasher(), TestDirectory.Lenient);
        await service.AddAccountWithHashAsync("old@example.com", "{OLD}secret", null, 0);
        await service.AddAliasAsync("o@example.com", "old@example.com");
        var auth = new Authenticator(_d.Store, new UpgradingHasher());

        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateUserAsync("old@example.com", "wrong")).Outcome);
        Assert.Equal("{OLD}secret", (await service.RequireAccountAsync("old@example.com")).Account.PasswordHash);

        var first = await auth.AuthenticateUserAsync("OLD@example.com", "secret");
        Assert.True(first.Succeeded);
        Assert.True(first.Rehashed);
        Assert.Equal("{NEW}secret", (await service.RequireAccountAsync("old@example.com")).Account.PasswordHash);

        var second = await auth.AuthenticateUserAsync("o@example.com", "secret");
        Assert.True(second.Succeeded);
        Assert.False(second.Rehashed);
    }

    [Fact]
    public async Task Unknown_users_disabled_accounts_and_unusable_hashes_are_told_apart_only_internally()
    {
        await _d.HostedDomainAsync();
        var service = new DirectoryService(_d.Store, new UpgradingHasher(), TestDirectory.Lenient);
        await service.AddAccountWithHashAsync("off@example.com", "{NEW}pw", null, 0);
        await service.SetDisabledAsync("off@example.com", true);
        await service.AddAccountWithHashAsync("broken@example.com", "{BROKEN}x", null, 0);
        var auth = new Authenticator(_d.Store, new UpgradingHasher());
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateUserAsync("ghost@example.com", "pw")).Outcome);
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateUserAsync("not an address", "pw")).Outcome);
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateUserAsync("off@example.com", "wrong")).Outcome);
        Assert.Equal(AuthenticationOutcome.Disabled, (await auth.AuthenticateUserAsync("off@example.com", "pw")).Outcome);
        Assert.Equal(AuthenticationOutcome.Unusable, (await auth.AuthenticateUserAsync("broken@example.com", "pw")).Outcome);
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateUserAsync("off@example.com", string.Empty)).Outcome);
    }

    [Fact]
    public async Task Admins_sign_in_by_login_ignoring_case()
    {
        await _d.Service.AddAdminAsync("Ops", "admin-pw", [BuiltInRoles.ReadOnly], Scope.Global);
        var auth = new Authenticator(_d.Store, new TestHasher());
        Assert.True((await auth.AuthenticateAdminAsync("ops", "admin-pw")).Succeeded);
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateAdminAsync("ops", "nope")).Outcome);
        Assert.Equal(AuthenticationOutcome.Failed, (await auth.AuthenticateAdminAsync("nobody", "admin-pw")).Outcome);
    }
}
