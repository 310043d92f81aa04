using Microsoft.Data.Sqlite;
using Postern.Core.Storage;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Storage.Conformance.Tenants;
using Postern.Storage.Sqlite.Tenants;

namespace Postern.Storage.Sqlite.Tests.Tenants;

public sealed class SqliteDirectoryStoreTests : DirectoryStoreContract, IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-dir-" + Guid.NewGuid().ToString("N"));
    private readonly List<SqliteDirectoryStore> _stores = [];

    public SqliteDirectoryStoreTests() => Directory.CreateDirectory(_folder);

    protected override IDirectoryStore CreateStore()
    {
        var folder = Path.Combine(_folder, _stores.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(folder);
        var store = SqliteDirectoryStore.Open(folder);
        _stores.Add(store);
        return store;
    }

    public void Dispose()
    {
        foreach (var s in _stores)
        {
            s.Dispose();
        }

        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_second_instance_on_the_same_folder_sees_changes_and_the_stamp_moves_for_both()
    {
        var first = SqliteDirectoryStore.Open(_folder);
        var second = SqliteDirectoryStore.Open(_folder);
        _stores.Add(first);
        _stores.Add(second);
        var before = await first.GetChangeStampAsync(default);
        var customer = await second.AddCustomerAsync("C", null, default);
        await second.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse("shared.test"), DomainKind.Hosted, []), default);
        Assert.NotEqual(before, await first.GetChangeStampAsync(default));
        Assert.NotNull(await first.FindDomainAsync("shared.test", default));
    }

    [Fact]
    public async Task Concurrent_writers_from_two_instances_never_see_database_is_locked()
    {
        var first = SqliteDirectoryStore.Open(_folder);
        var second = SqliteDirectoryStore.Open(_folder);
        _stores.Add(first);
        _stores.Add(second);
        var customer = await first.AddCustomerAsync("C", null, default);
        var domain = await first.AddDomainAsync(new NewDomain(customer.Id, DomainName.Parse("busy.test"), DomainKind.Hosted, []), default);
        var tasks = Enumerable.Range(0, 200).Select(i => Task.Run(() => (i % 2 == 0 ? first : second)
            .AddAccountAsync(new NewAccount(domain.Id, "u" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), "", "{PLAIN}x", 0), default)));
        await Task.WhenAll(tasks);
        Assert.Equal(200, (await first.ListAccountsAsync(domain.Id, default)).Count);
    }

    [Fact]
    public void A_store_written_by_a_newer_build_is_refused_with_a_clear_message()
    {
        using (var store = SqliteDirectoryStore.Open(_folder))
        {
            store.Database.Write((c, tx) => c.Execute("PRAGMA user_version = 999", tx));
        }

        SqliteConnection.ClearAllPools();
        var e = Assert.Throws<StoreSchemaTooNewException>(() => SqliteDirectoryStore.Open(_folder));
        Assert.Equal(999, e.FoundVersion);
        Assert.Contains("newer Postern", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_database_is_in_wal_mode_with_full_synchronous_writes()
    {
        using var store = SqliteDirectoryStore.Open(_folder);
        using var c = store.Database.Open();
        Assert.Equal("wal", c.Scalar<string>("PRAGMA journal_mode"));
        Assert.Equal(2L, c.Scalar<long>("PRAGMA synchronous"));
    }
}
