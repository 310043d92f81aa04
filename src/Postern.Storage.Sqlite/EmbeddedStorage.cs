using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.KeyValue;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Storage.Sqlite.KeyValue;
using Postern.Storage.Sqlite.Mailboxes;
using Postern.Storage.Sqlite.MessageLog;
using Postern.Storage.Sqlite.Queue;

namespace Postern.Storage.Sqlite;

/// <summary>
/// The embedded backend's mail stores under one data folder: <c>mailbox.db</c> (mailboxes, messages,
/// quota, full-text index, blob reference counts, small blobs' bytes), <c>blobs/</c> (larger blobs), <c>queue.db</c>, <c>log.db</c>, <c>kv.db</c>.
/// The blob collector asks the queue before deleting a blob no message refers to.
/// (The directory's <c>directory.db</c> is opened separately.)
/// </summary>
public sealed class EmbeddedStorage : IDisposable
{
    private readonly SqliteMailboxStore _mailboxes;
    private readonly SqliteQueueStore _queue;
    private readonly SqliteMessageLogStore _log;
    private readonly SqliteKeyValueStore _kv;

    private EmbeddedStorage(SqliteMailboxStore mailboxes, SqliteQueueStore queue, SqliteMessageLogStore log, SqliteKeyValueStore kv)
    {
        _mailboxes = mailboxes;
        _queue = queue;
        _log = log;
        _kv = kv;
        _mailboxes.Blobs.AddExternalHolder(_queue.ReferencesBlob);
    }

    public IBlobStore Blobs => _mailboxes.Blobs;

    public IMailboxStore Mailboxes => _mailboxes;

    public IQueueStore Queue => _queue;

    public IMessageLogStore MessageLog => _log;

    public IKeyValueStore KeyValue => _kv;

    /// <summary>
    /// The databases, for <c>postern backup</c> (<see cref="SqliteDatabase.BackupTo"/>, in this order); the blob
    /// files are copied after them. queue.db comes before mailbox.db: a queued message refers to a blob whose
    /// bytes may be inside mailbox.db, and a blob is written before it is queued, so a mailbox.db snapshot taken
    /// after the queue's holds every blob that snapshot of the queue refers to.
    /// </summary>
    public IReadOnlyList<SqliteDatabase> Databases => [_queue.Database, _mailboxes.Database, _log.Database, _kv.Database];

    /// <summary>Opens (creating and migrating) every store under <paramref name="dataFolder"/>.</summary>
    public static EmbeddedStorage Open(string dataFolder, EmbeddedStoreOptions? options = null)
    {
        options ??= new EmbeddedStoreOptions();
        var opened = new List<IDisposable>();
        try
        {
            var mailboxes = SqliteMailboxStore.Open(dataFolder, options);
            opened.Add(mailboxes);
            var queue = SqliteQueueStore.Open(dataFolder, options.Time, options.BusyTimeout);
            opened.Add(queue);
            var log = SqliteMessageLogStore.Open(dataFolder, options.BusyTimeout);
            opened.Add(log);
            var kv = SqliteKeyValueStore.Open(dataFolder, options.Time, options.BusyTimeout);
            return new EmbeddedStorage(mailboxes, queue, log, kv);
        }
        catch
        {
            foreach (var store in opened)
            {
                store.Dispose();
            }

            throw;
        }
    }

    public void Dispose()
    {
        _mailboxes.Dispose();
        _queue.Dispose();
        _log.Dispose();
        _kv.Dispose();
    }
}
