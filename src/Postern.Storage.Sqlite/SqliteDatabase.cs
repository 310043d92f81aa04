using Microsoft.Data.Sqlite;
using Postern.Core.Storage;

namespace Postern.Storage.Sqlite;

/// <summary>One schema step: applied in its own transaction, after which <c>PRAGMA user_version</c> is <see cref="Version"/>.</summary>
public sealed record SqliteMigration(int Version, string Description, string Sql);

/// <summary>
/// One SQLite database file of the embedded backend, in WAL mode with <c>synchronous=FULL</c>.
/// Writes are group-committed: each <see cref="Write{T}"/> or <see cref="WriteAsync{T}"/> is a unit of
/// work queued for this database; one writer at a time takes every queued unit, runs them in one
/// <c>BEGIN IMMEDIATE</c> transaction, each inside its own savepoint (a unit that throws is rolled back to
/// its savepoint and fails alone), commits once (one WAL sync for the whole group), and only then
/// completes each caller. So a caller is never told "done" before its work is durable, and concurrent
/// callers share one fsync. The writer is the caller that found no writer running (its own unit goes
/// first); when more units are waiting after its group, it hands the rest to the thread pool.
/// Across processes (the CLI next to a running server) SQLite's own lock with a busy timeout serialises
/// the writers. Connections come from the pool per operation: an idle session holds none.
/// </summary>
public sealed class SqliteDatabase : IDisposable
{
    /// <summary>Units per group commit at most, so one commit never grows without bound.</summary>
    public const int MaxUnitsPerCommit = 256;

    private const string UnitSavepoint = "unit";
    private readonly Lock _queueLock = new();
    private readonly IReadOnlyList<SqliteMigration> _migrations;
    private readonly string _connectionString;
    private List<WriteUnit> _pending = [];
    private bool _writing;
    private bool _disposed;
    private long _commits;
    private long _committedUnits;

