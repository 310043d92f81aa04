using Postern.Core.Tenants;

namespace Postern.Tenants.Tests;

public sealed class VerifiedCredentialCacheTests
{
    [Fact]
    public void A_verified_password_is_remembered_for_its_hash_only_and_expires()
    {
        var time = new ManualTime();
        var cache = new VerifiedCredentialCache(time, TimeSpan.FromMinutes(10));
        cache.Remember("Alice@Example.com", "secret", "{ARGON2ID}hash1");
        Assert.True(cache.IsVerified("alice@example.com", "secret", "{ARGON2ID}hash1"));
        Assert.False(cache.IsVerified("alice@example.com", "Secret", "{ARGON2ID}hash1"));
        Assert.False(cache.IsVerified("bob@example.com", "secret", "{ARGON2ID}hash1"));
        Assert.False(cache.IsVerified("alice@example.com", "secret", "{ARGON2ID}hash2")); // password changed meanwhile
        cache.Remember("alice@example.com", "secret", "{ARGON2ID}hash1");
        time.Advance(TimeSpan.FromMinutes(11));
        Assert.False(cache.IsVerified("alice@example.com", "secret", "{ARGON2ID}hash1"));
    }

    [Fact]
    public void The_cache_stays_bounded()
    {
        var cache = new VerifiedCredentialCache(capacity: 10);
        for (var i = 0; i < 100; i++)
        {
            cache.Remember($"u{i}@example.com", "pw", "h");
        }

        Assert.True(cache.Count <= 10);
    }

    [Fact]
    public async Task Repeated_logins_hash_once_and_a_changed_password_is_checked_again()
    {
        using var d = new TestDirectory();
        await d.HostedDomainAsync();
        var hasher = new CountingHasher();
        var service = new DirectoryService(d.Store, hasher, TestDirectory.Lenient);
        await service.AddAccountAsync("alice@example.com", "secret-1", null, 0);
        var auth = new Authenticator(d.Store, hasher, new VerifiedCredentialCache());
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await auth.AuthenticateUserAsync("alice@example.com", "secret-1")).Succeeded);
        }

        Assert.Equal(1, hasher.Verifications);
        Assert.False((await auth.AuthenticateUserAsync("alice@example.com", "wrong")).Succeeded);
        Assert.False((await auth.AuthenticateUserAsync("alice@example.com", "wrong")).Succeeded);
        Assert.Equal(3, hasher.Verifications); // failures are never cached

        await service.SetPasswordAsync("alice@example.com", "secret-2");
        Assert.False((await auth.AuthenticateUserAsync("alice@example.com", "secret-1")).Succeeded);
        Assert.True((await auth.AuthenticateUserAsync("alice@example.com", "secret-2")).Succeeded);
    }

    private sealed class CountingHasher : IPasswordHasher
    {
        private int _verifications;

        public int Verifications => _verifications;

        public string Hash(string password) => "{T}" + password;

        public PasswordCheck Verify(string storedHash, string password)
        {
            Interlocked.Increment(ref _verifications);
            return storedHash == "{T}" + password ? PasswordCheck.Match : PasswordCheck.Mismatch;
        }

        public bool IsWellFormed(string storedHash, out string? error)
        {
            error = null;
            return true;
        }
    }

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 12, 7, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
