using System.Text;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Imap;

/// <summary>mbsync (isync) keeps a local Maildir and the server's folders in step, both ways, flags included.</summary>
[Trait("Category", "EndToEnd")]
public sealed class MbsyncPeerTests : IAsyncLifetime
{
    private const string Mbsync = "/usr/bin/mbsync";
    private readonly SmtpTestBed _bed = new();
    private readonly TempFolder _local = new();

    public Task InitializeAsync() => _bed.SetUpDirectoryAsync();

    public Task DisposeAsync()
    {
        _bed.Dispose();
        _local.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Folders and messages with flags, put there by imaplib before mbsync first runs.</summary>
    private const string SeedScript = """
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert M.login('alice@example.com', sys.argv[2])[0] == 'OK'
for f in ('Projects', 'Projects/2026'):
    assert M.create(f)[0] == 'OK', f
def message(i, folder):
    tag = folder.replace('/', '.')
    return (f'From: Sender {i} <s{i}@example.org>\r\nTo: alice@example.com\r\nSubject: Message {i} in {folder}\r\n'
            f'Message-ID: <m{i}.{tag}@example.org>\r\nDate: Mon, 7 Dec 2026 10:0{i}:00 +0000\r\n'
            f'Content-Type: text/plain; charset=utf-8\r\n\r\nBody {i} of {folder}: Grüße\r\n.leading dot\r\n').encode()
for folder, flags in (('INBOX', ['(\\Seen)', '()', '(\\Flagged \\Seen)']), ('Projects', ['(\\Answered \\Seen)', '()']), ('Projects/2026', ['(\\Draft)'])):
    for i, f in enumerate(flags):
        typ, data = M.append(folder, f, None, message(i, folder))
        assert typ == 'OK', data
M.logout()
print('seeded')
""";

    /// <summary>Changes made on the server between two runs: a flag, an expunge, and a delivery by SMTP.</summary>
    private const string ServerChangesScript = """
import imaplib, smtplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert M.login('alice@example.com', sys.argv[3])[0] == 'OK'
assert M.select('Projects')[0] == 'OK'
def uid_of(mid):
    typ, data = M.uid('FETCH', '1:*', '(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
    for item in data:
        if isinstance(item, tuple) and mid.encode() in item[1]:
            return item[0].split(b'UID ')[1].split()[0].decode()
    raise Exception('not found ' + mid)
assert M.uid('STORE', uid_of('m1.Projects'), '+FLAGS', '(\\Flagged)')[0] == 'OK'
assert M.uid('STORE', uid_of('m0.Projects'), '+FLAGS', '(\\Deleted)')[0] == 'OK'
assert M.expunge()[0] == 'OK'
M.logout()
s = smtplib.SMTP('127.0.0.1', int(sys.argv[2]))
s.sendmail('x@example.org', ['alice@example.com'], b'From: x@example.org\r\nTo: alice@example.com\r\nSubject: Delivered between syncs\r\nMessage-ID: <delivered@example.org>\r\n\r\nDelivered while the laptop was away\r\n')
s.quit()
print('changed')
""";

    /// <summary>Plaintext on loopback (Imap:SecureNetworks), STARTTLS on the imap listener, implicit TLS on imaps;
    /// mbsync checks the server's (self-signed) certificate against the file it is given.</summary>
    [Theory]
    [InlineData("None")]
    [InlineData("STARTTLS")]
    [InlineData("IMAPS")]
    public async Task Mbsync_syncs_folders_messages_and_flags_both_ways_and_a_third_run_changes_nothing(string tls)
    {
        var server = await _bed.StartServerAsync("--set", "Smtp:GreetingDelay=00:00:00");
        var (seeded, seedOutput) = await SmtpTestBed.PythonAsync(SeedScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.AlicePassword);
        Assert.True(seeded == 0, seedOutput);

        var maildir = Path.Combine(_local.Path, "mail");
        var config = WriteConfig(tls, SmtpTestBed.Port(server, tls == "IMAPS" ? "imaps" : "imap"), maildir);

        // First run: everything on the server arrives locally, every folder is created.
        var first = await RunMbsyncAsync(config);
        Assert.True(first.Contains("Connection is now encrypted", StringComparison.Ordinal) == (tls != "None"), first);
        var serverState = await ImapPeerScripts.DumpAsync(server, "alice@example.com", SmtpTestBed.AlicePassword);
        var localState = ReadMaildir(maildir);
        foreach (var folder in new[] { "INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive", "Projects", "Projects/2026" })
        {
            Assert.True(localState.ContainsKey(folder), $"local Maildir lacks {folder}; has {string.Join(", ", localState.Keys)}\n{first}");
            Assert.True(serverState.ContainsKey(folder), $"server lacks {folder}");
        }

        Assert.Equal(3, serverState["INBOX"].Count);
        Assert.Equal(2, serverState["Projects"].Count);
        Assert.Single(serverState["Projects/2026"]);
        AssertSameMessages(serverState, localState, first);
        Assert.Equal("\\Seen", Find(localState, "INBOX", "m0.INBOX").Flags);
        Assert.Equal(string.Empty, Find(localState, "INBOX", "m1.INBOX").Flags);
        Assert.Equal("\\Flagged \\Seen", Find(localState, "INBOX", "m2.INBOX").Flags);
        Assert.Equal("\\Answered \\Seen", Find(localState, "Projects", "m0.Projects").Flags);
        Assert.Equal("\\Draft", Find(localState, "Projects/2026", "m0.Projects.2026").Flags);
        Assert.Contains("Body 1 of INBOX: Grüße\n.leading dot\n", Find(localState, "INBOX", "m1.INBOX").Body, StringComparison.Ordinal);

        // Both sides change: locally \Seen and \Flagged on one message, one deleted, one new; on the server a flag,
        // an expunge and a delivery.
        var inbox = Path.Combine(maildir, "INBOX");
        var toFlag = FileOf(inbox, "m1.INBOX");
        File.Move(toFlag, Path.Combine(inbox, "cur", StripInfo(Path.GetFileName(toFlag)) + ":2,FS"));
        File.Delete(FileOf(inbox, "m0.INBOX"));
        await File.WriteAllTextAsync(Path.Combine(inbox, "new", "1796000000.P1Q1.laptop"),
            "From: alice@example.com\nTo: bob@example.com\nSubject: Written offline\nMessage-ID: <offline@example.com>\nDate: Mon, 7 Dec 2026 12:00:00 +0000\n\nWritten on the train\n");
        // A folder made locally (Create Both: mbsync creates it on the server too).
        var notes = Path.Combine(maildir, "Notes");
        foreach (var sub in new[] { "cur", "new", "tmp" })
        {
            Directory.CreateDirectory(Path.Combine(notes, sub));
        }

        await File.WriteAllTextAsync(Path.Combine(notes, "cur", "1796000001.P1Q2.laptop:2,S"),
            "From: alice@example.com\nTo: alice@example.com\nSubject: Notes\nMessage-ID: <notes@example.com>\n\nRemember the milk\n");
        var (changed, changeOutput) = await SmtpTestBed.PythonAsync(ServerChangesScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.Port(server, "smtp"), SmtpTestBed.AlicePassword);
        Assert.True(changed == 0, changeOutput);

        var second = await RunMbsyncAsync(config);
        serverState = await ImapPeerScripts.DumpAsync(server, "alice@example.com", SmtpTestBed.AlicePassword);
        localState = ReadMaildir(maildir);
        AssertSameMessages(serverState, localState, second);
        Assert.Equal(["delivered@example.org", "m1.INBOX@example.org", "m2.INBOX@example.org", "offline@example.com"], Ids(serverState["INBOX"]));
        Assert.Equal("\\Flagged \\Seen", Find(serverState, "INBOX", "m1.INBOX").Flags);
        Assert.Contains("Written on the train", Find(serverState, "INBOX", "offline@example.com").Body, StringComparison.Ordinal);
        Assert.Equal(["m1.Projects@example.org"], Ids(serverState["Projects"]));
        Assert.Equal("\\Flagged", Find(localState, "Projects", "m1.Projects").Flags);
        Assert.Equal("\\Seen", Find(serverState, "Notes", "notes@example.com").Flags);
        Assert.Contains("Delivered while the laptop was away", Find(localState, "INBOX", "delivered@example.org").Body, StringComparison.Ordinal);

        // Third run: nothing to do, on either side.
        var files = LocalFiles(maildir);
        var third = await RunMbsyncAsync(config);
        var serverAfter = await ImapPeerScripts.DumpAsync(server, "alice@example.com", SmtpTestBed.AlicePassword);
        Assert.Equal(files, LocalFiles(maildir));
        Assert.Equal(Describe(serverState), Describe(serverAfter));
        Assert.DoesNotContain("Error", third, StringComparison.OrdinalIgnoreCase);
        await SmtpTestBed.StopAsync(server);
    }

    private string WriteConfig(string tls, string port, string maildir)
    {
        var transport = tls == "None"
            ? "Host 127.0.0.1\nSSLType None\nAuthMechs LOGIN"
            : $"Host localhost\nSSLType {tls}\nCertificateFile {Path.Combine(_bed.DataPath, "tls", "selfsigned.crt.pem")}";
        Directory.CreateDirectory(maildir);
        var state = Path.Combine(_local.Path, "state") + "/";
        Directory.CreateDirectory(state);
        var config = Path.Combine(_local.Path, "mbsyncrc");
        File.WriteAllText(config, $"""
            IMAPAccount postern
            {transport}
            Port {port}
            User alice@example.com
            Pass {SmtpTestBed.AlicePassword}

            IMAPStore remote
            Account postern

            MaildirStore local
            Path {maildir}/
            Inbox {maildir}/INBOX
            SubFolders Verbatim

            Channel everything
            Far :remote:
            Near :local:
            Patterns *
            Sync All
            Create Both
            Expunge Both
            SyncState {state}

            """);
        return config;
    }

    private static async Task<string> RunMbsyncAsync(string config)
    {
        var (code, output) = await SmtpTestBed.RunToolAsync(Mbsync, ["-V", "-c", config, "-a"], timeout: TimeSpan.FromSeconds(90));
        Assert.True(code == 0, "mbsync failed (" + code + "):\n" + output);
        return output;
    }

    /// <summary>Each Maildir folder under <paramref name="root"/> (INBOX and its siblings, nested by '/'), with its messages.</summary>
    private static Dictionary<string, List<PeerMessage>> ReadMaildir(string root)
    {
        var result = new Dictionary<string, List<PeerMessage>>(StringComparer.Ordinal);
        foreach (var cur in Directory.GetDirectories(root, "cur", SearchOption.AllDirectories))
        {
            var folder = Path.GetDirectoryName(cur)!;
            var name = Path.GetRelativePath(root, folder).Replace(Path.DirectorySeparatorChar, '/');
            result[name] = [.. Directory.GetFiles(cur).Concat(Directory.GetFiles(Path.Combine(folder, "new"))).Select(file =>
            {
                var body = Encoding.UTF8.GetString(File.ReadAllBytes(file));
                return new PeerMessage(ImapPeerScripts.MessageIdOf(body), FlagsOf(file), WithoutTuid(body));
            })];
        }

        return result;
    }

    /// <summary>The IMAP flags a Maildir file name's info part (":2,FRS") stands for.</summary>
    private static string FlagsOf(string file)
    {
        var name = Path.GetFileName(file);
        var info = name.IndexOf(":2,", StringComparison.Ordinal);
        var letters = info < 0 ? string.Empty : name[(info + 3)..];
        var flags = letters.Select(c => c switch
        {
            'D' => "\\Draft",
            'F' => "\\Flagged",
            'R' => "\\Answered",
            'S' => "\\Seen",
            'T' => "\\Deleted",
            _ => "unknown-maildir-flag-" + c,
        });
        return ImapPeerScripts.NormalizeFlags(string.Join(' ', flags));
    }

    /// <summary>mbsync adds an X-TUID header to the copies it makes (to find them again after a crash); it is its own.</summary>
    private static string WithoutTuid(string message) =>
        string.Join('\n', message.Split('\n').Where(l => !l.StartsWith("X-TUID: ", StringComparison.Ordinal)));

    private static string StripInfo(string name) => name.Contains(":2,", StringComparison.Ordinal) ? name[..name.IndexOf(":2,", StringComparison.Ordinal)] : name;

    private static string FileOf(string folder, string id) =>
        Directory.GetFiles(Path.Combine(folder, "cur")).Concat(Directory.GetFiles(Path.Combine(folder, "new")))
            .Single(f => ImapPeerScripts.MessageIdOf(File.ReadAllText(f)).Contains(id, StringComparison.Ordinal));

    private static PeerMessage Find(Dictionary<string, List<PeerMessage>> state, string folder, string id) =>
        state[folder].Single(m => m.MessageId.Contains(id, StringComparison.Ordinal));

    private static string[] Ids(List<PeerMessage> messages) => [.. messages.Select(m => m.MessageId.Trim('<', '>')).Order(StringComparer.Ordinal)];

    /// <summary>Server and Maildir hold the same messages (by Message-ID) with the same flags and bytes, folder by folder.</summary>
    private static void AssertSameMessages(Dictionary<string, List<PeerMessage>> server, Dictionary<string, List<PeerMessage>> local, string mbsyncOutput)
    {
        Assert.True(server.Keys.Order(StringComparer.Ordinal).SequenceEqual(local.Keys.Order(StringComparer.Ordinal)),
            $"folders differ: server {string.Join(", ", server.Keys)}; local {string.Join(", ", local.Keys)}\n{mbsyncOutput}");
        foreach (var (folder, messages) in server)
        {
            var near = local[folder];
            Assert.True(messages.Count == near.Count, $"{folder}: server has {messages.Count} messages, Maildir {near.Count}\n{mbsyncOutput}");
            foreach (var m in messages)
            {
                var copy = near.SingleOrDefault(n => n.MessageId == m.MessageId);
                Assert.True(copy is not null, $"{folder}: {m.MessageId} is not in the Maildir\n{mbsyncOutput}");
                Assert.True(m.Flags == copy.Flags, $"{folder} {m.MessageId}: server flags '{m.Flags}', Maildir '{copy.Flags}'");
                Assert.Equal(WithoutTuid(m.Body), copy.Body);
            }
        }
    }

    private static List<string> LocalFiles(string root) =>
        [.. Directory.GetFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)];

    private static string Describe(Dictionary<string, List<PeerMessage>> state) =>
        string.Join('\n', state.OrderBy(f => f.Key, StringComparer.Ordinal)
            .SelectMany(f => f.Value.OrderBy(m => m.Uid).Select(m => $"{f.Key} {m.Uid} {m.MessageId} {m.Flags} {m.Body.Length}")));
}
