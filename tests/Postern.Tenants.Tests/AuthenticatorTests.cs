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

    /// <summary>Counts the password checks: an unknown user must cost one, like a known one.</summary>
    private sealed class CountingHasher : IPasswordHasher
    {
        public int Verifications { get; private set; }

        public string Hash(string password) => "{NEW}" + password;

        public PasswordCheck Verify(string storedHash, string password)
        {
            Verifications++;
            return storedHash == "{NEW}" + password ? PasswordCheck.Match : PasswordCheck.Mismatch;
        }

        public bool IsWellFormed(string storedHash, out string? error)
        {
            error = null;
            return true;
        }
    }

    [Theory]
    [InlineData("nobody@example.com")]
    [InlineData("nobody@unknown-domain.test")]
    [InlineData("not an address")]
    public async Task An_unknown_user_costs_the_same_one_password_check_as_a_wrong_password(string login)
    {
        await _d.HostedDomainAsync();
        var hasher = new CountingHasher();
        var service = new DirectoryService(_d.Store, hasher, TestDirectory.Lenient);
        await service.AddAccountWithHashAsync("real@example.com", "{NEW}pw", null, 0);
        var auth = new Authenticator(_d.Store, hasher);

        var before = hasher.Verifications;
        Assert.False((await auth.AuthenticateUserAsync("real@example.com", "wrong")).Succeeded);
        var forKnown = hasher.Verifications - before;
        before = hasher.Verifications;
        Assert.False((await auth.AuthenticateUserAsync(login, "wrong")).Succeeded);
        Assert.Equal(1, forKnown);
        Assert.Equal(forKnown, hasher.Verifications - before);
    }

    [Fact]
    public async Task An_authorization_identity_is_found_by_address_or_alias_but_never_when_disabled()
    {
        await _d.HostedDomainAsync();
        var service = new DirectoryService(_d.Store, new UpgradingHasher(), TestDirectory.Lenient);
        await service.AddAccountWithHashAsync("boss@example.com", "{NEW}pw", null, 0);
        await service.AddAliasAsync("chief@example.com", "boss@example.com");
        await service.AddAccountWithHashAsync("gone@example.com", "{NEW}pw", null, 0);
        await service.SetDisabledAsync("gone@example.com", true);
        var auth = new Authenticator(_d.Store, new UpgradingHasher());
        Assert.Equal("boss", (await auth.FindUserAsync("chief@example.com"))?.LocalPart);
        Assert.Null(await auth.FindUserAsync("gone@example.com"));
        Assert.Null(await auth.FindUserAsync("nobody@example.com"));
    }
}
