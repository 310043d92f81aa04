using Postern.Storage.Conformance;
using Postern.Storage.Conformance.Mail;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>Fresh embedded stores in a temporary data folder, removed on dispose.</summary>
internal static class SqliteStorageFactory
{
    public static string NewDataFolder() =>
        System.IO.Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "postern-tests", Guid.NewGuid().ToString("N"))).FullName;

    public static StorageUnderTest Create(ManualTimeProvider time, int inlineBlobMaxBytes = EmbeddedStoreOptions.DefaultInlineBlobMaxBytes)
    {
        var folder = NewDataFolder();
        var storage = EmbeddedStorage.Open(folder, new EmbeddedStoreOptions { Time = time, InlineBlobMaxBytes = inlineBlobMaxBytes });
        return new StorageUnderTest(storage.Blobs, storage.Mailboxes, storage.Queue, storage.MessageLog, storage.KeyValue, () =>
        {
            storage.Dispose();
            DeleteFolder(folder);
        });
    }

    public static void DeleteFolder(string folder)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // a pooled handle of another test may linger; the temp folder is cleaned by the OS
        }
    }
}

public sealed class SqliteBlobStoreTests : BlobStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time);
}

/// <summary>The blob contract again with every blob a file (no body inside mailbox.db).</summary>
public sealed class SqliteFileBlobStoreTests : BlobStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time, inlineBlobMaxBytes: 0);
}

/// <summary>The blob contract with a tiny inline limit, so some of its blobs are inline and some are files.</summary>
public sealed class SqliteMixedBlobStoreTests : BlobStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time, inlineBlobMaxBytes: 20);
}

public sealed class SqliteMailboxStoreTests : MailboxStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time);
}

public sealed class SqliteQueueStoreTests : QueueStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time);
}

public sealed class SqliteMessageLogStoreTests : MessageLogStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time);
}

public sealed class SqliteKeyValueStoreTests : KeyValueStoreContract
{
    protected override StorageUnderTest CreateStorage(ManualTimeProvider time) => SqliteStorageFactory.Create(time);
}
