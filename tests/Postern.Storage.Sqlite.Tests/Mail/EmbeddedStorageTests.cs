using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.Queue;
using Postern.Storage.Conformance;
using Postern.Storage.Sqlite.Blobs;
using Postern.Storage.Sqlite.KeyValue;
using Postern.Storage.Sqlite.Mailboxes;
using Postern.Storage.Sqlite.MessageLog;
using Postern.Storage.Sqlite.Queue;

namespace Postern.Storage.Sqlite.Tests.Mail;

/// <summary>What only the embedded backend has: files on disk, fsync order, several processes, schema versions.</summary>
public sealed class EmbeddedStorageTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly string _folder = SqliteStorageFactory.NewDataFolder();
    private readonly ManualTimeProvider _time = new();

    public void Dispose() => SqliteStorageFactory.DeleteFolder(_folder);

    [Fact]
    public async Task A_blob_is_flushed_then_renamed_then_its_directory_flushed_before_its_row_commits()
    {
        var steps = new List<(BlobWriteStep Step, string Path, bool FinalExists, bool RowVisible)>();
        string? finalPath = null;
        using var mailboxDb = MailboxSchema.Open(_folder);
        var blobs = new SqliteBlobStore(_folder, mailboxDb, new EmbeddedStoreOptions
        {
            Time = _time,
            InlineBlobMaxBytes = 0,
            BlobWriteObserver = (step, path) =>
            {
                // Seen from another connection, as a crash at this point would leave it.
                var rowVisible = CountBlobRows(mailboxDb) > 0;
                steps.Add((step, path, finalPath is not null && File.Exists(finalPath), rowVisible));
            },
        });
        var bytes = Encoding.ASCII.GetBytes("Subject: durable\r\n\r\nbody\r\n");
        var id = BlobId.FromHash(System.Security.Cryptography.SHA256.HashData(bytes));
        finalPath = Path.Combine(_folder, "blobs", id.Hex[..2], id.Hex[2..4], id.Hex);

        using var input = new MemoryStream(bytes);
        var info = await blobs.WriteAsync(input, Ct);

        Assert.Equal(id, info.Id);
        Assert.Equal(
            [BlobWriteStep.FileFlushed, BlobWriteStep.Renamed, BlobWriteStep.DirectoryFlushed, BlobWriteStep.MetadataCommitted],
            steps.Select(s => s.Step));
        Assert.Equal([false, true, true, true], steps.Select(s => s.FinalExists));
        Assert.Equal([false, false, false, true], steps.Select(s => s.RowVisible));
        Assert.StartsWith(Path.Combine(_folder, "blobs", ".tmp"), steps[0].Path, StringComparison.Ordinal);
        Assert.Equal(Path.GetDirectoryName(finalPath), steps[2].Path);
        Assert.Empty(System.IO.Directory.GetFiles(Path.Combine(_folder, "blobs", ".tmp")));
    }

    [Fact]
    public async Task The_orphan_sweep_removes_old_files_without_a_row_and_keeps_the_rest()
    {
        using var store = SqliteMailboxStore.Open(_folder, new EmbeddedStoreOptions { Time = _time, InlineBlobMaxBytes = 0 });
        using var kept = new MemoryStream("has a row"u8.ToArray());
        var known = await store.Blobs.WriteAsync(kept, Ct);
        var orphanId = BlobId.FromHash(System.Security.Cryptography.SHA256.HashData("crashed before commit"u8));
        var orphan = Path.Combine(_folder, "blobs", orphanId.Hex[..2], orphanId.Hex[2..4], orphanId.Hex);
        var young = Path.Combine(_folder, "blobs", "ff", "ff", new string('f', 64));
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(orphan)!);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(young)!);
        await File.WriteAllTextAsync(orphan, "crashed before commit", Ct);
        await File.WriteAllTextAsync(young, "being written", Ct);
        var knownPath = Path.Combine(_folder, "blobs", known.Id.Hex[..2], known.Id.Hex[2..4], known.Id.Hex);
        File.SetLastWriteTimeUtc(orphan, _time.GetUtcNow().UtcDateTime.AddDays(-2));
        File.SetLastWriteTimeUtc(knownPath, _time.GetUtcNow().UtcDateTime.AddDays(-2));
        File.SetLastWriteTimeUtc(young, _time.GetUtcNow().UtcDateTime);

        var swept = await store.Blobs.SweepOrphanFilesAsync(_time.GetUtcNow(), TimeSpan.FromDays(1), Ct);

        Assert.Equal(1, swept);
        Assert.False(File.Exists(orphan));
        Assert.True(File.Exists(young));
        Assert.True(await store.Blobs.ExistsAsync(known.Id, Ct));
    }

    [Fact]
    public async Task Below_the_disk_floor_a_blob_write_is_refused_and_nothing_is_kept()
    {
        var probe = new FakeDiskProbe(free: 50_000);
        using var storage = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time, DiskSpaceProbe = probe, DiskFloorBytes = 100_000 });

        using var input = new MemoryStream(new byte[1000]);
        var error = await Assert.ThrowsAsync<StoreFullException>(() => storage.Blobs.WriteAsync(input, Ct));

        Assert.Equal(50_000, error.AvailableBytes);
        Assert.Equal(100_000, error.FloorBytes);
        Assert.Empty(System.IO.Directory.GetFiles(Path.Combine(_folder, "blobs"), "*", SearchOption.AllDirectories));

        probe.Free = 10_000_000;
        using var again = new MemoryStream(new byte[1000]);
        Assert.True(await storage.Blobs.ExistsAsync((await storage.Blobs.WriteAsync(again, Ct)).Id, Ct));
    }

    [Fact]
    public async Task A_disk_that_fills_during_the_spool_leaves_no_file_behind()
    {
        var probe = new FakeDiskProbe(free: 10_000_000);
        using var storage = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time, DiskSpaceProbe = probe, DiskFloorBytes = 100_000 });
        using var input = new FillingStream(probe, 200_000);

        await Assert.ThrowsAsync<StoreFullException>(() => storage.Blobs.WriteAsync(input, Ct));

        Assert.Empty(System.IO.Directory.GetFiles(Path.Combine(_folder, "blobs"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public void The_disk_space_guard_measures_against_the_floor()
    {
        var probe = new FakeDiskProbe(free: 1_000);
        var guard = new DiskSpaceGuard(probe, _folder, 800);

        Assert.True(guard.HasRoomFor(200));
        Assert.False(guard.HasRoomFor(201));
        Assert.Throws<StoreFullException>(() => guard.EnsureRoomFor(500));
        Assert.True(new DriveInfoDiskSpaceProbe().GetAvailableBytes(_folder) > 0);
    }

    [Fact]
    public async Task Blob_files_are_fanned_out_by_the_first_hex_digits()
    {
        using var storage = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time, InlineBlobMaxBytes = 0 });
        using var input = new MemoryStream("fan-out"u8.ToArray());

        var info = await storage.Blobs.WriteAsync(input, Ct);

        Assert.True(File.Exists(Path.Combine(_folder, "blobs", info.Id.Hex[..2], info.Id.Hex[2..4], info.Id.Hex)));
    }

    [Fact]
    public async Task Two_writers_in_one_process_and_a_second_process_append_without_lock_errors()
    {
        using var server = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time });
        using var cli = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time }); // like the CLI beside the server
        var inbox = (await server.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct)).Single(f => f.Name == "INBOX");

        async Task<List<long>> AppendMany(EmbeddedStorage storage, string who)
        {
            var uids = new List<long>();
            for (var i = 0; i < 25; i++)
            {
                using var body = new MemoryStream(Encoding.ASCII.GetBytes($"Subject: {who} {i}\r\n\r\nx\r\n"));
                var blob = await storage.Blobs.WriteAsync(body, Ct);
                var result = await storage.Mailboxes.AppendAsync(1, inbox.FolderId, [new NewMessage(blob.Id, blob.Length, _time.GetUtcNow())], null, Ct);
                uids.AddRange(result.Uids);
                await storage.Mailboxes.StoreFlagsAsync(1, inbox.FolderId, result.Uids.ToList(), new FlagChange(FlagChangeMode.Add, MessageFlags.Seen), null, Ct);
            }

            return uids;
        }

        var all = await Task.WhenAll(
            Task.Run(() => AppendMany(server, "a")),
            Task.Run(() => AppendMany(server, "b")),
            Task.Run(() => AppendMany(cli, "c")),
            Task.Run(() => AppendMany(cli, "d")));

        var uids = all.SelectMany(u => u).Order().ToList();
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), uids);
        var status = await cli.Mailboxes.GetFolderStatusAsync(1, inbox.FolderId, Ct);
        Assert.Equal((100, 0, 101L), (status!.Messages, status.Unseen, status.UidNext));
        Assert.Equal(new QuotaUsage(status.Size, 100), await server.Mailboxes.GetAccountUsageAsync(1, Ct));
    }

    [Fact]
    public async Task Everything_is_still_there_after_a_restart()
    {
        string queueId;
        long folderId;
        using (var before = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time }))
        {
            using var body = new MemoryStream("Subject: persisted\r\n\r\nx\r\n"u8.ToArray());
            var blob = await before.Blobs.WriteAsync(body, Ct);
            folderId = (await before.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct))[0].FolderId;
            await before.Mailboxes.AppendAsync(1, folderId, [new NewMessage(blob.Id, blob.Length, _time.GetUtcNow(), SearchText: "persisted")], null, Ct);
            await before.Mailboxes.ExpungeAsync(1, folderId, [1], onlyDeleted: false, Ct);
            await before.Mailboxes.AppendAsync(1, folderId, [new NewMessage(blob.Id, blob.Length, _time.GetUtcNow(), SearchText: "persisted")], null, Ct);
            queueId = await before.Queue.EnqueueAsync(new NewQueuedMessage("a@example.org", [new NewQueueRecipient("b@example.net", "example.net")], blob.Id, blob.Length), Ct);
            await before.KeyValue.SetAsync("srs", "key"u8.ToArray(), null, Ct);
        }

        SqliteConnection.ClearAllPools();
        using var after = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time });

        Assert.NotNull(await after.Queue.GetAsync(queueId, Ct));
        Assert.Single(await after.Queue.ClaimDueAsync(_time.GetUtcNow(), TimeSpan.FromMinutes(1), 10, Ct));
        Assert.Equal([2L], await after.Mailboxes.SearchTextAsync(1, folderId, "persist", Ct));
        Assert.Equal(3, (await after.Mailboxes.GetFolderStatusAsync(1, folderId, Ct))!.UidNext);
        Assert.NotNull(await after.KeyValue.GetAsync("srs", Ct));
    }

    [Theory]
    [InlineData("mailbox.db")]
    [InlineData("queue.db")]
    [InlineData("log.db")]
    [InlineData("kv.db")]
    public void A_store_written_by_a_newer_postern_is_refused(string file)
    {
        EmbeddedStorage.Open(_folder).Dispose();
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_folder, file)};Pooling=False"))
        {
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "PRAGMA user_version = 99;";
            cmd.ExecuteNonQuery();
        }

        var error = Assert.Throws<StoreSchemaTooNewException>(() => EmbeddedStorage.Open(_folder));

        Assert.Equal(99, error.FoundVersion);
        var known = file == MailboxSchema.FileName ? MailboxSchema.Migrations[^1].Version
            : file == Postern.Storage.Sqlite.Queue.SqliteQueueStore.FileName ? Postern.Storage.Sqlite.Queue.SqliteQueueStore.Migrations[^1].Version
            : 1;
        Assert.Equal(known, error.KnownVersion);
    }

    [Fact]
    public void Each_store_opens_alone_at_its_schema_version()
    {
        using var mailbox = SqliteMailboxStore.Open(_folder);
        using var queue = SqliteQueueStore.Open(_folder);
        using var log = SqliteMessageLogStore.Open(_folder);
        using var kv = SqliteKeyValueStore.Open(_folder);

        Assert.All(
            new[] { mailbox.Database, queue.Database, log.Database, kv.Database },
            db => Assert.Equal(db.KnownSchemaVersion, db.SchemaVersion()));
        Assert.Equal(
            ["kv.db", "log.db", "mailbox.db", "queue.db"],
            System.IO.Directory.GetFiles(_folder, "*.db").Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task An_online_backup_holds_the_mail()
    {
        using var storage = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _time });
        await storage.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct);
        var copy = Path.Combine(_folder, "backup-mailbox.db");

        storage.Databases.Single(d => d.Name == "mailbox").BackupTo(copy);

        using var connection = new SqliteConnection($"Data Source={copy};Pooling=False");
        connection.Open();
        Assert.Equal(6L, connection.Scalar<long>("SELECT COUNT(*) FROM folders"));
    }

    private static long CountBlobRows(SqliteDatabase db)
    {
        using var connection = new SqliteConnection($"Data Source={db.Path};Pooling=False");
        connection.Open();
        return connection.Scalar<long>("SELECT COUNT(*) FROM blobs");
    }

    private sealed class FakeDiskProbe(long free) : IDiskSpaceProbe
    {
        public long Free { get; set; } = free;

        public long GetAvailableBytes(string path) => Free;
    }

    /// <summary>A message body whose reading uses up the disk (the fake one).</summary>
    private sealed class FillingStream(FakeDiskProbe probe, int length) : MemoryStream(new byte[length])
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            probe.Free -= buffer.Length * 100L;
            return base.ReadAsync(buffer, cancellationToken);
        }
    }
}
