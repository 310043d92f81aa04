using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Queue;

namespace Postern.Storage.Sqlite.Queue;

/// <summary>
/// <see cref="IQueueStore"/> on queue.db. Claims are leases recorded on the recipient rows
/// (<c>lease_token</c>, <c>lease_until</c>); SQLite's single writer makes the claim atomic, where
/// PostgreSQL would use <c>FOR UPDATE SKIP LOCKED</c> over the same rows.
/// </summary>
public sealed class SqliteQueueStore : IQueueStore, IDisposable
{
    public const string FileName = "queue.db";
    private const string Alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ"; // 31 symbols; no vowels but Y, so no words
    private const string RecipientColumns = "recipient_id, queue_id, address, destination, notify, orcpt, state, attempts, next_attempt_at, last_error, completed_at, delay_warned";

    private readonly TimeProvider _time;
    private readonly bool _ownsDatabase;

    public SqliteQueueStore(SqliteDatabase database, TimeProvider? time = null)
        : this(database, time, ownsDatabase: false)
    {
    }

    private SqliteQueueStore(SqliteDatabase database, TimeProvider? time, bool ownsDatabase)
    {
        Database = database;
        _time = time ?? TimeProvider.System;
        _ownsDatabase = ownsDatabase;
    }

    public static IReadOnlyList<SqliteMigration> Migrations { get; } =
    [
        new(1, "queued messages and recipients", """
            CREATE TABLE queue_messages (
                queue_id TEXT PRIMARY KEY,
                reverse_path TEXT NOT NULL,
                blob_hash TEXT NOT NULL,
                size INTEGER NOT NULL,
                envid TEXT,
                ret INTEGER NOT NULL,
                require_tls INTEGER NOT NULL,
                smtputf8 INTEGER NOT NULL,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX queue_messages_blob ON queue_messages(blob_hash);
            CREATE TABLE queue_recipients (
                recipient_id INTEGER PRIMARY KEY,
                queue_id TEXT NOT NULL REFERENCES queue_messages(queue_id) ON DELETE CASCADE,
                address TEXT NOT NULL,
                destination TEXT NOT NULL,
                notify INTEGER NOT NULL,
                orcpt TEXT,
                state INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER NOT NULL,
                last_error TEXT,
                completed_at INTEGER,
                lease_token TEXT,
                lease_until INTEGER
            );
            CREATE INDEX queue_recipients_message ON queue_recipients(queue_id);
            CREATE INDEX queue_recipients_due ON queue_recipients(next_attempt_at) WHERE state IN (0, 1);
            """),
        new(2, "trace fields, delay warnings, per-destination operations", """
            ALTER TABLE queue_messages ADD COLUMN trace BLOB;
            ALTER TABLE queue_recipients ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX queue_recipients_destination ON queue_recipients(destination) WHERE state IN (0, 1);
            """),
        new(3, "delivery history", """
            CREATE TABLE queue_history (
                recipient_id INTEGER NOT NULL REFERENCES queue_recipients(recipient_id) ON DELETE CASCADE,
                queue_id TEXT NOT NULL,
                at INTEGER NOT NULL,
                outcome INTEGER NOT NULL,
                detail TEXT
            );
            CREATE INDEX queue_history_message ON queue_history(queue_id);
            CREATE INDEX queue_history_recipient ON queue_history(recipient_id);
            """),
    ];

    /// <summary>queue.db (for backups).</summary>
    public SqliteDatabase Database { get; }

    /// <summary>Opens (creating and migrating) <c>&lt;data&gt;/queue.db</c>.</summary>
    public static SqliteQueueStore Open(string dataFolder, TimeProvider? time = null, TimeSpan? busyTimeout = null)
    {
        System.IO.Directory.CreateDirectory(dataFolder);
        var db = new SqliteDatabase(Path.Combine(dataFolder, FileName), "queue", Migrations, busyTimeout);
        try
        {
            db.Migrate();
        }
        catch
        {
            db.Dispose();
            throw;
        }

        return new SqliteQueueStore(db, time, ownsDatabase: true);
    }

    public void Dispose()
    {
        if (_ownsDatabase)
        {
            Database.Dispose();
        }
    }

    public async Task<string> EnqueueAsync(NewQueuedMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("A queued message needs at least one recipient.", nameof(message));
        }

