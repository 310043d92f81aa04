using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.Queue;
using Postern.Storage.Conformance;
using Postern.Storage.Sqlite.Blobs;
using Postern.Storage.Sqlite.Mailboxes;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>Small blobs kept inside mailbox.db: where they go, how they read, how they are collected and backed up.</summary>
public sealed class InlineBlobTests : IDisposable
{
    private const int Limit = 1024;
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly string _folder = SqliteStorageFactory.NewDataFolder();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => SqliteStorageFactory.DeleteFolder(_folder);

    [Fact]
    public async Task A_blob_up_to_the_limit_is_in_the_database_and_a_larger_one_is_a_file()
    {
        using var storage = Open(Limit);
        var small = RandomBytes(Limit, 1);
        var large = RandomBytes(Limit + 1, 2);

        var smallInfo = await Write(storage.Blobs, small);
        var largeInfo = await Write(storage.Blobs, large);

        Assert.False(File.Exists(FilePath(smallInfo.Id)));
        Assert.True(File.Exists(FilePath(largeInfo.Id)));
        Assert.Equal(1L, Count(storage, "SELECT COUNT(*) FROM blob_content"));
        Assert.Equal(small, await ReadAll(storage.Blobs, smallInfo.Id));
        Assert.Equal(large, await ReadAll(storage.Blobs, largeInfo.Id));
        Assert.Equal(Limit, await storage.Blobs.GetLengthAsync(smallInfo.Id, Ct));
        Assert.True(await storage.Blobs.ExistsAsync(smallInfo.Id, Ct));
    }

    [Fact]
    public async Task Ranged_reads_of_an_inline_blob_stay_in_the_window()
    {
        using var storage = Open(Limit);
        var info = await Write(storage.Blobs, Encoding.ASCII.GetBytes("0123456789"));

        using var middle = await storage.Blobs.OpenReadAsync(info.Id, 3, 4, Ct);
        using var past = await storage.Blobs.OpenReadAsync(info.Id, 8, 100, Ct);
        using var beyond = await storage.Blobs.OpenReadAsync(info.Id, 50, null, Ct);

        Assert.Equal("3456", Encoding.ASCII.GetString(await Drain(middle!)));
        Assert.Equal("89", Encoding.ASCII.GetString(await Drain(past!)));
        Assert.Empty(await Drain(beyond!));
    }

