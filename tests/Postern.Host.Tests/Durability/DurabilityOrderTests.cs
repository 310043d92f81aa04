using System.Text.RegularExpressions;

namespace Postern.Host.Tests.Durability;

/// <summary>
/// The order of durable steps, observed with strace on the real binary, then success reported (here: the
/// line on standard output, which .NET writes through a duplicate of fd 1; in SMTP: the 250 reply), and
/// the message log written only after that.
/// A small body (up to 128 KiB, the default inline limit) is written into mailbox.db's write-ahead log and
/// synced, then the mailbox append (with the copy's trace header prefix) is written to the log and synced,
/// then the acknowledgement. A larger body is a file: fsynced, renamed into place, its directory fsynced,
/// then the mailbox metadata commit is synced, then the acknowledgement.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed partial class DurabilityOrderTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Small_body_wal_write_and_sync_then_append_wal_write_and_sync_then_acknowledgement()
    {
        var marker = "inline-marker-" + Guid.NewGuid().ToString("N");
        var lines = await TraceDeliveryAsync(
            $"Subject: durable\r\n\r\n{marker}\r\n",
            ["-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write,pwrite64", "-s", "9000"]);
        var order = new Order(lines);

        var bodyWrite = order.Find(MailboxWalWriteContaining(marker), -1, "write of the body into mailbox.db's write-ahead log");
        var bodySync = order.Find(MailboxWalSync(), bodyWrite, "sync of mailbox.db's write-ahead log after the body");
        var appendWrite = order.Find(MailboxWalWriteContaining("Delivered-To: alice@example.com"), bodySync, "write of the mailbox append into the write-ahead log");
        var appendSync = order.Find(MailboxWalSync(), appendWrite, "sync of mailbox.db's write-ahead log after the append");
        var ack = order.Find(AcknowledgementWrite(), appendSync, "acknowledgement on standard output");
        var logSync = order.Find(MessageLogWalSync(), ack, "message-log write after the acknowledgement");
        Assert.True(bodyWrite < bodySync && bodySync < appendWrite && appendWrite < appendSync && appendSync < ack && ack < logSync);
        Assert.DoesNotContain(lines.Take(ack), l => MessageLogWalSync().IsMatch(l));
        Assert.DoesNotContain(lines, l => BlobTempFsync().IsMatch(l) || BlobRename().IsMatch(l)); // no file for a small body
    }

    [Fact]
    public async Task Large_body_fsync_rename_directory_fsync_then_metadata_sync_then_acknowledgement()
    {
        var body = new System.Text.StringBuilder("Subject: durable\r\n\r\n");
        while (body.Length <= 200 * 1024)
        {
            body.Append("a line of a body larger than the inline limit, so it is stored as a file\r\n");
        }

        var lines = await TraceDeliveryAsync(body.ToString(), ["-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write"]);
        var order = new Order(lines);

        var blobSync = order.Find(BlobTempFsync(), -1, "fsync of the spooled blob");
        var rename = order.Find(BlobRename(), blobSync, "rename of the blob into place");
        var dirSync = order.Find(BlobDirectoryFsync(), rename, "fsync of the blob's directory");
        var walSync = order.Find(MailboxWalSync(), dirSync, "sync of mailbox.db's write-ahead log");
        var ack = order.Find(AcknowledgementWrite(), walSync, "acknowledgement on standard output");
        var logSync = order.Find(MessageLogWalSync(), ack, "message-log write after the acknowledgement");
        Assert.True(blobSync < rename && rename < dirSync && dirSync < walSync && walSync < ack && ack < logSync);
        Assert.DoesNotContain(lines.Take(ack), l => MessageLogWalSync().IsMatch(l));
    }

    private async Task<string[]> TraceDeliveryAsync(string message, string[] straceFilter)
    {
        var strace = new[] { "/usr/bin/strace", "/bin/strace" }.FirstOrDefault(File.Exists)
            ?? throw new Xunit.Sdk.XunitException("strace is not installed (Debian package: strace)");
        foreach (var args in new[]
        {
            new[] { "customer", "add", "Example" },
            ["domain", "add", "example.com", "--customer", "Example", "--kind", "hosted"],
            ["account", "add", "alice@example.com", "--password", "Secret-pw-2026"],
        })
        {
            Assert.Equal(0, (await PosternProcess.RunAsync([.. args, "--data", _data.Path])).ExitCode);
        }

        var trace = Path.Combine(_data.Path, "..", Path.GetFileName(_data.Path) + ".strace");
        try
        {
            using var p = PosternProcess.Start(
                ["deliver", "--from", "a@remote.test", "--to", "alice@example.com", "--data", _data.Path],
                launcher: strace,
                launcherArgs: ["-f", "-y", .. straceFilter, "-o", trace]);
            p.WriteStdinAndClose(message);
            var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.True(code == 0, p.Stdout + p.Stderr);
            return await File.ReadAllLinesAsync(trace);
        }
        finally
        {
            File.Delete(trace);
        }
    }

    private static Regex MailboxWalWriteContaining(string text) =>
        new(@"\bpwrite64\(\d+</[^>]*/mailbox\.db-wal>, "".*" + Regex.Escape(text), RegexOptions.None, TimeSpan.FromSeconds(10));

    // A call another thread interrupts is logged by strace as "fsync(fd<path> <unfinished ...>", resumed later.
    [GeneratedRegex(@"\bfsync\(\d+</[^>]*/blobs/\.tmp/[0-9a-f]{32}>(\)| <unfinished)")]
    private static partial Regex BlobTempFsync();

    [GeneratedRegex(@"\brename(at2?)?\(.*blobs/\.tmp/[0-9a-f]{32}.*blobs/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")]
    private static partial Regex BlobRename();

    [GeneratedRegex(@"\bfsync\(\d+</[^>]*/blobs/[0-9a-f]{2}/[0-9a-f]{2}>(\)| <unfinished)")]
    private static partial Regex BlobDirectoryFsync();

    [GeneratedRegex(@"\bf(data)?sync\(\d+</[^>]*/mailbox\.db-wal>(\)| <unfinished)")]
    private static partial Regex MailboxWalSync();

    [GeneratedRegex(@"\bf(data)?sync\(\d+</[^>]*/log\.db-wal>(\)| <unfinished)")]
    private static partial Regex MessageLogWalSync();

    [GeneratedRegex(@"\bwrite\(\d+<[^>]*>, ""alice@example\.com: Delivered")]
    private static partial Regex AcknowledgementWrite();

    /// <summary>Finds the first matching strace line after a given one, or fails with an excerpt of the trace.</summary>
    private sealed class Order(string[] lines)
    {
        public int Find(Regex pattern, int after, string what)
        {
            for (var i = after + 1; i < lines.Length; i++)
            {
                if (pattern.IsMatch(lines[i]))
                {
                    return i;
                }
            }

            var excerpt = lines
                .Where(l => !l.Contains("write(", StringComparison.Ordinal) || l.Contains("blobs", StringComparison.Ordinal) || l.Contains(".db-wal", StringComparison.Ordinal))
                .Select(l => l.Length > 200 ? l[..200] + "..." : l)
                .Take(80);
            throw new Xunit.Sdk.XunitException($"no {what} after line {after} in the strace output:\n{string.Join('\n', excerpt)}");
        }
    }
}