        var now = _time.GetUtcNow();
        var first = (message.FirstAttemptAt ?? now).ToUnixTimeMilliseconds();
        for (var attempt = 0; ; attempt++)
        {
            var queueId = attempt == 0 && message.PreferredQueueId is { Length: > 0 and <= 64 } preferred ? preferred : NewQueueId(now);
            try
            {
                return await Database.WriteAsync((c, tx) =>
                {
                    c.Execute(
                        """
                        INSERT INTO queue_messages (queue_id, reverse_path, blob_hash, size, envid, ret, require_tls, smtputf8, created_at, trace)
                        VALUES ($q, $rp, $b, $s, $e, $r, $tls, $utf8, $now, $trace)
                        """,
                        tx,
                        ("$q", queueId),
                        ("$rp", message.ReversePath),
                        ("$b", message.Blob.Hex),
                        ("$s", message.Size),
                        ("$e", message.EnvelopeId),
                        ("$r", (int)message.Return),
                        ("$tls", message.RequireTls),
                        ("$utf8", message.SmtpUtf8),
                        ("$now", now.ToUnixTimeMilliseconds()),
                        ("$trace", message.Trace.IsEmpty ? null : message.Trace.ToArray()));
                    foreach (var recipient in message.Recipients)
                    {
                        c.Execute(
                            "INSERT INTO queue_recipients (queue_id, address, destination, notify, orcpt, state, next_attempt_at) VALUES ($q, $a, $d, $n, $o, 0, $t)",
                            tx,
                            ("$q", queueId),
                            ("$a", recipient.Address),
                            ("$d", recipient.DestinationKey),
                            ("$n", (int)recipient.Notify),
                            ("$o", recipient.OriginalRecipient),
                            ("$t", first));
                    }

                    return queueId;
                }, cancellationToken).ConfigureAwait(false);
            }
            catch (SqliteException ex) when (ex.IsUniqueViolation() && attempt < 5)
            {
                // the preferred id is taken, or another message got the same id in the same second: draw again
            }
        }
    }

    public Task<IReadOnlyList<DeliveryClaim>> ClaimDueAsync(DateTimeOffset now, TimeSpan lease, int maxRecipients, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecipients, 1);
        var nowMs = now.ToUnixTimeMilliseconds();
        var until = now + lease;
        return Database.WriteAsync<IReadOnlyList<DeliveryClaim>>((c, tx) =>
        {
            var due = c.Query(
                """
                SELECT recipient_id, queue_id, destination FROM queue_recipients
                WHERE state IN (0, 1) AND next_attempt_at <= $now AND (lease_until IS NULL OR lease_until <= $now)
                ORDER BY next_attempt_at, recipient_id LIMIT $max
                """,
                r => (Id: r.GetInt64(0), QueueId: r.GetString(1), Destination: r.GetString(2)),
                tx,
                ("$now", nowMs),
                ("$max", maxRecipients));
            var claims = new List<DeliveryClaim>();
            foreach (var group in due.GroupBy(d => (d.QueueId, d.Destination)))
            {
                var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                foreach (var row in group)
                {
                    c.Execute(
                        "UPDATE queue_recipients SET lease_token = $t, lease_until = $u WHERE recipient_id = $id",
                        tx,
                        ("$t", token),
                        ("$u", until.ToUnixTimeMilliseconds()),
                        ("$id", row.Id));
                }

                var message = ReadMessage(c, tx, group.Key.QueueId)!;
                var ids = group.Select(g => g.Id).ToHashSet();
                claims.Add(new DeliveryClaim(token, until, message, group.Key.Destination, message.Recipients.Where(r => ids.Contains(r.RecipientId)).ToList()));
            }

            return claims;
        }, cancellationToken);
    }

    public Task<int> RenewLeaseAsync(string leaseToken, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE queue_recipients SET lease_until = $u WHERE lease_token = $t AND state IN (0, 1)",
            tx,
            ("$u", (now + lease).ToUnixTimeMilliseconds()),
            ("$t", leaseToken)), cancellationToken);

    public Task<bool> CompleteAsync(long recipientId, string leaseToken, CancellationToken cancellationToken) =>
        Finish(recipientId, leaseToken, RecipientState.Delivered, null, null, cancellationToken);

    public Task<bool> CompleteAsync(long recipientId, string leaseToken, string? detail, CancellationToken cancellationToken) =>
        Finish(recipientId, leaseToken, RecipientState.Delivered, detail, null, cancellationToken, keepError: false);

    public Task<IReadOnlyList<DeliveryAttemptRecord>> GetHistoryAsync(string queueId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<DeliveryAttemptRecord>>(Database.Read(c => c.Query(
            """
            SELECT h.recipient_id, r.address, h.at, h.outcome, h.detail FROM queue_history h
            JOIN queue_recipients r ON r.recipient_id = h.recipient_id
            WHERE h.queue_id = $q ORDER BY h.at, h.rowid
            """,
            r => new DeliveryAttemptRecord(r.GetInt64(0), r.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)), (RecipientState)r.GetInt32(3), r.GetNullableString(4)),
            null,
            ("$q", queueId))));

    public Task<bool> DeferAsync(long recipientId, string leaseToken, string error, DateTimeOffset nextAttemptAt, CancellationToken cancellationToken) =>
        Finish(recipientId, leaseToken, RecipientState.Deferred, error, nextAttemptAt, cancellationToken);

    public Task<bool> FailAsync(long recipientId, string leaseToken, string error, CancellationToken cancellationToken) =>
        Finish(recipientId, leaseToken, RecipientState.Failed, error, null, cancellationToken);

    public Task<QueuedMessage?> GetAsync(string queueId, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => ReadMessage(c, null, queueId)));

    public Task<QueuePage> ListAsync(QueueQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        var limit = Math.Clamp(query.Limit, 1, 1000);
        return Task.FromResult(Database.Read(c =>
        {
            var ids = c.Query(
                """
                SELECT q.queue_id FROM queue_messages q
                WHERE ($after IS NULL OR q.queue_id > $after)
                  AND ($state IS NULL OR EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.queue_id AND r.state = $state))
                  AND ($dest IS NULL OR EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.queue_id AND r.destination = $dest))
                  AND ($domain IS NULL OR EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue_id = q.queue_id AND r.address LIKE '%@' || $domain ESCAPE '\'))
                  AND ($before IS NULL OR q.created_at < $before)
                ORDER BY q.queue_id LIMIT $limit
                """,
                r => r.GetString(0),
                null,
                ("$after", query.AfterQueueId),
                ("$state", query.State is { } s ? (int)s : null),
                ("$dest", query.DestinationKey),
                ("$domain", query.Domain is null ? null : EscapeLike(query.Domain.ToLowerInvariant())),
                ("$before", query.CreatedBefore?.ToUnixTimeMilliseconds()),
                ("$limit", limit + 1));
            var messages = ids.Take(limit).Select(id => ReadMessage(c, null, id)!).ToList();
            return new QueuePage(messages, ids.Count > limit ? messages[^1].QueueId : null);
        }));
    }

    public Task<IReadOnlyDictionary<RecipientState, long>> CountByStateAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<RecipientState, long>>(Database.Read(c => c.Query(
            "SELECT state, COUNT(*) FROM queue_recipients GROUP BY state",
            r => (State: (RecipientState)r.GetInt32(0), Count: r.GetInt64(1))).ToDictionary(x => x.State, x => x.Count)));

    public Task<int> RetryNowAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE queue_recipients SET next_attempt_at = $now WHERE queue_id = $q AND state IN (0, 1) AND next_attempt_at > $now",
            tx,
            ("$now", now.ToUnixTimeMilliseconds()),
            ("$q", queueId)), cancellationToken);

    public Task<int> HoldAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE queue_recipients SET state = 4 WHERE queue_id = $q AND state IN (0, 1) AND (lease_until IS NULL OR lease_until <= $now)",
            tx,
            ("$q", queueId),
            ("$now", now.ToUnixTimeMilliseconds())), cancellationToken);

    public Task<int> ReleaseAsync(string queueId, DateTimeOffset now, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE queue_recipients SET state = 0, next_attempt_at = $now, lease_token = NULL, lease_until = NULL WHERE queue_id = $q AND state = 4",
            tx,
            ("$q", queueId),
            ("$now", now.ToUnixTimeMilliseconds())), cancellationToken);

    public Task<int> PostponeDestinationAsync(string destinationKey, DateTimeOffset notBefore, DateTimeOffset now, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            """
            UPDATE queue_recipients SET next_attempt_at = $nb
            WHERE destination = $d AND state IN (0, 1) AND next_attempt_at < $nb AND (lease_until IS NULL OR lease_until <= $now)
            """,
            tx,
            ("$d", destinationKey),
            ("$nb", notBefore.ToUnixTimeMilliseconds()),
            ("$now", now.ToUnixTimeMilliseconds())), cancellationToken);

    public Task<int> RetryDestinationNowAsync(string destinationKey, DateTimeOffset now, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE queue_recipients SET next_attempt_at = $now WHERE destination = $d AND state IN (0, 1) AND next_attempt_at > $now",
            tx,
            ("$d", destinationKey),
            ("$now", now.ToUnixTimeMilliseconds())), cancellationToken);

    public Task<int> MarkDelayWarnedAsync(IReadOnlyCollection<long> recipientIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipientIds);
        return Database.WriteAsync((c, tx) => recipientIds.Sum(id => c.Execute(
            "UPDATE queue_recipients SET delay_warned = 1 WHERE recipient_id = $id AND delay_warned = 0", tx, ("$id", id))), cancellationToken);
    }

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    public Task<bool> DeleteAsync(string queueId, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute("DELETE FROM queue_messages WHERE queue_id = $q", tx, ("$q", queueId)) == 1, cancellationToken);

    public Task<bool> ReferencesBlobAsync(BlobId blob, CancellationToken cancellationToken) => Task.FromResult(ReferencesBlob(blob));

    /// <summary>Synchronous form for the blob collector, which asks inside mailbox.db's write transaction.</summary>
    public bool ReferencesBlob(BlobId blob) =>
        Database.Read(c => c.Scalar<long?>("SELECT 1 FROM queue_messages WHERE blob_hash = $b LIMIT 1", null, ("$b", blob.Hex))) is not null;

    private Task<bool> Finish(long recipientId, string leaseToken, RecipientState state, string? error, DateTimeOffset? next, CancellationToken cancellationToken, bool keepError = true)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return Database.WriteAsync((c, tx) =>
        {
            var changed = c.Execute(
                """
                UPDATE queue_recipients
                SET state = $s, attempts = attempts + 1, last_error = $e, next_attempt_at = COALESCE($next, next_attempt_at),
                    completed_at = CASE WHEN $s IN (2, 3) THEN $now ELSE NULL END, lease_token = NULL, lease_until = NULL
                WHERE recipient_id = $id AND lease_token = $t AND state IN (0, 1)
                """,
                tx,
                ("$s", (int)state),
                ("$e", keepError ? error : null),
                ("$next", next?.ToUnixTimeMilliseconds()),
                ("$now", now),
                ("$id", recipientId),
                ("$t", leaseToken)) == 1;
            if (changed)
            {
                c.Execute(
                    "INSERT INTO queue_history (recipient_id, queue_id, at, outcome, detail) SELECT recipient_id, queue_id, $now, $s, $e FROM queue_recipients WHERE recipient_id = $id",
                    tx,
                    ("$now", now),
                    ("$s", (int)state),
                    ("$e", error),
                    ("$id", recipientId));
            }

            return changed;
        }, cancellationToken);
    }

    private static QueuedMessage? ReadMessage(SqliteConnection c, SqliteTransaction? tx, string queueId)
    {
        var recipients = c.Query(
            $"SELECT {RecipientColumns} FROM queue_recipients WHERE queue_id = $q ORDER BY recipient_id",
            r => new QueuedRecipient(
                r.GetInt64(0),
                r.GetString(1),
                r.GetString(2),
                r.GetString(3),
                (DsnNotify)r.GetInt32(4),
                r.GetNullableString(5),
                (RecipientState)r.GetInt32(6),
                r.GetInt32(7),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
                r.GetNullableString(9),
                r.GetNullableTime(10))
            {
                DelayWarned = r.GetBoolean(11),
            },
            tx,
            ("$q", queueId));
        return c.Query(
            "SELECT queue_id, reverse_path, blob_hash, size, envid, ret, require_tls, smtputf8, created_at, trace FROM queue_messages WHERE queue_id = $q",
            r => new QueuedMessage(
                r.GetString(0),
                r.GetString(1),
                BlobId.Parse(r.GetString(2)),
                r.GetInt64(3),
                r.GetNullableString(4),
                (DsnReturn)r.GetInt32(5),
                r.GetBoolean(6),
                r.GetBoolean(7),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
                recipients)
            {
                Trace = r.IsDBNull(9) ? ReadOnlyMemory<byte>.Empty : (byte[])r.GetValue(9),
            },
            tx,
            ("$q", queueId)).FirstOrDefault();
    }

    /// <summary>Seven symbols of the Unix second (sortable by time) and five random ones: 12 characters.</summary>
    private static string NewQueueId(DateTimeOffset now)
    {
        Span<char> id = stackalloc char[12];
        var seconds = now.ToUnixTimeSeconds();
        for (var i = 6; i >= 0; i--)
        {
            id[i] = Alphabet[(int)(seconds % Alphabet.Length)];
            seconds /= Alphabet.Length;
        }

        for (var i = 7; i < 12; i++)
        {
            id[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
        }

        return new string(id);
    }
}
