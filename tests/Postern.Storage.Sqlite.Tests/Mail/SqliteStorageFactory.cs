using Postern.Storage.Conformance;
using Postern.Storage.Conformance.Mail;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>Fresh embedded stores in a temporary data folder, removed on dispose.</summary>
internal static class SqliteStorageFactory
{
    public static string NewDataFolder() =>
        System.IO.Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "postern-tests", Guid.NewGuid().ToString("N"))).FullName;

    public static StorageUnderTest Create(ManualTimeProvider time)
    {
        var folder = NewDataFolder();
        var storage = EmbeddedStorage.Open(folder, new EmbeddedStoreOptions { Time = time });
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
