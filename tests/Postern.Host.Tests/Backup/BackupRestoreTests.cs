using Postern.Host.Embedded;
using Postern.Host.Tests.Durability;

namespace Postern.Host.Tests.Backup;

public sealed class BackupRestoreTests : IDisposable
{
    private readonly TempFolder _data = new();
    private readonly TempFolder _backup = new();
    private readonly TempFolder _restored = new();

    public void Dispose()
    {
        _data.Dispose();
        _backup.Dispose();
        _restored.Dispose();
    }

    private async Task Cli(params string[] args)
    {
        var (code, stdout, stderr) = await PosternProcess.RunAsync(args);
        Assert.True(code == 0, $"{string.Join(' ', args)} → {code}\n{stdout}\n{stderr}");
    }

    [Fact]
    public async Task A_backup_taken_while_the_server_runs_restores_to_the_same_directory_and_mail()
    {
        await Cli("customer", "add", "Example", "--data", _data.Path);
        await Cli("domain", "add", "example.com", "--customer", "Example", "--kind", "hosted", "--data", _data.Path);
        await Cli("account", "add", "alice@example.com", "--password", "Secret-pw-2026", "--data", _data.Path);
        await Cli("account", "add", "bob@example.com", "--password", "Secret-pw-2026", "--data", _data.Path);
        for (var i = 0; i < 3; i++)
        {
            var (code, _, _) = await DeliverTests.DeliverAsync(_data.Path, $"Subject: message {i}\r\n\r\nbody {i}\r\n", "alice@example.com", "bob@example.com");
            Assert.Equal(0, code);
        }

        using var server = PosternProcess.Start(["run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Server:Hostname=mx.example.test", "--set", "Listeners:https:Port=0"]);
        await server.WaitReadyAsync();

        var duringBackup = DeliverTests.DeliverAsync(_data.Path, "Subject: during\r\n\r\nwritten while the backup runs\r\n", "alice@example.com");
        await Cli("backup", _backup.Path, "--data", _data.Path);
        Assert.Equal(0, (await duringBackup).Code);
        Assert.True(File.Exists(Path.Combine(_backup.Path, "manifest.json")));

        server.Signal(Signals.SIGTERM);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));

        await Cli("restore", _backup.Path, "--data", _restored.Path);
        var original = await PosternProcess.RunAsync("status", "--json", "--data", _data.Path);
        var restored = await PosternProcess.RunAsync("status", "--json", "--data", _restored.Path);
        Assert.Equal(Counts(original.Stdout), Counts(restored.Stdout));

        // Every message of the backup is readable, byte for byte, from the restored folder.
        using var source = EmbeddedBackend.Open(DataFolder.Prepare(_data.Path));
        using var copy = EmbeddedBackend.Open(DataFolder.Prepare(_restored.Path));
        var restoredMessages = 0;
        foreach (var account in new long[] { 1, 2 })
        {
            var inboxCopy = await copy.Mail.Mailboxes.GetFolderAsync(account, "INBOX", default);
            var inboxSource = await source.Mail.Mailboxes.GetFolderAsync(account, "INBOX", default);
            var copied = await copy.Mail.Mailboxes.ListMessagesAsync(account, inboxCopy!.FolderId, 1, long.MaxValue, null, default);
            Assert.Equal(inboxSource!.UidValidity, inboxCopy.UidValidity);
            foreach (var message in copied)
            {
                var original1 = await source.Mail.Mailboxes.GetMessageAsync(account, inboxSource.FolderId, message.Uid, default);
                Assert.NotNull(original1);
                Assert.Equal(await ReadAllAsync(source, original1), await ReadAllAsync(copy, message));
                restoredMessages++;
            }
        }

        Assert.True(restoredMessages >= 6, $"{restoredMessages} messages restored");

        var refused = await PosternProcess.RunAsync("restore", _backup.Path, "--data", _restored.Path);
        Assert.Equal(4, refused.ExitCode);
        Assert.Contains("not empty", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_damaged_backup_is_refused_and_nothing_is_left_behind()
    {
        await Cli("customer", "add", "Example", "--data", _data.Path);
        await Cli("backup", _backup.Path, "--data", _data.Path);
        var db = Path.Combine(_backup.Path, "directory.db");
        var bytes = await File.ReadAllBytesAsync(db);
        bytes[^10] ^= 0xFF;
        await File.WriteAllBytesAsync(db, bytes);
        var (code, _, stderr) = await PosternProcess.RunAsync("restore", _backup.Path, "--data", _restored.Path);
        Assert.Equal(4, code);
        Assert.Contains("damaged", stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_restored.Path));
    }

    private static async Task<byte[]> ReadAllAsync(EmbeddedBackend backend, Core.Storage.Mailboxes.StoredMessage message)
    {
        await using var blob = await backend.Mail.Blobs.OpenReadAsync(message.Blob, default);
        using var buffer = new MemoryStream();
        buffer.Write(message.HeaderPrefix.Span);
        await blob!.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    private static string Counts(string statusJson)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(statusJson);
        return doc.RootElement.GetProperty("counts").GetRawText();
    }
}
