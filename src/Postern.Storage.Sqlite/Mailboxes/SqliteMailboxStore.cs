using Microsoft.Data.Sqlite;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Storage.Sqlite.Blobs;

namespace Postern.Storage.Sqlite.Mailboxes;

/// <summary>
/// <see cref="IMailboxStore"/> on mailbox.db. Every write is one <c>BEGIN IMMEDIATE</c> transaction; changes are
/// published to subscribers of this instance after commit (another process's changes are not seen: IMAP
/// runs in the server process, the CLI does not idle).
/// </summary>
public sealed class SqliteMailboxStore : IMailboxStore, IDisposable
{
    private const string FolderColumns = "folder_id, account_id, name, uidvalidity, uidnext, highest_modseq, special_use, autoexpunge_days";
    private const string MessageColumns = "m.folder_id, m.uid, b.hash, m.header_prefix, m.size, m.internal_date, m.internal_offset, m.flags, m.keywords, m.modseq, m.summary, m.saved_date";

    private static readonly (string Name, SpecialUse Use)[] DefaultFolders =
    [
        ("INBOX", SpecialUse.None),
        ("Drafts", SpecialUse.Drafts),
        ("Sent", SpecialUse.Sent),
        ("Trash", SpecialUse.Trash),
        ("Junk", SpecialUse.Junk),
        ("Archive", SpecialUse.Archive),
    ];

    private readonly SqliteBlobStore _blobs;
    private readonly TimeProvider _time;
    private readonly MailboxChangeHub _hub;
    private readonly bool _ownsDatabase;

    public SqliteMailboxStore(SqliteBlobStore blobs, EmbeddedStoreOptions? options = null, MailboxChangeHub? hub = null)
        : this(blobs, options, hub, ownsDatabase: false)
    {
    }

    private SqliteMailboxStore(SqliteBlobStore blobs, EmbeddedStoreOptions? options, MailboxChangeHub? hub, bool ownsDatabase)
    {
        _blobs = blobs;
        _time = (options ?? new EmbeddedStoreOptions()).Time;
        _hub = hub ?? new MailboxChangeHub();
        _ownsDatabase = ownsDatabase;
    }

    /// <summary>mailbox.db (for backups).</summary>
    public SqliteDatabase Database => _blobs.Database;

    /// <summary>The blob store whose reference counts this store keeps.</summary>
    public SqliteBlobStore Blobs => _blobs;

    /// <summary>Opens mailbox.db and the blob folder under <paramref name="dataFolder"/>.</summary>
    public static SqliteMailboxStore Open(string dataFolder, EmbeddedStoreOptions? options = null)
    {
        var db = MailboxSchema.Open(dataFolder, options?.BusyTimeout);
        return new SqliteMailboxStore(new SqliteBlobStore(dataFolder, db, options), options, null, ownsDatabase: true);
    }

    public void Dispose()
    {
        if (_ownsDatabase)
        {
            Database.Dispose();
        }
    }

    public IMailboxChangeSubscription Subscribe(long accountId) => _hub.Subscribe(accountId);

    public Task<IReadOnlyList<Folder>> EnsureDefaultFoldersAsync(long accountId, long domainId, CancellationToken cancellationToken) =>
        Database.WriteAsync<IReadOnlyList<Folder>>((c, tx) =>
        {
            c.Execute(
                "INSERT INTO accounts (account_id, domain_id, next_uidvalidity) VALUES ($a, $d, $v) ON CONFLICT DO NOTHING",
                tx,
                ("$a", accountId),
                ("$d", domainId),
                ("$v", _time.GetUtcNow().ToUnixTimeSeconds()));
            c.Execute("INSERT INTO domain_usage (domain_id) VALUES ($d) ON CONFLICT DO NOTHING", tx, ("$d", domainId));
            foreach (var (name, use) in DefaultFolders)
            {
                if (ReadFolder(c, tx, accountId, name) is null)
                {
                    InsertFolder(c, tx, accountId, name, use);
                    c.Execute("INSERT INTO subscriptions (account_id, name) VALUES ($a, $n) ON CONFLICT DO NOTHING", tx, ("$a", accountId), ("$n", name));
                }
            }

            return ListFolders(c, tx, accountId);
        }, cancellationToken);

    public Task<Folder> CreateFolderAsync(long accountId, string name, SpecialUse specialUse, CancellationToken cancellationToken)
    {
        ValidateName(name);
        return Database.WriteAsync((c, tx) =>
        {
            if (c.Scalar<long?>("SELECT 1 FROM accounts WHERE account_id = $a", tx, ("$a", accountId)) is null)
            {
                throw new InvalidOperationException($"Account {accountId} has no mailbox yet: call EnsureDefaultFoldersAsync first.");
            }

            if (ReadFolder(c, tx, accountId, name) is not null)
            {
                throw new StoreConflictException($"The folder '{name}' exists already.");
            }

            return InsertFolder(c, tx, accountId, name, specialUse);
        }, cancellationToken);
    }