    [Fact]
    public async Task An_inline_write_reports_one_step_after_which_row_and_bytes_are_committed_together()
    {
        using var db = MailboxSchema.Open(_folder);
        var seen = new List<(BlobWriteStep Step, long Rows, long Bodies)>();
        var blobs = new SqliteBlobStore(_folder, db, new EmbeddedStoreOptions
        {
            Time = _time,
            InlineBlobMaxBytes = Limit,
            BlobWriteObserver = (step, _) => seen.Add((step, CountIn(db, "SELECT COUNT(*) FROM blobs"), CountIn(db, "SELECT COUNT(*) FROM blob_content"))),
        });

        await Write(blobs, "Subject: small\r\n\r\nbody\r\n"u8.ToArray());

        Assert.Equal([(BlobWriteStep.MetadataCommitted, 1L, 1L)], seen);
        Assert.Empty(System.IO.Directory.GetFiles(Path.Combine(_folder, "blobs"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task A_blob_already_stored_as_a_file_is_not_copied_into_the_database()
    {
        var bytes = "Subject: once a file\r\n\r\nx\r\n"u8.ToArray();
        BlobInfo info;
        using (var before = Open(inlineMax: 0))
        {
            info = await Write(before.Blobs, bytes);
        }

        SqliteConnection.ClearAllPools();
        using var after = Open(Limit);
        Assert.Equal(info, await Write(after.Blobs, bytes));

        Assert.Equal(0L, Count(after, "SELECT COUNT(*) FROM blob_content"));
        Assert.True(File.Exists(FilePath(info.Id)));
        Assert.Equal(bytes, await ReadAll(after.Blobs, info.Id));
    }

    [Fact]
    public async Task Collection_removes_the_row_and_the_bytes_of_an_unreferenced_inline_blob()
    {
        using var storage = Open(Limit);
        var folder = (await storage.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct))[0];
        var kept = await Write(storage.Blobs, "Subject: kept\r\n\r\nx\r\n"u8.ToArray());
        var dropped = await Write(storage.Blobs, "Subject: dropped\r\n\r\nx\r\n"u8.ToArray());
        var queued = await Write(storage.Blobs, "Subject: queued\r\n\r\nx\r\n"u8.ToArray());
        await storage.Mailboxes.AppendAsync(1, folder.FolderId, [new NewMessage(kept.Id, kept.Length, _time.GetUtcNow())], null, Ct);
        await storage.Queue.EnqueueAsync(new NewQueuedMessage("a@example.org", [new NewQueueRecipient("b@example.net", "example.net")], queued.Id, queued.Length), Ct);

        _time.Advance(TimeSpan.FromDays(1));
        var result = await storage.Blobs.CollectGarbageAsync(_time.GetUtcNow(), TimeSpan.FromHours(1), Ct);

        Assert.Equal(new BlobCollectionResult(1, dropped.Length), result);
        Assert.False(await storage.Blobs.ExistsAsync(dropped.Id, Ct));
        Assert.True(await storage.Blobs.ExistsAsync(kept.Id, Ct));
        Assert.True(await storage.Blobs.ExistsAsync(queued.Id, Ct));
        Assert.Equal(2L, Count(storage, "SELECT COUNT(*) FROM blob_content"));
        Assert.Equal(0L, Count(storage, "SELECT COUNT(*) FROM blob_content WHERE blob_id NOT IN (SELECT blob_id FROM blobs)"));
    }

    [Fact]
    public async Task Delete_removes_an_inline_blob()
    {
        using var storage = Open(Limit);
        var info = await Write(storage.Blobs, "to delete"u8.ToArray());

        Assert.True(await storage.Blobs.DeleteAsync(info.Id, Ct));
        Assert.False(await storage.Blobs.DeleteAsync(info.Id, Ct));

        Assert.False(await storage.Blobs.ExistsAsync(info.Id, Ct));
        Assert.Null(await storage.Blobs.OpenReadAsync(info.Id, Ct));
        Assert.Equal(0L, Count(storage, "SELECT COUNT(*) FROM blob_content"));
    }

    [Fact]
    public async Task An_online_backup_holds_the_inline_bodies_of_queued_and_stored_mail()
    {
        using var storage = Open(Limit);
        var folder = (await storage.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct))[0];
        var stored = await Write(storage.Blobs, "Subject: stored\r\n\r\nx\r\n"u8.ToArray());
        var queued = await Write(storage.Blobs, "Subject: queued\r\n\r\nx\r\n"u8.ToArray());
        await storage.Mailboxes.AppendAsync(1, folder.FolderId, [new NewMessage(stored.Id, stored.Length, _time.GetUtcNow())], null, Ct);
        await storage.Queue.EnqueueAsync(new NewQueuedMessage("a@example.org", [new NewQueueRecipient("b@example.net", "example.net")], queued.Id, queued.Length), Ct);
        var target = System.IO.Directory.CreateDirectory(Path.Combine(_folder, "backup")).FullName;

        // Backups copy in this order: the queue before the mailbox database holding the bodies it refers to.
        Assert.Equal(["queue", "mailbox", "message log", "key-value"], storage.Databases.Select(d => d.Name));
        foreach (var database in storage.Databases)
        {
            database.BackupTo(Path.Combine(target, Path.GetFileName(database.Path)));
        }

        SqliteConnection.ClearAllPools();
        using var restored = EmbeddedStorage.Open(target, new EmbeddedStoreOptions { Time = _time, InlineBlobMaxBytes = Limit });
        var message = Assert.Single(await restored.Mailboxes.ListMessagesAsync(1, folder.FolderId, 1, long.MaxValue, null, Ct));
        Assert.Equal("Subject: stored\r\n\r\nx\r\n", Encoding.ASCII.GetString(await ReadAll(restored.Blobs, message.Blob)));
        var claim = Assert.Single(await restored.Queue.ClaimDueAsync(_time.GetUtcNow(), TimeSpan.FromMinutes(1), 10, Ct));
        Assert.True(await restored.Blobs.ExistsAsync(claim.Message.Blob, Ct));
    }

    [Fact]
    public async Task Concurrent_deliveries_share_commits()
    {
        using var storage = Open(EmbeddedStoreOptions.DefaultInlineBlobMaxBytes);
        var folder = (await storage.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct))[0];
        var mailbox = storage.Databases.Single(d => d.Name == "mailbox");
        var before = mailbox.Commits;
        using var entered = new ManualResetEventSlim();
        using var holding = new ManualResetEventSlim();

        // A leader holds the mailbox database's write open while the deliveries start, so they meet in its queue
        // even on a loaded machine where the thread pool would otherwise run them one after another.
        var leader = Task.Run(() => mailbox.WriteAsync((_, _) =>
        {
            entered.Set();
            holding.Wait(TimeSpan.FromSeconds(30));
            return 0;
        }, CancellationToken.None));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)));
        var deliveries = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            var blob = await Write(storage.Blobs, Encoding.ASCII.GetBytes($"Subject: {i}\r\n\r\n{new string('x', 4000)}\r\n"));
            var appended = await storage.Mailboxes.AppendAsync(1, folder.FolderId, [new NewMessage(blob.Id, blob.Length, _time.GetUtcNow())], null, Ct);
            return appended.Uids.Single();
        })).ToArray();
        await Task.Delay(300);
        holding.Set();
        await leader;
        var uids = await Task.WhenAll(deliveries);

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), uids.Order());
        Assert.True(mailbox.Commits - before < 400, $"{mailbox.Commits - before} commits for 200 blob writes and 200 appends");
        Assert.Equal(200, (await storage.Mailboxes.GetFolderStatusAsync(1, folder.FolderId, Ct))!.Messages);
    }

    private EmbeddedStorage Open(int inlineMax) =>
        EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time, InlineBlobMaxBytes = inlineMax });

    private string FilePath(BlobId id) => Path.Combine(_folder, "blobs", id.Hex[..2], id.Hex[2..4], id.Hex);

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task<BlobInfo> Write(IBlobStore blobs, byte[] bytes)
    {
        using var input = new MemoryStream(bytes);
        var info = await blobs.WriteAsync(input, Ct);
        Assert.Equal(BlobId.FromHash(SHA256.HashData(bytes)), info.Id);
        return info;
    }

    private static async Task<byte[]> ReadAll(IBlobStore blobs, BlobId id)
    {
        using var stream = await blobs.OpenReadAsync(id, Ct);
        Assert.NotNull(stream);
        return await Drain(stream);
    }

    private static async Task<byte[]> Drain(Stream stream)
    {
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static long Count(EmbeddedStorage storage, string sql) => CountIn(storage.Databases.Single(d => d.Name == "mailbox"), sql);

    private static long CountIn(SqliteDatabase db, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={db.Path};Pooling=False");
        connection.Open();
        return connection.Scalar<long>(sql);
    }
}
