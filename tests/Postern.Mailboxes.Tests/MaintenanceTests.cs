using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.MessageLog;
using Postern.Storage.Sqlite;

namespace Postern.Mailboxes.Tests;

public sealed class MaintenanceTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-maint-" + Guid.NewGuid().ToString("N"));
    private readonly Clock _clock = new(new DateTimeOffset(2026, 11, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly EmbeddedStorage _storage;

    public MaintenanceTests()
    {
        Directory.CreateDirectory(_folder);
        _storage = EmbeddedStorage.Open(_folder, new EmbeddedStoreOptions { Time = _clock });
    }

    public void Dispose()
    {
        _storage.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task<BlobInfo> BlobAsync(string text)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));
        return await _storage.Blobs.WriteAsync(stream, default);
    }

    [Fact]
    public async Task Old_trash_is_expunged_its_blob_collected_after_the_grace_period_and_the_inbox_is_untouched()
    {
        var folders = await _storage.Mailboxes.EnsureDefaultFoldersAsync(1, 1, default);
        var trash = folders.Single(f => f.SpecialUse == SpecialUse.Trash);
        var inbox = folders.Single(f => f.Name == "INBOX");
        await _storage.Mailboxes.SetAutoExpungeDaysAsync(1, trash.FolderId, 30, default);

        var oldBlob = await BlobAsync("Subject: old\r\n\r\nold\r\n");
        var keptBlob = await BlobAsync("Subject: kept\r\n\r\nkept\r\n");
        await _storage.Mailboxes.AppendAsync(1, trash.FolderId, [new NewMessage(oldBlob.Id, oldBlob.Length, _clock.GetUtcNow())], null, default);
        await _storage.Mailboxes.AppendAsync(1, inbox.FolderId, [new NewMessage(oldBlob.Id, oldBlob.Length, _clock.GetUtcNow())], null, default);
        _clock.Advance(TimeSpan.FromDays(20));
        await _storage.Mailboxes.AppendAsync(1, trash.FolderId, [new NewMessage(keptBlob.Id, keptBlob.Length, _clock.GetUtcNow())], null, default);
        _clock.Advance(TimeSpan.FromDays(15));

        var maintenance = new MailboxMaintenance(_storage.Mailboxes, _storage.Blobs, _storage.MessageLog, _storage.KeyValue, new MaintenanceOptions(), _clock);
        var report = await maintenance.RunOnceAsync(default);
        Assert.Equal(1, report.MessagesExpunged);
        Assert.Equal(1, (await _storage.Mailboxes.GetFolderStatusAsync(1, trash.FolderId, default))!.Messages);
        Assert.Equal(1, (await _storage.Mailboxes.GetFolderStatusAsync(1, inbox.FolderId, default))!.Messages);
        Assert.True(await _storage.Blobs.ExistsAsync(oldBlob.Id, default), "still referenced from the INBOX");

        await _storage.Mailboxes.ExpungeAsync(1, inbox.FolderId, [1], onlyDeleted: false, default);
        Assert.Equal(0, (await maintenance.RunOnceAsync(default)).BlobsDeleted);
        _clock.Advance(TimeSpan.FromDays(2));
        var later = await maintenance.RunOnceAsync(default);
        Assert.Equal(1, later.BlobsDeleted);
        Assert.False(await _storage.Blobs.ExistsAsync(oldBlob.Id, default));
        Assert.True(await _storage.Blobs.ExistsAsync(keptBlob.Id, default));
    }

    [Fact]
    public async Task The_message_log_keeps_its_retention()
    {
        var record = new MessageLogRecord(_clock.GetUtcNow(), "Q1", "<id@x>", "192.0.2.1", "helo.test", "a@x.test", "b@y.test", 10, "clean", "delivered");
        await _storage.MessageLog.AppendBatchAsync([record], default);
        _clock.Advance(TimeSpan.FromDays(31));
        await _storage.MessageLog.AppendBatchAsync([record with { Time = _clock.GetUtcNow(), QueueId = "Q2" }], default);
        var report = await new MailboxMaintenance(_storage.Mailboxes, _storage.Blobs, _storage.MessageLog, _storage.KeyValue, new MaintenanceOptions(), _clock).RunOnceAsync(default);
        Assert.Equal(1, report.LogRecordsDeleted);
    }

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