    public Task<Folder?> GetFolderAsync(long accountId, string name, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => ReadFolder(c, null, accountId, name)));

    public Task<Folder?> GetFolderAsync(long accountId, long folderId, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => ReadFolder(c, null, accountId, folderId)));

    public Task<IReadOnlyList<Folder>> ListFoldersAsync(long accountId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Folder>>(Database.Read(c => ListFolders(c, null, accountId)));

    public Task<bool> RenameFolderAsync(long accountId, string oldName, string newName, CancellationToken cancellationToken)
    {
        ValidateName(newName);
        return Database.WriteAsync((c, tx) =>
        {
            if (ReadFolder(c, tx, accountId, oldName) is null)
            {
                return false;
            }

            if (newName.StartsWith(oldName + "/", StringComparison.Ordinal))
            {
                throw new StoreConflictException($"'{newName}' is inside '{oldName}'.");
            }

            var moving = c.Query(
                "SELECT folder_id, name FROM folders WHERE account_id = $a AND (name = $n OR substr(name, 1, length($n) + 1) = $n || '/')",
                r => (Id: r.GetInt64(0), Name: r.GetString(1)),
                tx,
                ("$a", accountId),
                ("$n", oldName));
            foreach (var (_, name) in moving)
            {
                var target = newName + name[oldName.Length..];
                if (ReadFolder(c, tx, accountId, target) is not null)
                {
                    throw new StoreConflictException($"The folder '{target}' exists already.");
                }
            }

            foreach (var (id, name) in moving)
            {
                c.Execute("UPDATE folders SET name = $n WHERE folder_id = $f", tx, ("$n", newName + name[oldName.Length..]), ("$f", id));
            }

            return true;
        }, cancellationToken);
    }

    public async Task<bool> DeleteFolderAsync(long accountId, string name, CancellationToken cancellationToken)
    {
        var folderId = await Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, name);
            if (folder is null)
            {
                return (long?)null;
            }

            var removed = c.Query(
                "SELECT blob_id, size FROM messages WHERE folder_id = $f",
                r => (Blob: r.GetInt64(0), Size: r.GetInt64(1)),
                tx,
                ("$f", folder.FolderId));
            c.Execute("DELETE FROM messages WHERE folder_id = $f", tx, ("$f", folder.FolderId));
            ReleaseBlobs(c, tx, removed.Select(m => m.Blob));
            AddUsage(c, tx, accountId, -removed.Sum(m => m.Size), -removed.Count);
            c.Execute("DELETE FROM expunged WHERE folder_id = $f", tx, ("$f", folder.FolderId));
            c.Execute("DELETE FROM folder_acl WHERE folder_id = $f", tx, ("$f", folder.FolderId));
            c.Execute("DELETE FROM folders WHERE folder_id = $f", tx, ("$f", folder.FolderId));
            return folder.FolderId;
        }, cancellationToken).ConfigureAwait(false);
        if (folderId is { } id)
        {
            _hub.Publish(new MailboxChange(accountId, id, 0));
        }

        return folderId is not null;
    }

    public Task<bool> SetSpecialUseAsync(long accountId, long folderId, SpecialUse specialUse, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE folders SET special_use = $u WHERE folder_id = $f AND account_id = $a",
            tx,
            ("$u", (int)specialUse),
            ("$f", folderId),
            ("$a", accountId)) == 1, cancellationToken);

    public Task<bool> SetAutoExpungeDaysAsync(long accountId, long folderId, int? days, CancellationToken cancellationToken)
    {
        if (days is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(days), "Autoexpunge needs at least one day (or null for never).");
        }

        return Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE folders SET autoexpunge_days = $d WHERE folder_id = $f AND account_id = $a",
            tx,
            ("$d", days),
            ("$f", folderId),
            ("$a", accountId)) == 1, cancellationToken);
    }

    public Task SetSubscribedAsync(long accountId, string name, bool subscribed, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => subscribed
            ? c.Execute("INSERT INTO subscriptions (account_id, name) VALUES ($a, $n) ON CONFLICT DO NOTHING", tx, ("$a", accountId), ("$n", name))
            : c.Execute("DELETE FROM subscriptions WHERE account_id = $a AND name = $n", tx, ("$a", accountId), ("$n", name)), cancellationToken);

    public Task<IReadOnlyList<string>> ListSubscriptionsAsync(long accountId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>(Database.Read(c => c.Query(
            "SELECT name FROM subscriptions WHERE account_id = $a ORDER BY name",
            r => r.GetString(0),
            null,
            ("$a", accountId))));

    public async Task<AppendResult> AppendAsync(long accountId, long folderId, IReadOnlyList<NewMessage> messages, QuotaLimits? limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var result = await Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, folderId);
            if (folder is null)
            {
                return new AppendResult(AppendStatus.FolderNotFound, 0, [], 0);
            }

            var (blobRows, sizes) = EnsureBlobRows(c, tx, messages);
            var quota = CheckLimits(c, tx, accountId, limits, sizes.Sum(), messages.Count);
            if (quota != AppendStatus.Appended)
            {
                return new AppendResult(quota, folder.UidValidity, [], folder.HighestModSeq);
            }

            var uids = Enumerable.Range(0, messages.Count).Select(i => folder.UidNext + i).ToList();
            return InsertMessages(c, tx, folder, messages, uids, blobRows, sizes, folder.UidNext + messages.Count);
        }, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded && result.Uids.Count > 0)
        {
            _hub.Publish(new MailboxChange(accountId, folderId, result.ModSeq));
        }

        return result;
    }

    public Task<AdoptStatus> AdoptUidValidityAsync(long accountId, long folderId, long uidValidity, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(uidValidity, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(uidValidity, uint.MaxValue);
        return Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, folderId);
            if (folder is null)
            {
                return AdoptStatus.FolderNotFound;
            }

            if (folder.UidValidity == uidValidity)
            {
                return AdoptStatus.Adopted;
            }

            if (folder.UidNext != 1)
            {
                return AdoptStatus.FolderInUse;
            }

            c.Execute("UPDATE folders SET uidvalidity = $v WHERE folder_id = $f", tx, ("$v", uidValidity), ("$f", folderId));
            c.Execute("DELETE FROM expunged WHERE folder_id = $f", tx, ("$f", folderId));
            c.Execute(
                "UPDATE accounts SET next_uidvalidity = $v + 1 WHERE account_id = $a AND next_uidvalidity <= $v",
                tx,
                ("$v", uidValidity),
                ("$a", accountId));
            return AdoptStatus.Adopted;
        }, cancellationToken);
    }

    public async Task<AppendResult> AppendWithUidsAsync(long accountId, long folderId, IReadOnlyList<ImportedMessage> messages, long uidNext, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(uidNext, (long)uint.MaxValue + 1);
        foreach (var m in messages)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(m.Uid, 1, nameof(messages));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(m.Uid, uint.MaxValue, nameof(messages));
        }

        var result = await Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, folderId);
            if (folder is null)
            {
                return new AppendResult(AppendStatus.FolderNotFound, 0, [], 0);
            }

            var uids = messages.Select(m => m.Uid).ToList();
            if (uids.Any(u => u < folder.UidNext) || uids.Distinct().Count() != uids.Count)
            {
                return new AppendResult(AppendStatus.UidsNotAvailable, folder.UidValidity, [], folder.HighestModSeq);
            }

            var next = Math.Max(folder.UidNext, Math.Max(uidNext, uids.Count == 0 ? 0 : uids.Max() + 1));
            if (uids.Count == 0)
            {
                c.Execute("UPDATE folders SET uidnext = $u WHERE folder_id = $f", tx, ("$u", next), ("$f", folderId));
                return new AppendResult(AppendStatus.Appended, folder.UidValidity, [], folder.HighestModSeq);
            }

            var plain = messages.Select(m => m.Message).ToList();
            var (blobRows, sizes) = EnsureBlobRows(c, tx, plain);
            return InsertMessages(c, tx, folder, plain, uids, blobRows, sizes, next);
        }, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded && result.Uids.Count > 0)
        {
            _hub.Publish(new MailboxChange(accountId, folderId, result.ModSeq));
        }

        return result;
    }

    public Task<IReadOnlyList<StoredMessage>> ListMessagesAsync(long accountId, long folderId, long firstUid, long lastUid, long? changedSince, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<StoredMessage>>(Database.Read(c => c.Query(
            $"""
            SELECT {MessageColumns} FROM messages m JOIN blobs b ON b.blob_id = m.blob_id JOIN folders f ON f.folder_id = m.folder_id
            WHERE m.folder_id = $f AND f.account_id = $a AND m.uid BETWEEN $first AND $last AND m.modseq > $since
            ORDER BY m.uid
            """,
            ReadMessage,
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$first", firstUid),
            ("$last", lastUid),
            ("$since", changedSince ?? 0))));

    public Task<IReadOnlyList<StoredMessage>> ListMessagesBySummaryAsync(long accountId, long folderId, long firstUid, long lastUid, string formatPrefix, string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(formatPrefix);
        ArgumentNullException.ThrowIfNull(text);
        return Task.FromResult<IReadOnlyList<StoredMessage>>(Database.Read(c => c.Query(
            $"""
            SELECT {MessageColumns} FROM messages m JOIN blobs b ON b.blob_id = m.blob_id JOIN folders f ON f.folder_id = m.folder_id
            WHERE m.folder_id = $f AND f.account_id = $a AND m.uid BETWEEN $first AND $last
              AND (m.summary IS NULL OR substr(m.summary, 1, length($prefix)) <> $prefix OR m.summary LIKE $like ESCAPE '\')
            ORDER BY m.uid
            """,
            ReadMessage,
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$first", firstUid),
            ("$last", lastUid),
            ("$prefix", formatPrefix),
            ("$like", "%" + EscapeLike(text) + "%"))));
    }

    private static string EscapeLike(string text) =>
        text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    public Task<IReadOnlyList<FlagState>> ListFlagsAsync(long accountId, long folderId, long? changedSince, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<FlagState>>(Database.Read(c => c.Query(
            """
            SELECT m.uid, m.flags, m.keywords, m.modseq FROM messages m JOIN folders f ON f.folder_id = m.folder_id
            WHERE m.folder_id = $f AND f.account_id = $a AND m.modseq > $since
            ORDER BY m.uid
            """,
            r => new FlagState(r.GetInt64(0), (MessageFlags)r.GetInt32(1), SplitKeywords(r.GetString(2)), r.GetInt64(3)),
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$since", changedSince ?? 0))));

    public Task<StoredMessage?> GetMessageAsync(long accountId, long folderId, long uid, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query(
            $"""
            SELECT {MessageColumns} FROM messages m JOIN blobs b ON b.blob_id = m.blob_id JOIN folders f ON f.folder_id = m.folder_id
            WHERE m.folder_id = $f AND f.account_id = $a AND m.uid = $u
            """,
            ReadMessage,
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$u", uid)).FirstOrDefault()));

    public Task<bool> SetSummaryAsync(long accountId, long folderId, long uid, string summary, CancellationToken cancellationToken) =>
        Database.WriteAsync((c, tx) => c.Execute(
            "UPDATE messages SET summary = $s WHERE folder_id = (SELECT folder_id FROM folders WHERE folder_id = $f AND account_id = $a) AND uid = $u",
            tx,
            ("$s", summary),
            ("$f", folderId),
            ("$a", accountId),
            ("$u", uid)) == 1, cancellationToken);

    public Task<FolderStatus?> GetFolderStatusAsync(long accountId, long folderId, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c =>
        {
            var folder = ReadFolder(c, null, accountId, folderId);
            if (folder is null)
            {
                return null;
            }

            return c.Query(
                """
                SELECT COUNT(*), COALESCE(SUM((flags & 1) = 0), 0), COALESCE(SUM((flags & 8) <> 0), 0), COALESCE(SUM(size), 0)
                FROM messages WHERE folder_id = $f
                """,
                r => new FolderStatus(folder.FolderId, folder.Name, folder.UidValidity, folder.UidNext, folder.HighestModSeq, r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3)),
                null,
                ("$f", folderId)).First();
        }));

    public async Task<StoreFlagsResult> StoreFlagsAsync(long accountId, long folderId, IReadOnlyCollection<long> uids, FlagChange change, long? unchangedSince, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(change);
        var result = await Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, folderId);
            if (folder is null)
            {
                return new StoreFlagsResult([], [], 0);
            }

            var rows = c.Query(
                "SELECT message_id, uid, flags, keywords, modseq FROM messages WHERE folder_id = $f AND uid IN (SELECT value FROM json_each($uids)) ORDER BY uid",
                r => (Id: r.GetInt64(0), Uid: r.GetInt64(1), Flags: (MessageFlags)r.GetInt32(2), Keywords: SplitKeywords(r.GetString(3)), ModSeq: r.GetInt64(4)),
                tx,
                ("$f", folderId),
                ("$uids", uids.ToJsonArray()));
            var modseq = folder.HighestModSeq + 1;
            var changed = new List<FlagState>();
            var modified = new List<long>();
            foreach (var row in rows)
            {
                if (unchangedSince is { } since && row.ModSeq > since)
                {
                    modified.Add(row.Uid);
                    continue;
                }

                var (flags, keywords) = Apply(change, row.Flags, row.Keywords);
                if (flags == row.Flags && keywords.SequenceEqual(row.Keywords, StringComparer.OrdinalIgnoreCase))
                {
                    continue;
                }

                c.Execute(
                    "UPDATE messages SET flags = $fl, keywords = $k, modseq = $m WHERE message_id = $id",
                    tx,
                    ("$fl", (int)flags),
                    ("$k", JoinKeywords(keywords)),
                    ("$m", modseq),
                    ("$id", row.Id));
                changed.Add(new FlagState(row.Uid, flags, keywords, modseq));
            }

            if (changed.Count == 0)
            {
                return new StoreFlagsResult([], modified, folder.HighestModSeq);
            }

            c.Execute("UPDATE folders SET highest_modseq = $m WHERE folder_id = $f", tx, ("$m", modseq), ("$f", folderId));
            return new StoreFlagsResult(changed, modified, modseq);
        }, cancellationToken).ConfigureAwait(false);
        if (result.Changed.Count > 0)
        {
            _hub.Publish(new MailboxChange(accountId, folderId, result.HighestModSeq));
        }

        return result;
    }

    public Task<CopyResult> CopyAsync(long accountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetFolderId, QuotaLimits? limits, CancellationToken cancellationToken) =>
        CopyOrMoveAsync(accountId, sourceFolderId, uids, accountId, targetFolderId, limits, move: false, cancellationToken);

    public Task<CopyResult> MoveAsync(long accountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetFolderId, CancellationToken cancellationToken) =>
        CopyOrMoveAsync(accountId, sourceFolderId, uids, accountId, targetFolderId, null, move: true, cancellationToken);

    public Task<CopyResult> CopyBetweenAccountsAsync(long sourceAccountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetAccountId, long targetFolderId, QuotaLimits? limits, bool move, CancellationToken cancellationToken) =>
        CopyOrMoveAsync(sourceAccountId, sourceFolderId, uids, targetAccountId, targetFolderId, limits, move, cancellationToken);

    public Task<IReadOnlyList<AclEntry>> GetAclAsync(long accountId, long folderId, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<AclEntry>>(Database.Read(c => c.Query(
            """
            SELECT identifier, rights FROM folder_acl
            WHERE folder_id = $f AND EXISTS (SELECT 1 FROM folders WHERE folder_id = $f AND account_id = $a)
            ORDER BY identifier
            """,
            r => new AclEntry(r.GetString(0), r.GetString(1)),
            null,
            ("$f", folderId),
            ("$a", accountId))));

    public Task<bool> SetAclAsync(long accountId, long folderId, string identifier, string? rights, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(identifier);
        return Database.WriteAsync((c, tx) =>
        {
            if (ReadFolder(c, tx, accountId, folderId) is null)
            {
                return false;
            }

            if (string.IsNullOrEmpty(rights))
            {
                c.Execute("DELETE FROM folder_acl WHERE folder_id = $f AND identifier = $i", tx, ("$f", folderId), ("$i", identifier));
            }
            else
            {
                c.Execute(
                    "INSERT INTO folder_acl (folder_id, identifier, rights) VALUES ($f, $i, $r) ON CONFLICT (folder_id, identifier) DO UPDATE SET rights = $r",
                    tx,
                    ("$f", folderId),
                    ("$i", identifier),
                    ("$r", rights));
            }

            return true;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<SharedFolder>> ListSharedFoldersAsync(IReadOnlyCollection<string> identifiers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identifiers);
        var rows = Database.Read(c => c.Query(
            $"""
            SELECT {string.Join(", ", FolderColumns.Split(", ").Select(col => "f." + col))}, a.identifier, a.rights
            FROM folder_acl a JOIN folders f ON f.folder_id = a.folder_id
            WHERE a.identifier IN (SELECT value FROM json_each($ids))
            ORDER BY f.account_id, f.name, a.identifier
            """,
            r => (Folder: ReadFolderRow(r), Entry: new AclEntry(r.GetString(8), r.GetString(9))),
            null,
            ("$ids", System.Text.Json.JsonSerializer.Serialize(identifiers))));
        var shared = new List<SharedFolder>();
        foreach (var group in rows.GroupBy(r => r.Folder.FolderId))
        {
            shared.Add(new SharedFolder(group.First().Folder, [.. group.Select(g => g.Entry)]));
        }

        return Task.FromResult<IReadOnlyList<SharedFolder>>(shared);
    }

    public async Task<ExpungeResult> ExpungeAsync(long accountId, long folderId, IReadOnlyCollection<long> uids, bool onlyDeleted, CancellationToken cancellationToken)
    {
        var result = await Database.WriteAsync((c, tx) =>
        {
            var folder = ReadFolder(c, tx, accountId, folderId);
            if (folder is null)
            {
                return new ExpungeResult([], 0);
            }

            var rows = c.Query(
                $"SELECT message_id, uid, blob_id, size FROM messages WHERE folder_id = $f AND uid IN (SELECT value FROM json_each($uids)) {(onlyDeleted ? "AND (flags & 8) <> 0" : string.Empty)} ORDER BY uid",
                r => (Id: r.GetInt64(0), Uid: r.GetInt64(1), Blob: r.GetInt64(2), Size: r.GetInt64(3)),
                tx,
                ("$f", folderId),
                ("$uids", uids.ToJsonArray()));
            if (rows.Count == 0)
            {
                return new ExpungeResult([], folder.HighestModSeq);
            }

            var modseq = folder.HighestModSeq + 1;
            RemoveMessages(c, tx, folderId, modseq, rows.Select(r => (r.Id, r.Uid)));
            ReleaseBlobs(c, tx, rows.Select(r => r.Blob));
            AddUsage(c, tx, accountId, -rows.Sum(r => r.Size), -rows.Count);
            c.Execute("UPDATE folders SET highest_modseq = $m WHERE folder_id = $f", tx, ("$m", modseq), ("$f", folderId));
            return new ExpungeResult(rows.Select(r => r.Uid).ToList(), modseq);
        }, cancellationToken).ConfigureAwait(false);
        if (result.Uids.Count > 0)
        {
            _hub.Publish(new MailboxChange(accountId, folderId, result.ModSeq));
        }

        return result;
    }

    public Task<IReadOnlyList<long>> ListExpungedAsync(long accountId, long folderId, long sinceModSeq, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<long>>(Database.Read(c => c.Query(
            "SELECT e.uid FROM expunged e JOIN folders f ON f.folder_id = e.folder_id WHERE e.folder_id = $f AND f.account_id = $a AND e.modseq > $m ORDER BY e.uid",
            r => r.GetInt64(0),
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$m", sinceModSeq))));

    public Task<IReadOnlyList<long>?> SearchTextAsync(long accountId, long folderId, string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.EnumerateRunes().Count() < 3)
        {
            return Task.FromResult<IReadOnlyList<long>?>(null);
        }

        var phrase = "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
        return Task.FromResult<IReadOnlyList<long>?>(Database.Read(c => c.Query(
            """
            SELECT m.uid FROM messages m JOIN folders f ON f.folder_id = m.folder_id JOIN blobs b ON b.blob_id = m.blob_id
            WHERE m.folder_id = $f AND f.account_id = $a
              AND (b.indexed = 0 OR m.size > $big OR m.blob_id IN (SELECT rowid FROM blob_text WHERE blob_text MATCH $q))
            ORDER BY m.uid
            """,
            r => r.GetInt64(0),
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$big", IMailboxStore.FullyIndexedMaxBytes),
            ("$q", phrase))));
    }

    public Task<IReadOnlyList<Folder>> ListAutoExpungeFoldersAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<Folder>>(Database.Read(c => c.Query(
            $"SELECT {FolderColumns} FROM folders WHERE autoexpunge_days IS NOT NULL ORDER BY folder_id",
            ReadFolderRow)));

    public Task<IReadOnlyList<long>> ListSavedBeforeAsync(long accountId, long folderId, DateTimeOffset cutoff, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<long>>(Database.Read(c => c.Query(
            """
            SELECT m.uid FROM messages m JOIN folders f ON f.folder_id = m.folder_id
            WHERE m.folder_id = $f AND f.account_id = $a AND COALESCE(m.saved_date, m.internal_date) < $cutoff
            ORDER BY m.uid
            """,
            r => r.GetInt64(0),
            null,
            ("$f", folderId),
            ("$a", accountId),
            ("$cutoff", cutoff.ToUnixTimeMilliseconds()))));

    public Task<QuotaUsage> GetAccountUsageAsync(long accountId, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query(
            "SELECT storage_bytes, message_count FROM accounts WHERE account_id = $a",
            r => new QuotaUsage(r.GetInt64(0), r.GetInt64(1)),
            null,
            ("$a", accountId)).FirstOrDefault() ?? new QuotaUsage(0, 0)));

    public Task<QuotaUsage> GetDomainUsageAsync(long domainId, CancellationToken cancellationToken) =>
        Task.FromResult(Database.Read(c => c.Query(
            "SELECT storage_bytes, message_count FROM domain_usage WHERE domain_id = $d",
            r => new QuotaUsage(r.GetInt64(0), r.GetInt64(1)),
            null,
            ("$d", domainId)).FirstOrDefault() ?? new QuotaUsage(0, 0)));

    private async Task<CopyResult> CopyOrMoveAsync(long accountId, long sourceFolderId, IReadOnlyCollection<long> uids, long targetAccountId, long targetFolderId, QuotaLimits? limits, bool move, CancellationToken cancellationToken)
    {
        var (result, sourceModSeq) = await Database.WriteAsync((c, tx) =>
        {
            var source = ReadFolder(c, tx, accountId, sourceFolderId);
            var target = ReadFolder(c, tx, targetAccountId, targetFolderId);
            if (source is null || target is null)
            {
                return (new CopyResult(CopyStatus.FolderNotFound, 0, []), 0L);
            }

            var rows = c.Query(
                "SELECT message_id, uid, blob_id, size FROM messages WHERE folder_id = $f AND uid IN (SELECT value FROM json_each($uids)) ORDER BY uid",
                r => (Id: r.GetInt64(0), Uid: r.GetInt64(1), Blob: r.GetInt64(2), Size: r.GetInt64(3)),
                tx,
                ("$f", sourceFolderId),
                ("$uids", uids.ToJsonArray()));
            // A move within one folder gives the messages new UIDs, as COPY + EXPUNGE would (RFC 6851 §3.3).
            if (rows.Count == 0)
            {
                return (new CopyResult(CopyStatus.Copied, target.UidValidity, []), 0L);
            }

            var crossAccount = targetAccountId != accountId;
            if (!move || crossAccount)
            {
                var quota = CheckLimits(c, tx, targetAccountId, limits, rows.Sum(r => r.Size), rows.Count);
                if (quota != AppendStatus.Appended)
                {
                    var status = quota == AppendStatus.AccountQuotaExceeded ? CopyStatus.AccountQuotaExceeded : CopyStatus.DomainQuotaExceeded;
                    return (new CopyResult(status, target.UidValidity, []), 0L);
                }
            }

            var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            var targetModSeq = target.HighestModSeq + 1;
            var uid = target.UidNext;
            var pairs = new List<(long, long)>(rows.Count);
            foreach (var row in rows)
            {
                if (move)
                {
                    c.Execute(
                        "UPDATE messages SET folder_id = $t, uid = $u, modseq = $m, saved_date = $now WHERE message_id = $id",
                        tx,
                        ("$t", targetFolderId),
                        ("$u", uid),
                        ("$m", targetModSeq),
                        ("$now", now),
                        ("$id", row.Id));
                }
                else
                {
                    c.Execute(
                        """
                        INSERT INTO messages (folder_id, uid, blob_id, header_prefix, size, internal_date, internal_offset, flags, keywords, modseq, summary, saved_date)
                        SELECT $t, $u, blob_id, header_prefix, size, internal_date, internal_offset, flags, keywords, $m, summary, $now
                        FROM messages WHERE message_id = $id
                        """,
                        tx,
                        ("$t", targetFolderId),
                        ("$u", uid),
                        ("$m", targetModSeq),
                        ("$now", now),
                        ("$id", row.Id));
                    AddBlobReference(c, tx, row.Blob, null);
                }

                pairs.Add((row.Uid, uid));
                uid++;
            }

            c.Execute("UPDATE folders SET uidnext = $u, highest_modseq = $m WHERE folder_id = $f", tx, ("$u", uid), ("$m", targetModSeq), ("$f", targetFolderId));
            var sourceModSeq = 0L;
            if (move)
            {
                sourceModSeq = source.HighestModSeq + 1;
                foreach (var row in rows)
                {
                    c.Execute("INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES ($f, $u, $m)", tx, ("$f", sourceFolderId), ("$u", row.Uid), ("$m", sourceModSeq));
                }

                c.Execute("UPDATE folders SET highest_modseq = $m WHERE folder_id = $f", tx, ("$m", sourceModSeq), ("$f", sourceFolderId));
            }

            if (!move || crossAccount)
            {
                AddUsage(c, tx, targetAccountId, rows.Sum(r => r.Size), rows.Count);
            }

            if (move && crossAccount)
            {
                AddUsage(c, tx, accountId, -rows.Sum(r => r.Size), -rows.Count);
            }

            return (new CopyResult(CopyStatus.Copied, target.UidValidity, pairs), sourceModSeq);
        }, cancellationToken).ConfigureAwait(false);
        if (result.Uids.Count > 0)
        {
            var target = await GetFolderAsync(targetAccountId, targetFolderId, cancellationToken).ConfigureAwait(false);
            _hub.Publish(new MailboxChange(targetAccountId, targetFolderId, target?.HighestModSeq ?? 0));
            if (move)
            {
                _hub.Publish(new MailboxChange(accountId, sourceFolderId, sourceModSeq));
            }
        }

        return result;
    }

    private static void ValidateName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.StartsWith('/') || name.EndsWith('/') || name.Contains("//", StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{name}' is not a folder name: '/' separates non-empty levels.", nameof(name));
        }
    }

    private static (MessageFlags Flags, IReadOnlyList<string> Keywords) Apply(FlagChange change, MessageFlags flags, IReadOnlyList<string> keywords)
    {
        var given = change.Keywords ?? [];
        return change.Mode switch
        {
            FlagChangeMode.Add => (flags | change.Flags, keywords.Concat(given).Distinct(StringComparer.OrdinalIgnoreCase).ToList()),
            FlagChangeMode.Remove => (flags & ~change.Flags, keywords.Where(k => !given.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList()),
            FlagChangeMode.Replace => (change.Flags, given.Distinct(StringComparer.OrdinalIgnoreCase).ToList()),
            _ => throw new ArgumentOutOfRangeException(nameof(change), change.Mode, "Unknown flag change mode."),
        };
    }

    private static string JoinKeywords(IEnumerable<string> keywords)
    {
        var list = keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var keyword in list)
        {
            if (keyword.Length == 0 || keyword.Any(ch => ch <= ' ' || ch == '\\'))
            {
                throw new ArgumentException($"'{keyword}' is not an IMAP keyword.", nameof(keywords));
            }
        }

        return string.Join(' ', list);
    }

    private static IReadOnlyList<string> SplitKeywords(string stored) =>
        stored.Length == 0 ? [] : stored.Split(' ');

    private static StoredMessage ReadMessage(SqliteDataReader r) => new(
        r.GetInt64(0),
        r.GetInt64(1),
        BlobId.Parse(r.GetString(2)),
        (byte[])r.GetValue(3),
        r.GetInt64(4),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(5)).ToOffset(TimeSpan.FromMinutes(r.GetInt32(6))),
        (MessageFlags)r.GetInt32(7),
        SplitKeywords(r.GetString(8)),
        r.GetInt64(9),
        r.GetNullableString(10),
        r.GetNullableTime(11));

    private static Folder ReadFolderRow(SqliteDataReader r) => new(
        r.GetInt64(0),
        r.GetInt64(1),
        r.GetString(2),
        r.GetInt64(3),
        r.GetInt64(4),
        r.GetInt64(5),
        (SpecialUse)r.GetInt32(6),
        r.IsDBNull(7) ? null : r.GetInt32(7));

    private static Folder? ReadFolder(SqliteConnection c, SqliteTransaction? tx, long accountId, string name) =>
        c.Query($"SELECT {FolderColumns} FROM folders WHERE account_id = $a AND name = $n", ReadFolderRow, tx, ("$a", accountId), ("$n", name)).FirstOrDefault();

    private static Folder? ReadFolder(SqliteConnection c, SqliteTransaction? tx, long accountId, long folderId) =>
        c.Query($"SELECT {FolderColumns} FROM folders WHERE account_id = $a AND folder_id = $f", ReadFolderRow, tx, ("$a", accountId), ("$f", folderId)).FirstOrDefault();

    private static List<Folder> ListFolders(SqliteConnection c, SqliteTransaction? tx, long accountId) =>
        c.Query($"SELECT {FolderColumns} FROM folders WHERE account_id = $a ORDER BY name", ReadFolderRow, tx, ("$a", accountId));

    private Folder InsertFolder(SqliteConnection c, SqliteTransaction tx, long accountId, string name, SpecialUse use)
    {
        // UIDVALIDITY: a per-account counter that never goes back, so a re-created name gets a new value.
        var uidValidity = c.Scalar<long>(
            "UPDATE accounts SET next_uidvalidity = next_uidvalidity + 1 WHERE account_id = $a RETURNING next_uidvalidity - 1",
            tx,
            ("$a", accountId));
        var id = c.Scalar<long>(
            "INSERT INTO folders (account_id, name, uidvalidity, special_use, created_at) VALUES ($a, $n, $v, $u, $t) RETURNING folder_id",
            tx,
            ("$a", accountId),
            ("$n", name),
            ("$v", uidValidity),
            ("$u", (int)use),
            ("$t", _time.GetUtcNow().ToUnixTimeMilliseconds()));
        return new Folder(id, accountId, name, uidValidity, 1, 1, use, null);
    }

    private (long[] BlobRows, long[] Sizes) EnsureBlobRows(SqliteConnection c, SqliteTransaction tx, IReadOnlyList<NewMessage> messages)
    {
        var blobRows = new long[messages.Count];
        var sizes = new long[messages.Count];
        for (var i = 0; i < messages.Count; i++)
        {
            blobRows[i] = _blobs.EnsureRow(c, tx, messages[i].Blob, messages[i].BlobLength);
            var blobLength = c.Scalar<long>("SELECT length FROM blobs WHERE blob_id = $b", tx, ("$b", blobRows[i]));
            sizes[i] = messages[i].HeaderPrefix.Length + blobLength;
        }

        return (blobRows, sizes);
    }

    /// <summary>Inserts the messages with their UIDs at one new modseq, moves UIDNEXT to <paramref name="uidNext"/> and counts the usage.</summary>
    private static AppendResult InsertMessages(SqliteConnection c, SqliteTransaction tx, Folder folder, IReadOnlyList<NewMessage> messages, IReadOnlyList<long> uids, long[] blobRows, long[] sizes, long uidNext)
    {
        var modseq = folder.HighestModSeq + 1;
        for (var i = 0; i < messages.Count; i++)
        {
            var message = messages[i];
            c.Execute(
                """
                INSERT INTO messages (folder_id, uid, blob_id, header_prefix, size, internal_date, internal_offset, flags, keywords, modseq, summary, saved_date)
                VALUES ($f, $u, $b, $p, $s, $d, $o, $fl, $k, $m, $sum, $sd)
                """,
                tx,
                ("$f", folder.FolderId),
                ("$u", uids[i]),
                ("$b", blobRows[i]),
                ("$p", message.HeaderPrefix.ToArray()),
                ("$s", sizes[i]),
                ("$d", message.InternalDate.ToUnixTimeMilliseconds()),
                ("$o", (int)message.InternalDate.Offset.TotalMinutes),
                ("$fl", (int)message.Flags),
                ("$k", JoinKeywords(message.Keywords ?? [])),
                ("$m", modseq),
                ("$sum", message.Summary),
                ("$sd", message.SavedDate?.ToUnixTimeMilliseconds()));
            AddBlobReference(c, tx, blobRows[i], message.SearchText);
        }

        c.Execute("UPDATE folders SET uidnext = $u, highest_modseq = $m WHERE folder_id = $f", tx, ("$u", uidNext), ("$m", modseq), ("$f", folder.FolderId));
        AddUsage(c, tx, folder.AccountId, sizes.Sum(), messages.Count);
        return new AppendResult(AppendStatus.Appended, folder.UidValidity, uids, modseq);
    }

    private static AppendStatus CheckLimits(SqliteConnection c, SqliteTransaction tx, long accountId, QuotaLimits? limits, long bytes, long count)
    {
        if (limits is null)
        {
            return AppendStatus.Appended;
        }

        var account = c.Query(
            "SELECT a.storage_bytes, a.message_count, d.storage_bytes, d.message_count FROM accounts a JOIN domain_usage d ON d.domain_id = a.domain_id WHERE a.account_id = $a",
            r => (Bytes: r.GetInt64(0), Messages: r.GetInt64(1), DomainBytes: r.GetInt64(2), DomainMessages: r.GetInt64(3)),
            tx,
            ("$a", accountId)).FirstOrDefault();
        if (account.Bytes + bytes > limits.AccountStorageBytes || account.Messages + count > limits.AccountMessages)
        {
            return AppendStatus.AccountQuotaExceeded;
        }

        if (account.DomainBytes + bytes > limits.DomainStorageBytes || account.DomainMessages + count > limits.DomainMessages)
        {
            return AppendStatus.DomainQuotaExceeded;
        }

        return AppendStatus.Appended;
    }

    private static void AddUsage(SqliteConnection c, SqliteTransaction tx, long accountId, long bytes, long count)
    {
        if (bytes == 0 && count == 0)
        {
            return;
        }

        c.Execute(
            "UPDATE accounts SET storage_bytes = storage_bytes + $b, message_count = message_count + $n WHERE account_id = $a",
            tx,
            ("$b", bytes),
            ("$n", count),
            ("$a", accountId));
        c.Execute(
            "UPDATE domain_usage SET storage_bytes = storage_bytes + $b, message_count = message_count + $n WHERE domain_id = (SELECT domain_id FROM accounts WHERE account_id = $a)",
            tx,
            ("$b", bytes),
            ("$n", count),
            ("$a", accountId));
    }

    private static void AddBlobReference(SqliteConnection c, SqliteTransaction tx, long blobRow, string? searchText)
    {
        c.Execute("UPDATE blobs SET refcount = refcount + 1, zero_since = NULL WHERE blob_id = $b", tx, ("$b", blobRow));
        if (searchText is not null && c.Scalar<long>("SELECT indexed FROM blobs WHERE blob_id = $b", tx, ("$b", blobRow)) == 0)
        {
            c.Execute("INSERT INTO blob_text (rowid, text) VALUES ($b, $t)", tx, ("$b", blobRow), ("$t", searchText));
            c.Execute("UPDATE blobs SET indexed = 1 WHERE blob_id = $b", tx, ("$b", blobRow));
        }
    }

    /// <summary>Drops one reference per row; a blob left with none is "unreferenced since now" and leaves the text index.</summary>
    private void ReleaseBlobs(SqliteConnection c, SqliteTransaction tx, IEnumerable<long> blobRows)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var group in blobRows.GroupBy(b => b))
        {
            var left = c.Scalar<long>(
                "UPDATE blobs SET refcount = refcount - $n WHERE blob_id = $b RETURNING refcount",
                tx,
                ("$n", group.Count()),
                ("$b", group.Key));
            if (left <= 0)
            {
                c.Execute("UPDATE blobs SET refcount = 0, zero_since = $now WHERE blob_id = $b", tx, ("$now", now), ("$b", group.Key));
                if (c.Scalar<long>("SELECT indexed FROM blobs WHERE blob_id = $b", tx, ("$b", group.Key)) == 1)
                {
                    c.Execute("DELETE FROM blob_text WHERE rowid = $b", tx, ("$b", group.Key));
                    c.Execute("UPDATE blobs SET indexed = 0 WHERE blob_id = $b", tx, ("$b", group.Key));
                }
            }
        }
    }

    private static void RemoveMessages(SqliteConnection c, SqliteTransaction tx, long folderId, long modseq, IEnumerable<(long Id, long Uid)> rows)
    {
        foreach (var (id, uid) in rows)
        {
            c.Execute("DELETE FROM messages WHERE message_id = $id", tx, ("$id", id));
            c.Execute("INSERT OR REPLACE INTO expunged (folder_id, uid, modseq) VALUES ($f, $u, $m)", tx, ("$f", folderId), ("$u", uid), ("$m", modseq));
        }
    }
}
