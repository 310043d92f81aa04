namespace Postern.Storage.Sqlite.Mailboxes;

/// <summary>
/// mailbox.db: accounts' quota counters, folders, subscriptions, messages, the expunge log, the blob
/// reference counts, the bodies of small blobs (<c>blob_content</c>, see <see cref="EmbeddedStoreOptions.InlineBlobMaxBytes"/>)
/// and the full-text index. Blob references live here because messages are their only
/// holders in this file, so a count changes in the same transaction as the message rows.
/// </summary>
public static class MailboxSchema
{
    public const string FileName = "mailbox.db";

    public static IReadOnlyList<SqliteMigration> Migrations { get; } =
    [
        new(1, "mailboxes, messages, quota, blob references, full-text index", """
            CREATE TABLE accounts (
                account_id INTEGER PRIMARY KEY,
                domain_id INTEGER NOT NULL,
                next_uidvalidity INTEGER NOT NULL,
                storage_bytes INTEGER NOT NULL DEFAULT 0,
                message_count INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX accounts_domain ON accounts(domain_id);
            CREATE TABLE domain_usage (
                domain_id INTEGER PRIMARY KEY,
                storage_bytes INTEGER NOT NULL DEFAULT 0,
                message_count INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE folders (
                folder_id INTEGER PRIMARY KEY AUTOINCREMENT,
                account_id INTEGER NOT NULL REFERENCES accounts(account_id),
                name TEXT NOT NULL,
                uidvalidity INTEGER NOT NULL,
                uidnext INTEGER NOT NULL DEFAULT 1,
                highest_modseq INTEGER NOT NULL DEFAULT 1,
                special_use INTEGER NOT NULL DEFAULT 0,
                autoexpunge_days INTEGER,
                created_at INTEGER NOT NULL,
                UNIQUE (account_id, name)
            );
            CREATE TABLE subscriptions (
                account_id INTEGER NOT NULL,
                name TEXT NOT NULL,
                PRIMARY KEY (account_id, name)
            ) WITHOUT ROWID;
            CREATE TABLE blobs (
                blob_id INTEGER PRIMARY KEY,
                hash TEXT NOT NULL UNIQUE,
                length INTEGER NOT NULL,
                refcount INTEGER NOT NULL DEFAULT 0,
                zero_since INTEGER,
                indexed INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX blobs_unreferenced ON blobs(zero_since) WHERE refcount = 0;
            CREATE TABLE messages (
                message_id INTEGER PRIMARY KEY,
                folder_id INTEGER NOT NULL REFERENCES folders(folder_id),
                uid INTEGER NOT NULL,
                blob_id INTEGER NOT NULL REFERENCES blobs(blob_id),
                header_prefix BLOB NOT NULL,
                size INTEGER NOT NULL,
                internal_date INTEGER NOT NULL,
                internal_offset INTEGER NOT NULL,
                flags INTEGER NOT NULL,
                keywords TEXT NOT NULL,
                modseq INTEGER NOT NULL,
                summary TEXT,
                saved_date INTEGER,
                UNIQUE (folder_id, uid)
            );
            CREATE INDEX messages_modseq ON messages(folder_id, modseq);
            CREATE INDEX messages_blob ON messages(blob_id);
            CREATE TABLE expunged (
                folder_id INTEGER NOT NULL,
                uid INTEGER NOT NULL,
                modseq INTEGER NOT NULL,
                PRIMARY KEY (folder_id, uid)
            ) WITHOUT ROWID;
            CREATE INDEX expunged_modseq ON expunged(folder_id, modseq);
            CREATE VIRTUAL TABLE blob_text USING fts5(text, content='', contentless_delete=1, tokenize='trigram');
            """),
        new(2, "small blob bodies inside the database", """
            CREATE TABLE blob_content (
                blob_id INTEGER PRIMARY KEY,
                data BLOB NOT NULL
            );
            """),
        new(3, "folder access control lists (RFC 4314)", """
            CREATE TABLE folder_acl (
                folder_id INTEGER NOT NULL REFERENCES folders (folder_id),
                identifier TEXT NOT NULL,
                rights TEXT NOT NULL,
                PRIMARY KEY (folder_id, identifier)
            ) WITHOUT ROWID;
            CREATE INDEX folder_acl_identifier ON folder_acl (identifier);
            """),
    ];

    /// <summary>Opens (creating and migrating) <c>&lt;data&gt;/mailbox.db</c>.</summary>
    public static SqliteDatabase Open(string dataFolder, TimeSpan? busyTimeout = null)
    {
        System.IO.Directory.CreateDirectory(dataFolder);
        var db = new SqliteDatabase(Path.Combine(dataFolder, FileName), "mailbox", Migrations, busyTimeout);
        try
        {
            db.Migrate();
            return db;
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }
}
