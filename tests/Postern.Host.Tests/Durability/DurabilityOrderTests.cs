using System.Text.RegularExpressions;

namespace Postern.Host.Tests.Durability;

/// <summary>
/// The order of durable steps, observed with strace on the real binary: the blob file is fsynced, renamed
/// into place, its directory fsynced, then the mailbox metadata commit is synced, and only then is success
/// reported (here: the line on standard output, which .NET writes through a duplicate of fd 1; in SMTP: the
/// 250 reply). The message log is written only after that.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed partial class DurabilityOrderTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Blob_fsync_rename_directory_fsync_then_metadata_sync_then_acknowledgement()
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
                launcherArgs: ["-f", "-y", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2,write", "-o", trace]);
            p.WriteStdinAndClose("Subject: durable\r\n\r\nbody\r\n");
            var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(120));
            Assert.True(code == 0, p.Stdout + p.Stderr);

            var lines = await File.ReadAllLinesAsync(trace);
            int Find(Regex pattern, int after, string what)
            {
                for (var i = after + 1; i < lines.Length; i++)
                {
                    if (pattern.IsMatch(lines[i]))
                    {
                        return i;
                    }
                }

                throw new Xunit.Sdk.XunitException($"no {what} after line {after} in the strace output:\n{string.Join('\n', lines.Where(l => !l.Contains("write(", StringComparison.Ordinal) || l.Contains("blobs", StringComparison.Ordinal)).Take(80))}");
            }

            var blobSync = Find(BlobTempFsync(), -1, "fsync of the spooled blob");
            var rename = Find(BlobRename(), blobSync, "rename of the blob into place");
            var dirSync = Find(BlobDirectoryFsync(), rename, "fsync of the blob's directory");
            var walSync = Find(MailboxWalSync(), dirSync, "sync of mailbox.db's write-ahead log");
            var ack = Find(AcknowledgementWrite(), walSync, "acknowledgement on standard output");
            var logSync = Find(MessageLogWalSync(), ack, "message-log write after the acknowledgement");
            Assert.True(blobSync < rename && rename < dirSync && dirSync < walSync && walSync < ack && ack < logSync);
            Assert.DoesNotContain(lines.Take(ack), l => MessageLogWalSync().IsMatch(l));
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [GeneratedRegex(@"\bfsync\(\d+</[^>]*/blobs/\.tmp/[0-9a-f]{32}>\)")]
    private static partial Regex BlobTempFsync();

    [GeneratedRegex(@"\brename(at2?)?\(.*blobs/\.tmp/[0-9a-f]{32}.*blobs/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{64}")]
    private static partial Regex BlobRename();

    [GeneratedRegex(@"\bfsync\(\d+</[^>]*/blobs/[0-9a-f]{2}/[0-9a-f]{2}>\)")]
    private static partial Regex BlobDirectoryFsync();

    [GeneratedRegex(@"\bf(data)?sync\(\d+</[^>]*/mailbox\.db-wal>\)")]
    private static partial Regex MailboxWalSync();

    [GeneratedRegex(@"\bf(data)?sync\(\d+</[^>]*/log\.db-wal>\)")]
    private static partial Regex MessageLogWalSync();

    [GeneratedRegex(@"\bwrite\(\d+<[^>]*>, ""alice@example\.com: Delivered")]
    private static partial Regex AcknowledgementWrite();
}