    public SqliteDatabase(string path, string name, IReadOnlyList<SqliteMigration> migrations, TimeSpan? busyTimeout = null)
    {
        Path = path;
        Name = name;
        _migrations = migrations.OrderBy(m => m.Version).ToArray();
        BusyTimeout = busyTimeout ?? TimeSpan.FromSeconds(15);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = (int)Math.Ceiling(BusyTimeout.TotalSeconds),
        }.ToString();
    }

    public string Path { get; }

    /// <summary>The store's name, used in messages ("directory", "mailbox", ...).</summary>
    public string Name { get; }

    public TimeSpan BusyTimeout { get; }

    /// <summary>The newest schema version this build knows.</summary>
    public int KnownSchemaVersion => _migrations.Count == 0 ? 0 : _migrations[^1].Version;

    /// <summary>Write transactions committed by this instance so far (each is one WAL sync).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Units of work those commits carried (so <c>CommittedUnits / Commits</c> is the mean group size).</summary>
    public long CommittedUnits => Interlocked.Read(ref _committedUnits);

    /// <summary>Brings the file to <see cref="KnownSchemaVersion"/>; refuses a file from a newer build.</summary>
    /// <returns>The schema version before migration.</returns>
    public int Migrate()
    {
        int before;
        using (var connection = Open())
        {
            using (var wal = connection.CreateCommand())
            {
                wal.CommandText = "PRAGMA journal_mode=WAL;";
                wal.ExecuteNonQuery();
            }

            before = ReadUserVersion(connection);
        }

        if (before > KnownSchemaVersion)
        {
            throw new StoreSchemaTooNewException(Name, before, KnownSchemaVersion);
        }

        foreach (var migration in _migrations)
        {
            if (migration.Version <= before)
            {
                continue;
            }

            Write((connection, tx) =>
            {
                if (ReadUserVersion(connection, tx) >= migration.Version)
                {
                    return 0; // another process migrated meanwhile
                }

                using var cmd = connection.CreateCommand();
                cmd.Transaction = tx;
                cmd.CommandText = migration.Sql + $"\nPRAGMA user_version = {migration.Version};";
                cmd.ExecuteNonQuery();
                return 0;
            });
        }

        return before;
    }

    /// <summary>The schema version of the file as it is now.</summary>
    public int SchemaVersion()
    {
        using var connection = Open();
        return ReadUserVersion(connection);
    }

    /// <summary>Opens a pooled connection with the per-connection settings applied.</summary>
    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = $"PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout={(int)BusyTimeout.TotalMilliseconds};";
        cmd.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Runs a read on its own connection (WAL readers never block the writer).</summary>
    public T Read<T>(Func<SqliteConnection, T> query)
    {
        using var connection = Open();
        return query(connection);
    }

    /// <summary>
    /// Runs <paramref name="work"/> in a <c>BEGIN IMMEDIATE</c> transaction (shared with concurrent writers,
    /// inside its own savepoint) and returns once that transaction is durably committed.
    /// </summary>
    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> work)
    {
        var unit = new WriteUnit<T>(work, CancellationToken.None);
        Submit(unit);
        return unit.Task.GetAwaiter().GetResult();
    }

    /// <summary>Like <see cref="Write{T}"/>, waiting for the commit asynchronously. Cancellation counts only until the unit starts.</summary>
    public Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<T>(cancellationToken);
        }

        var unit = new WriteUnit<T>(work, cancellationToken);
        Submit(unit);
        return unit.Task;
    }

    /// <summary>Queues the unit; when no writer is running, the caller becomes the writer for one group.</summary>
    private void Submit(WriteUnit unit)
    {
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _pending.Add(unit);
            if (_writing)
            {
                return;
            }

            _writing = true;
        }

        // This caller leads: its unit is first in the queue, so the first group holds it.
        if (TakeGroup() is { } group)
        {
            CommitGroup(group);
        }

        lock (_queueLock)
        {
            if (_pending.Count == 0)
            {
                _writing = false;
                return;
            }
        }

        // Others queued meanwhile: commit them from the thread pool, so this caller is not held up.
        ThreadPool.UnsafeQueueUserWorkItem(static db => db.Drain(), this, preferLocal: false);
    }

    private void Drain()
    {
        while (TakeGroup() is { } group)
        {
            CommitGroup(group);
        }
    }

    /// <summary>The next group to commit, or null (and no writer running any more) when none is waiting.</summary>
    private List<WriteUnit>? TakeGroup()
    {
        lock (_queueLock)
        {
            if (_pending.Count == 0)
            {
                _writing = false;
                return null;
            }

            if (_pending.Count <= MaxUnitsPerCommit)
            {
                var all = _pending;
                _pending = [];
                return all;
            }

            var group = _pending.GetRange(0, MaxUnitsPerCommit);
            _pending.RemoveRange(0, MaxUnitsPerCommit);
            return group;
        }
    }

    /// <summary>Runs the units in one transaction, one savepoint each, commits once, then completes them.</summary>
    private void CommitGroup(List<WriteUnit> group)
    {
        var live = new List<WriteUnit>(group.Count);
        foreach (var unit in group)
        {
            if (unit.Cancellation.IsCancellationRequested)
            {
                unit.Cancel();
            }
            else
            {
                live.Add(unit);
            }
        }

        if (live.Count == 0)
        {
            return;
        }

        var failedUnits = 0;
        try
        {
            using var connection = Open();
            using var tx = connection.BeginTransaction(deferred: false);
            if (live.Count == 1)
            {
                RunAlone(live[0], connection, tx);
            }
            else
            {
                foreach (var unit in live)
                {
                    tx.Save(UnitSavepoint);
                    try
                    {
                        unit.Run(connection, tx);
                    }
                    catch (Exception error)
                    {
                        unit.Error = error;
                        failedUnits++;
                        tx.Rollback(UnitSavepoint); // throws when SQLite already rolled the whole transaction back
                    }

                    tx.Release(UnitSavepoint);
                }
            }

            tx.Commit();
        }
        catch (Exception error)
        {
            // Nothing of this group is committed. A unit that failed keeps its own error; when one unit's
            // failure took the whole transaction down, the others are committed again, each alone.
            var innocent = live.Where(u => u.Error is null).ToList();
            foreach (var unit in live.Where(u => u.Error is not null))
            {
                unit.Fail(unit.Error!);
            }

            if (failedUnits > 0 && live.Count > 1)
            {
                foreach (var unit in innocent)
                {
                    CommitGroup([unit]);
                }
            }
            else
            {
                foreach (var unit in innocent)
                {
                    unit.Fail(error);
                }
            }

            return;
        }

        Interlocked.Increment(ref _commits);
        Interlocked.Add(ref _committedUnits, live.Count - failedUnits);
        foreach (var unit in live)
        {
            if (unit.Error is { } error)
            {
                unit.Fail(error);
            }
            else
            {
                unit.Succeed();
            }
        }
    }

    private static void RunAlone(WriteUnit unit, SqliteConnection connection, SqliteTransaction tx)
    {
        try
        {
            unit.Run(connection, tx);
        }
        catch (Exception error)
        {
            unit.Error = error;
            throw;
        }
    }

    /// <summary>Copies the database into <paramref name="destinationPath"/> with SQLite's online backup (safe while others write).</summary>
    public void BackupTo(string destinationPath)
    {
        using var source = Open();
        var builder = new SqliteConnectionStringBuilder { DataSource = destinationPath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false };
        using var destination = new SqliteConnection(builder.ToString());
        destination.Open();
        source.BackupDatabase(destination);
    }

    public void Dispose()
    {
        lock (_queueLock)
        {
            _disposed = true;
        }
    }

    private static int ReadUserVersion(SqliteConnection connection, SqliteTransaction? tx = null)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>One caller's work in a group commit.</summary>
    private abstract class WriteUnit(CancellationToken cancellation)
    {
        public CancellationToken Cancellation { get; } = cancellation;

        /// <summary>Set when the work threw: it was rolled back to its savepoint and fails alone.</summary>
        public Exception? Error { get; set; }

        public abstract void Run(SqliteConnection connection, SqliteTransaction tx);

        public abstract void Succeed();

        public abstract void Fail(Exception error);

        public abstract void Cancel();
    }

    private sealed class WriteUnit<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellation) : WriteUnit(cancellation)
    {
        // Continuations run on the thread pool, never inline on the writer.
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _done.Task;

        public override void Run(SqliteConnection connection, SqliteTransaction tx) => _result = work(connection, tx);

        public override void Succeed() => _done.TrySetResult(_result!);

        public override void Fail(Exception error) => _done.TrySetException(error);

        public override void Cancel() => _done.TrySetCanceled(Cancellation);
    }
}
