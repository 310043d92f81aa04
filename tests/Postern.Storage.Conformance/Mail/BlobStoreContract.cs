using System.Security.Cryptography;
using System.Text;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.Queue;

namespace Postern.Storage.Conformance.Mail;

/// <summary>What every <see cref="IBlobStore"/> must do, with its reference counting through the mailbox and queue stores.</summary>
public abstract class BlobStoreContract : StorageContract
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);

    [Fact]
    public async Task Written_bytes_read_back_under_their_sha256()
    {
        var bytes = new byte[300_000]; // several write buffers
        new Random(7).NextBytes(bytes);
        using var input = new MemoryStream(bytes);

        var info = await Storage.Blobs.WriteAsync(input, Ct);

        Assert.Equal(BlobId.FromHash(SHA256.HashData(bytes)), info.Id);
        Assert.Equal(bytes.Length, info.Length);
        using var read = await Storage.Blobs.OpenReadAsync(info.Id, Ct);
        Assert.NotNull(read);
        Assert.Equal(bytes, await ReadAllAsync(read));
        Assert.Equal(bytes.Length, await Storage.Blobs.GetLengthAsync(info.Id, Ct));
    }

    [Fact]
    public async Task A_batch_write_stores_every_stream_in_order_small_large_and_repeated()
    {
        var random = new Random(11);
        var large = new byte[700_000]; // past any inline limit
        random.NextBytes(large);
        var contents = new List<byte[]>
        {
            Encoding.ASCII.GetBytes("Subject: one\r\n\r\nfirst\r\n"),
            large,
            Encoding.ASCII.GetBytes("Subject: two\r\n\r\nsecond\r\n"),
            Encoding.ASCII.GetBytes("Subject: one\r\n\r\nfirst\r\n"),
            Array.Empty<byte>(),
        };
        var streams = contents.Select(c => (Stream)new MemoryStream(c)).ToList();

        var infos = await Storage.Blobs.WriteManyAsync(streams, Ct);

        Assert.Equal(contents.Count, infos.Count);
        for (var i = 0; i < contents.Count; i++)
        {
            Assert.Equal(BlobId.FromHash(SHA256.HashData(contents[i])), infos[i].Id);
            Assert.Equal(contents[i].Length, infos[i].Length);
            using var read = await Storage.Blobs.OpenReadAsync(infos[i].Id, Ct);
            Assert.NotNull(read);
            Assert.Equal(contents[i], await ReadAllAsync(read));
        }

        Assert.Equal(infos[0], infos[3]);
    }

    [Fact]
    public async Task Same_content_gives_the_same_blob()
    {
        var first = await WriteBlobAsync("Subject: hello\r\n\r\nbody\r\n");
        var second = await WriteBlobAsync("Subject: hello\r\n\r\nbody\r\n");
        var other = await WriteBlobAsync("Subject: hello\r\n\r\nbody!\r\n");

        Assert.Equal(first, second);
        Assert.NotEqual(first.Id, other.Id);
    }

    [Fact]
    public async Task Ranged_read_returns_only_the_window()
    {
        var info = await WriteBlobAsync("0123456789abcdef");

        using (var middle = await Storage.Blobs.OpenReadAsync(info.Id, 4, 6, Ct))
        {
            Assert.Equal("456789", Encoding.ASCII.GetString(await ReadAllAsync(middle!)));
        }

        using (var tail = await Storage.Blobs.OpenReadAsync(info.Id, 12, null, Ct))
        {
            Assert.Equal("cdef", Encoding.ASCII.GetString(await ReadAllAsync(tail!)));
        }

        using (var pastEnd = await Storage.Blobs.OpenReadAsync(info.Id, 14, 100, Ct))
        {
            Assert.Equal("ef", Encoding.ASCII.GetString(await ReadAllAsync(pastEnd!)));
        }
    }

    [Fact]
    public async Task A_missing_blob_is_reported_as_missing()
    {
        var id = BlobId.FromHash(SHA256.HashData("never written"u8));

        Assert.False(await Storage.Blobs.ExistsAsync(id, Ct));
        Assert.Null(await Storage.Blobs.OpenReadAsync(id, Ct));
        Assert.Null(await Storage.Blobs.GetLengthAsync(id, Ct));
        Assert.False(await Storage.Blobs.DeleteAsync(id, Ct));
    }

    [Fact]
    public async Task Delete_removes_the_blob()
    {
        var info = await WriteBlobAsync("to delete");

        Assert.True(await Storage.Blobs.DeleteAsync(info.Id, Ct));

        Assert.False(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task An_unreferenced_blob_is_collected_only_after_the_grace_period()
    {
        var info = await WriteBlobAsync("orphan: its message never committed");

        Time.Advance(TimeSpan.FromMinutes(59));
        var early = await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.Equal(0, early.Deleted);
        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct));

        Time.Advance(TimeSpan.FromMinutes(2));
        var late = await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.Equal(1, late.Deleted);
        Assert.Equal(info.Length, late.BytesFreed);
        Assert.False(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task A_blob_lives_while_a_message_refers_to_it_and_goes_after_the_last_expunge()
    {
        var mail = Storage.Mailboxes;
        var folders = await mail.EnsureDefaultFoldersAsync(1, 10, Ct);
        var inbox = folders.Single(f => f.Name == "INBOX");
        var archive = folders.Single(f => f.Name == "Archive");
        var info = await WriteBlobAsync("From: a@example.org\r\n\r\nkept\r\n");
        var appended = await mail.AppendAsync(1, inbox.FolderId, [new NewMessage(info.Id, info.Length, Time.GetUtcNow())], null, Ct);
        var copied = await mail.CopyAsync(1, inbox.FolderId, appended.Uids.ToList(), archive.FolderId, null, Ct);

        Time.Advance(TimeSpan.FromDays(2));
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct));

        await mail.ExpungeAsync(1, inbox.FolderId, appended.Uids.ToList(), onlyDeleted: false, Ct);
        Time.Advance(TimeSpan.FromDays(2));
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct)); // the copy still refers to it

        await mail.ExpungeAsync(1, archive.FolderId, copied.Uids.Select(p => p.TargetUid).ToList(), onlyDeleted: false, Ct);
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct)); // within the grace period

        Time.Advance(Grace + TimeSpan.FromSeconds(1));
        var result = await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.Equal(1, result.Deleted);
        Assert.False(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task Deleting_a_folder_releases_its_blobs()
    {
        var mail = Storage.Mailboxes;
        await mail.EnsureDefaultFoldersAsync(1, 10, Ct);
        var folder = await mail.CreateFolderAsync(1, "Old", SpecialUse.None, Ct);
        var info = await WriteBlobAsync("in a folder about to go");
        await mail.AppendAsync(1, folder.FolderId, [new NewMessage(info.Id, info.Length, Time.GetUtcNow())], null, Ct);

        await mail.DeleteFolderAsync(1, "Old", Ct);
        Time.Advance(Grace * 2);
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);

        Assert.False(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task A_blob_held_by_the_queue_is_not_collected()
    {
        var info = await WriteBlobAsync("outbound message");
        var queueId = await Storage.Queue.EnqueueAsync(
            new NewQueuedMessage("a@example.org", [new NewQueueRecipient("b@example.net", "example.net")], info.Id, info.Length), Ct);

        Time.Advance(Grace * 3);
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct));

        await Storage.Queue.DeleteAsync(queueId, Ct);
        Time.Advance(Grace * 3);
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);
        Assert.False(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task Rewriting_a_collectable_blob_restarts_its_grace_period()
    {
        var info = await WriteBlobAsync("written twice");
        Time.Advance(Grace * 2);

        await WriteBlobAsync("written twice"); // a new message with the same bytes, not committed yet
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);

        Assert.True(await Storage.Blobs.ExistsAsync(info.Id, Ct));
    }

    [Fact]
    public async Task Appending_a_message_whose_blob_is_gone_fails_clearly()
    {
        var folders = await Storage.Mailboxes.EnsureDefaultFoldersAsync(1, 10, Ct);
        var info = await WriteBlobAsync("collected before the append");
        Time.Advance(Grace * 2);
        await Storage.Blobs.CollectGarbageAsync(Time.GetUtcNow(), Grace, Ct);

        await Assert.ThrowsAsync<BlobMissingException>(() => Storage.Mailboxes.AppendAsync(
            1, folders[0].FolderId, [new NewMessage(info.Id, info.Length, Time.GetUtcNow())], null, Ct));
        Assert.Equal(new QuotaUsage(0, 0), await Storage.Mailboxes.GetAccountUsageAsync(1, Ct));
    }
}
