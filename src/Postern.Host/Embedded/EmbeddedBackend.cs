using Postern.Core.Storage;
using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;

namespace Postern.Host.Embedded;

/// <summary>All stores of the embedded backend (SQLite files and blob folder), opened and migrated from one data folder.</summary>
public sealed class EmbeddedBackend : IDisposable
{
    private EmbeddedBackend(DataFolder folder, SqliteDirectoryStore directory, EmbeddedStorage mail)
    {
        Folder = folder;
        Directory = directory;
        Mail = mail;
    }

    public DataFolder Folder { get; }

    public SqliteDirectoryStore Directory { get; }

    /// <summary>Mailboxes, blobs, queue, message log and counters.</summary>
    public EmbeddedStorage Mail { get; }

    /// <summary>Every SQLite database of the backend (for status and backup), the directory first.</summary>
    public IReadOnlyList<SqliteDatabase> Databases => [Directory.Database, .. Mail.Databases];

    public static EmbeddedBackend Open(DataFolder folder, TimeProvider? time = null, IDiskSpaceProbe? disk = null)
    {
        var directory = SqliteDirectoryStore.Open(folder.Root, time);
        try
        {
            var options = new EmbeddedStoreOptions { Time = time ?? TimeProvider.System };
            if (disk is not null)
            {
                options = options with { DiskSpaceProbe = disk };
            }

            return new EmbeddedBackend(folder, directory, EmbeddedStorage.Open(folder.Root, options));
        }
        catch
        {
            directory.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Mail.Dispose();
        Directory.Dispose();
    }
}
