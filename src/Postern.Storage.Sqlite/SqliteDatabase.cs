using Microsoft.Data.Sqlite;
using Postern.Core.Storage;

namespace Postern.Storage.Sqlite;

/// <summary>One schema step: applied in its own transaction, after which <c>PRAGMA user_version</c> is <see cref="Version"/>.</summary>
public sealed record SqliteMigration(int Version, string Description, string Sql);

/// <summary>
/// One SQLite database file of the embedded backend, in WAL mode with <c>synchronous=FULL</c>.
/// Writers run in <c>BEGIN IMMEDIATE</c> transactions, serialised inside the process by a gate
/// (so they do not spin on SQLite's busy handler) and across processes (the CLI next to a running
/// server) by SQLite's own lock with a busy timeout. Connections come from the pool per operation:
/// an idle session holds none.
/// </summary>
public sealed class SqliteDatabase : IDisposable
{
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly IReadOnlyList<SqliteMigration> _migrations;
    private readonly string _connectionString;

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

    /// <summary>Brings the file to <see cref="KnownSchemaVersion"/>; refuses a file from a newer build.</summary>
    /// <returns>The schema version before migration.</returns>
    public int Migrate()
    {
        using var connection = Open();
        using (var wal = connection.CreateCommand())
        {
            wal.CommandText = "PRAGMA journal_mode=WAL;";
            wal.ExecuteNonQuery();
        }

        var before = ReadUserVersion(connection);
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

            _writeGate.Wait();
            try
            {
                using var tx = connection.BeginTransaction(deferred: false);
                var current = ReadUserVersion(connection, tx);
                if (current >= migration.Version)
                {
                    tx.Rollback();
                    continue; // another process migrated meanwhile
                }

                using (var cmd = connection.CreateCommand())
                {
                    cmd.Transaction = tx;
                    cmd.CommandText = migration.Sql + $"\nPRAGMA user_version = {migration.Version};";
                    cmd.ExecuteNonQuery();
                }

                tx.Commit();
            }
            finally
            {
                _writeGate.Release();
            }
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

    /// <summary>Runs <paramref name="work"/> in a <c>BEGIN IMMEDIATE</c> transaction and commits it durably.</summary>
    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> work)
    {
        _writeGate.Wait();
        try
        {
            return RunInTransaction(work);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Like <see cref="Write{T}"/>, waiting for the in-process gate asynchronously.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> work, CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return RunInTransaction(work);
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private T RunInTransaction<T>(Func<SqliteConnection, SqliteTransaction, T> work)
    {
        using var connection = Open();
        using var tx = connection.BeginTransaction(deferred: false);
        var result = work(connection, tx);
        tx.Commit();
        return result;
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

    public void Dispose() => _writeGate.Dispose();

    private static int ReadUserVersion(SqliteConnection connection, SqliteTransaction? tx = null)
    {
        using var cmd = connection.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "PRAGMA user_version;";
        return Convert.ToInt32(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
