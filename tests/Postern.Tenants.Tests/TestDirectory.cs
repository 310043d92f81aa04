using Microsoft.Data.Sqlite;
using Postern.Core.Tenants;
using Postern.Storage.Sqlite.Tenants;

namespace Postern.Tenants.Tests;

/// <summary>A hasher for tests: fast and recognisable. The real schemes are tested in Postern.Passwords.Tests.</summary>
internal sealed class TestHasher : IPasswordHasher
{
    public string Hash(string password) => "{TEST}" + password;

    public PasswordCheck Verify(string storedHash, string password) =>
        storedHash == "{TEST}" + password ? PasswordCheck.Match : PasswordCheck.Mismatch;

    public bool IsWellFormed(string storedHash, out string? error)
    {
        error = storedHash.StartsWith("{TEST}", StringComparison.Ordinal) || storedHash.StartsWith("$6$", StringComparison.Ordinal) ? null : "unknown scheme";
        return error is null;
    }
}

/// <summary>A directory on a fresh SQLite data folder, with its services.</summary>
internal sealed class TestDirectory : IDisposable
{
    private readonly List<SqliteDirectoryStore> _extra = [];

    public TestDirectory()
    {
        Folder = Path.Combine(Path.GetTempPath(), "postern-tenants-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Folder);
        Store = SqliteDirectoryStore.Open(Folder);
        Service = new DirectoryService(Store, new TestHasher(), Lenient);
        Resolver = new RecipientResolver(Store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.Zero });
    }

    /// <summary>Directory rules as in production but for the password length, so tests can use short passwords.</summary>
    public static DirectoryServiceOptions Lenient { get; } = new() { MinimumPasswordLength = 1 };

    public string Folder { get; }

    public SqliteDirectoryStore Store { get; }

    public DirectoryService Service { get; }

    public RecipientResolver Resolver { get; }

    /// <summary>Another store on the same folder, as the command line beside a running server would open it.</summary>
    public SqliteDirectoryStore OpenSecondInstance()
    {
        var s = SqliteDirectoryStore.Open(Folder);
        _extra.Add(s);
        return s;
    }

    public async Task<MailDomain> HostedDomainAsync(string name = "example.com", string customer = "Example Inc")
    {
        if (await Store.FindCustomerAsync(customer, default) is null)
        {
            await Service.AddCustomerAsync(customer, null);
        }

        return await Service.AddDomainAsync(name, customer, DomainKind.Hosted, []);
    }

    public void Dispose()
    {
        Store.Dispose();
        foreach (var s in _extra)
        {
            s.Dispose();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(Folder, recursive: true);
    }
}
