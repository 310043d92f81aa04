using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.MessageLog;

namespace Postern.Storage.Sqlite.MessageLog;

/// <summary><see cref="IMessageLogStore"/> on log.db: one row per message and recipient, a batch per transaction.</summary>
public sealed class SqliteMessageLogStore : IMessageLogStore, IDisposable
{
    public const string FileName = "log.db";
    private readonly bool _ownsDatabase;

    public SqliteMessageLogStore(SqliteDatabase database)
        : this(database, ownsDatabase: false)
    {
    }

    private SqliteMessageLogStore(SqliteDatabase database, bool ownsDatabase)
    {
        Database = database;
        _ownsDatabase = ownsDatabase;
    }

    public static IReadOnlyList<SqliteMigration> Migrations { get; } =
    [
        new(1, "message log", """
            CREATE TABLE message_log (
                entry_id INTEGER PRIMARY KEY,
                time INTEGER NOT NULL,
                queue_id TEXT,
                message_id TEXT,
                client_ip TEXT,
                helo TEXT,
                reverse_path TEXT COLLATE NOCASE,
                recipient TEXT COLLATE NOCASE,
                size INTEGER NOT NULL,
                verdict TEXT NOT NULL,
                action TEXT NOT NULL,
                score REAL,
                detail TEXT,
                outcome TEXT
            );
            CREATE INDEX message_log_time ON message_log(time);
            CREATE INDEX message_log_queue ON message_log(queue_id) WHERE queue_id IS NOT NULL;
            CREATE INDEX message_log_message_id ON message_log(message_id) WHERE message_id IS NOT NULL;
            CREATE INDEX message_log_sender ON message_log(reverse_path);
            CREATE INDEX message_log_recipient ON message_log(recipient);
            """),
    ];

    /// <summary>log.db (for backups).</summary>
    public SqliteDatabase Database { get; }

    /// <summary>Opens (creating and migrating) <c>&lt;data&gt;/log.db</c>.</summary>
    public static SqliteMessageLogStore Open(string dataFolder, TimeSpan? busyTimeout = null)
    {
        System.IO.Directory.CreateDirectory(dataFolder);
        var db = new SqliteDatabase(Path.Combine(dataFolder, FileName), "message log", Migrations, busyTimeout);
        try
        {
            db.Migrate();
        }
        catch
        {
            db.Dispose();
            throw;
        }

        return new SqliteMessageLogStore(db, ownsDatabase: true);
    }

    public void Dispose()
    {
        if (_ownsDatabase)
        {
            Database.Dispose();
        }
    }

    public Task AppendBatchAsync(IReadOnlyList<MessageLogRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return Task.CompletedTask;
        }

        return Database.WriteAsync((c, tx) =>
        {
            using var cmd = c.Command(
                """
                INSERT INTO message_log (time, queue_id, message_id, client_ip, helo, reverse_path, recipient, size, verdict, action, score, detail, outcome)
                VALUES ($time, $q, $mid, $ip, $helo, $from, $to, $size, $verdict, $action, $score, $detail, $outcome)
                """,
                tx);
            var p = new[] { "$time", "$q", "$mid", "$ip", "$helo", "$from", "$to", "$size", "$verdict", "$action", "$score", "$detail", "$outcome" }
                .Select(name => cmd.Parameters.Add(new SqliteParameter { ParameterName = name }))
                .ToArray();
            foreach (var r in records)
            {
                object?[] values = [r.Time.ToUnixTimeMilliseconds(), r.QueueId, r.MessageId, r.ClientIp, r.Helo, r.ReversePath, r.Recipient, r.Size, r.Verdict, r.Action, r.Score, r.DetailJson, r.DeliveryOutcome];
                for (var i = 0; i < p.Length; i++)
                {
                    p[i].Value = values[i] ?? DBNull.Value;
                }

                cmd.ExecuteNonQuery();
            }

            return records.Count;
        }, cancellationToken);
    }

    public Task<MessageLogPage> SearchAsync(MessageLogQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, 1000);
        var where = new StringBuilder("1 = 1");
        var parameters = new List<(string, object?)> { ("$limit", limit + 1) };
        void Add(string condition, string name, object? value)
        {
            if (value is not null)
            {
                where.Append(" AND ").Append(condition);
                parameters.Add((name, value));
            }
        }

        Add("time >= $from", "$from", query.From?.ToUnixTimeMilliseconds());
        Add("time < $to", "$to", query.To?.ToUnixTimeMilliseconds());
        Add("reverse_path = $sender", "$sender", query.Sender);
        Add("recipient = $recipient", "$recipient", query.Recipient);
        Add("queue_id = $q", "$q", query.QueueId);
        Add("message_id = $mid", "$mid", query.MessageId);
        Add("entry_id < $before", "$before", query.BeforeEntryId);
        return Task.FromResult(Database.Read(c =>
        {
            var rows = c.Query(
                $"""
                SELECT entry_id, time, queue_id, message_id, client_ip, helo, reverse_path, recipient, size, verdict, action, score, detail, outcome
                FROM message_log WHERE {where} ORDER BY entry_id DESC LIMIT $limit
                """,
                r => new MessageLogEntry(r.GetInt64(0), new MessageLogRecord(
                    DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
                    r.GetNullableString(2),
                    r.GetNullableString(3),
                    r.GetNullableString(4),
                    r.GetNullableString(5),
                    r.GetNullableString(6),
                    r.GetNullableString(7),
                    r.GetInt64(8),
                    r.GetString(9),
                    r.GetString(10),
                    r.IsDBNull(11) ? null : r.GetDouble(11),
                    r.GetNullableString(12),
                    r.GetNullableString(13))),
                null,
                [.. parameters]);
            var page = rows.Take(limit).ToList();
            return new MessageLogPage(page, rows.Count > limit ? page[^1].EntryId : null);
        }));
    }

    public Task<int> SetDeliveryOutcomeAsync(string queueId, string? recipient, string outcome, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE message_log SET outcome = $o WHERE queue_id = $q AND ($r IS NULL OR recipient = $r)",
            tx,
            ("$o", outcome),
            ("$q", queueId),
            ("$r", recipient)), cancellationToken);

    public async Task<long> DeleteOlderThanAsync(DateTimeOffset cutoff, CancellationToken cancellationToken)
    {
        // In slices, so a large purge does not hold the write lock for long.
        long total = 0;
        while (true)
        {
            var deleted = await Database.WriteAsync((c, tx) => c.Execute(
                "DELETE FROM message_log WHERE entry_id IN (SELECT entry_id FROM message_log WHERE time < $cutoff LIMIT 5000)",
                tx,
                ("$cutoff", cutoff.ToUnixTimeMilliseconds())), cancellationToken).ConfigureAwait(false);
            total += deleted;
            if (deleted < 5000)
            {
                return total;
            }
        }
    }
}
