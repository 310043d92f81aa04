using Microsoft.Data.Sqlite;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>
/// <see cref="SqliteDatabase"/>'s group commit: concurrent writers share one transaction and one WAL sync,
/// each in its own savepoint, and each is released only once the shared commit is done.
/// </summary>
public sealed class GroupCommitTests : IDisposable
{
    private static readonly SqliteMigration[] Schema = [new(1, "test table", "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);")];
    private readonly string _folder = SqliteStorageFactory.NewDataFolder();
    private readonly SqliteDatabase _db;

    public GroupCommitTests()
    {
        _db = new SqliteDatabase(Path.Combine(_folder, "t.db"), "test", Schema);
        _db.Migrate();
    }

    public void Dispose()
    {
        _db.Dispose();
        SqliteStorageFactory.DeleteFolder(_folder);
    }

    [Fact]
    public async Task Writers_queued_behind_a_busy_writer_share_one_commit_and_a_failing_one_fails_alone()
    {
        using var holding = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        var commitsBefore = _db.Commits;

        // The first writer leads and holds its transaction open until the others are queued.
        var first = Task.Run(() => _db.WriteAsync((c, tx) =>
        {
            entered.Set();
            holding.Wait(TimeSpan.FromSeconds(30));
            return c.Execute("INSERT INTO t (k, v) VALUES ('first', 1)", tx);
        }, CancellationToken.None));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));

        var good1 = _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('a', 1)", tx), CancellationToken.None);
        var bad = _db.WriteAsync<int>((c, tx) =>
        {
            c.Execute("INSERT INTO t (k, v) VALUES ('rolled back', 1)", tx);
            throw new InvalidOperationException("this unit fails");
        }, CancellationToken.None);
        var duplicate = _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('a', 2)", tx), CancellationToken.None);
        var good2 = _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('b', 1)", tx), CancellationToken.None);
        holding.Set();

        Assert.Equal(1, await first);
        Assert.Equal(1, await good1);
        Assert.Equal(1, await good2);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => bad);
        Assert.Equal("this unit fails", error.Message);
        var conflict = await Assert.ThrowsAsync<SqliteException>(() => duplicate);
        Assert.True(conflict.IsUniqueViolation());

        Assert.Equal(2, _db.Commits - commitsBefore); // the leader's, then one for all four queued behind it
        Assert.Equal(["a", "b", "first"], ReadKeys());
    }

    [Fact]
    public async Task Many_concurrent_writers_need_fewer_commits_than_writes_and_all_land()
    {
        var commitsBefore = _db.Commits;
        using var entered = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();

        // A leader holds its transaction open while the 400 arrive, so they are sure to meet (not merely likely to).
        var leader = Task.Run(() => _db.WriteAsync((c, tx) =>
        {
            entered.Set();
            holding.Wait(TimeSpan.FromSeconds(30));
            return c.Execute("INSERT INTO t (k, v) VALUES ('leader', 0)", tx);
        }, CancellationToken.None));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        var writes = Enumerable.Range(0, 400)
            .Select(i => _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ($k, $v)", tx, ("$k", $"k{i:D3}"), ("$v", i)), CancellationToken.None))
            .ToArray();
        holding.Set();

        await leader;
        await Task.WhenAll(writes);

        Assert.Equal(401, ReadKeys().Count);
        Assert.True(_db.Commits - commitsBefore < 400, $"{_db.Commits - commitsBefore} commits for 400 writes");
        Assert.True(_db.CommittedUnits >= 400);
    }

    [Fact]
    public async Task A_writer_is_released_only_after_its_commit_is_visible_to_a_fresh_connection()
    {
        var writes = Enumerable.Range(0, 50).Select(async i =>
        {
            await Task.Yield();
            await _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ($k, 0)", tx, ("$k", $"v{i}")), CancellationToken.None);
            using var other = new SqliteConnection($"Data Source={_db.Path};Pooling=False");
            other.Open();
            return other.Scalar<long>("SELECT COUNT(*) FROM t WHERE k = $k", null, ("$k", $"v{i}"));
        }).ToArray();

        Assert.All(await Task.WhenAll(writes), seen => Assert.Equal(1L, seen));
    }

    [Fact]
    public async Task A_cancelled_writer_that_has_not_started_writes_nothing()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            _db.WriteAsync((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('never', 0)", tx), cts.Token));

        Assert.Empty(ReadKeys());
    }

    [Fact]
    public void The_synchronous_write_waits_for_its_commit_and_rethrows_its_own_error()
    {
        Assert.Equal(1, _db.Write((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('sync', 0)", tx)));
        var error = Assert.Throws<SqliteException>(() => _db.Write((c, tx) => c.Execute("INSERT INTO t (k, v) VALUES ('sync', 1)", tx)));

        Assert.True(error.IsUniqueViolation());
        Assert.Equal(["sync"], ReadKeys());
    }

    private List<string> ReadKeys() => _db.Read(c => c.Query("SELECT k FROM t ORDER BY k", r => r.GetString(0)));
}
