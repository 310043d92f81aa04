using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.KeyValue;

namespace Postern.Storage.Sqlite.KeyValue;

/// <summary><see cref="IKeyValueStore"/> on kv.db. "Now" comes from the injected <see cref="TimeProvider"/>.</summary>
public sealed class SqliteKeyValueStore : IKeyValueStore, IDisposable
{
    public const string FileName = "kv.db";
    private readonly TimeProvider _time;
    private readonly bool _ownsDatabase;

    public SqliteKeyValueStore(SqliteDatabase database, TimeProvider? time = null)
        : this(database, time, ownsDatabase: false)
    {
    }

    private SqliteKeyValueStore(SqliteDatabase database, TimeProvider? time, bool ownsDatabase)
    {
        Database = database;
        _time = time ?? TimeProvider.System;
        _ownsDatabase = ownsDatabase;
    }

    public static IReadOnlyList<SqliteMigration> Migrations { get; } =
    [
        new(1, "key-value entries", """
            CREATE TABLE kv (
                key TEXT PRIMARY KEY,
                value BLOB NOT NULL,
                version INTEGER NOT NULL,
                expires_at INTEGER
            ) WITHOUT ROWID;
            CREATE INDEX kv_expiry ON kv(expires_at) WHERE expires_at IS NOT NULL;
            """),
    ];

    /// <summary>kv.db (for backups).</summary>
    public SqliteDatabase Database { get; }

    /// <summary>Opens (creating and migrating) <c>&lt;data&gt;/kv.db</c>.</summary>
    public static SqliteKeyValueStore Open(string dataFolder, TimeProvider? time = null, TimeSpan? busyTimeout = null)
    {
        System.IO.Directory.CreateDirectory(dataFolder);
        var db = new SqliteDatabase(Path.Combine(dataFolder, FileName), "key-value", Migrations, busyTimeout);
        try
        {
            db.Migrate();
        }
        catch
        {
            db.Dispose();
            throw;
        }

        return new SqliteKeyValueStore(db, time, ownsDatabase: true);
    }

    public void Dispose()
    {
        if (_ownsDatabase)
        {
            Database.Dispose();
        }
    }

    public Task<KeyValueEntry?> GetAsync(string key, CancellationToken cancellationToken)
    {
        var now = Now;
        return Task.FromResult(Database.Read(c => Live(c, null, key, now)));
    }

    public Task SetAsync(string key, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Database.WriteAsync((c, tx) => Put(c, tx, key, value.ToArray(), expiresAt), cancellationToken);
    }

    public Task<long> IncrementAsync(string key, long delta, DateTimeOffset? expiresAtIfNew, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = Now;
        return Database.WriteAsync((c, tx) =>
        {
            var current = Live(c, tx, key, now);
            long count = 0;
            var expiry = expiresAtIfNew;
            if (current is not null)
            {
                if (!long.TryParse(Encoding.ASCII.GetString(current.Value.Span), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out count))
                {
                    throw new InvalidOperationException($"The key '{key}' holds a value that is not a counter.");
                }

                expiry = current.ExpiresAt;
            }

            count = checked(count + delta);
            Put(c, tx, key, Encoding.ASCII.GetBytes(count.ToString(CultureInfo.InvariantCulture)), expiry);
            return count;
        }, cancellationToken);
    }

    public Task<bool> CompareAndSetAsync(string key, long expectedVersion, ReadOnlyMemory<byte> value, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = Now;
        return Database.WriteAsync((c, tx) =>
        {
            var current = Live(c, tx, key, now);
            if ((current?.Version ?? 0) != expectedVersion)
            {
                return false;
            }

            Put(c, tx, key, value.ToArray(), expiresAt);
            return true;
        }, cancellationToken);
    }

    public Task<bool> DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var now = Now;
        return Database.WriteAsync((c, tx) =>
        {
            var live = Live(c, tx, key, now) is not null;
            c.Execute("DELETE FROM kv WHERE key = $k", tx, ("$k", key));
            return live;
        }, cancellationToken);
    }

    public Task<long> PurgeExpiredAsync(CancellationToken cancellationToken)
    {
        var now = Now;
        return Database.WriteAsync((c, tx) => (long)c.Execute("DELETE FROM kv WHERE expires_at <= $now", tx, ("$now", now)), cancellationToken);
    }

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private static KeyValueEntry? Live(SqliteConnection c, SqliteTransaction? tx, string key, long now) =>
        c.Query(
            "SELECT value, version, expires_at FROM kv WHERE key = $k AND (expires_at IS NULL OR expires_at > $now)",
            r => new KeyValueEntry((byte[])r.GetValue(0), r.GetInt64(1), r.GetNullableTime(2)),
            tx,
            ("$k", key),
            ("$now", now)).FirstOrDefault();

    /// <summary>Writes the value; the version grows past any earlier one of the row (a deleted or purged key starts again at 1).</summary>
    private static int Put(SqliteConnection c, SqliteTransaction tx, string key, byte[] value, DateTimeOffset? expiresAt) =>
        c.Execute(
            """
            INSERT INTO kv (key, value, version, expires_at) VALUES ($k, $v, 1, $e)
            ON CONFLICT (key) DO UPDATE SET value = excluded.value, version = kv.version + 1, expires_at = excluded.expires_at
            """,
            tx,
            ("$k", key),
            ("$v", value),
            ("$e", expiresAt?.ToUnixTimeMilliseconds()));
}
