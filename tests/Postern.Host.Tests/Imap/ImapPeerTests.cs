using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Imap;

/// <summary>The real server driven by IMAP clients we did not write: Python's imaplib and curl.</summary>
[Trait("Category", "EndToEnd")]
public sealed class ImapPeerTests : IAsyncLifetime
{
    private readonly SmtpTestBed _bed = new();

    public Task InitializeAsync() => _bed.SetUpDirectoryAsync();

    public Task DisposeAsync()
    {
        _bed.Dispose();
        return Task.CompletedTask;
    }

    private const string ImaplibScript = """
import imaplib, smtplib, sys, time, email
imap_port, smtp_port, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def ok(result, what):
    typ, data = result
    if typ != 'OK':
        print('FAIL', what, typ, data); sys.exit(1)
    return data

M = imaplib.IMAP4('127.0.0.1', imap_port)
ok(M.login('alice@example.com', password), 'login')
caps = ok(M.capability(), 'capability')[0].decode().upper().split()
for c in ('IMAP4REV2', 'IDLE', 'UIDPLUS', 'MOVE', 'CONDSTORE', 'QRESYNC', 'LIST-EXTENDED', 'SPECIAL-USE', 'COMPRESS=DEFLATE'):
    assert c in caps, (c, caps)
folders = [l.decode() for l in ok(M.list(), 'list')]
assert any(l.endswith('"/" INBOX') for l in folders), folders
assert any('\\Trash' in l for l in folders), folders
ok(M.create('Projekte/Büro'.encode('utf-7').decode().replace('+', '&')), 'create')
ok(M.create('Reports'), 'create2')
ok(M.subscribe('Reports'), 'subscribe')
assert any(b'Reports' in l for l in ok(M.lsub(), 'lsub'))

# SMTP delivery shows up over IMAP
s = smtplib.SMTP('127.0.0.1', smtp_port)
s.sendmail('sender@example.org', ['alice@example.com'], b'From: Sender <sender@example.org>\r\nTo: alice@example.com\r\nSubject: Delivered by SMTP\r\nMessage-ID: <smtp1@example.org>\r\n\r\nHello from smtplib\r\n')
s.quit()

typ, data = M.select('INBOX')
assert typ == 'OK' and int(data[0]) == 1, data
data = ok(M.fetch('1', '(FLAGS ENVELOPE BODY.PEEK[TEXT])'), 'fetch')
assert b'Delivered by SMTP' in data[0][0], data
assert b'Hello from smtplib' in data[0][1], data

msg = b'From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Appended\r\n\r\nAppended body\r\n'
typ, data = M.append('INBOX', '(\\Seen)', imaplib.Time2Internaldate(time.time()), msg)
assert typ == 'OK' and b'APPENDUID' in data[0], data
typ, data = M.select('INBOX')
assert int(data[0]) == 2, data
data = ok(M.uid('FETCH', '1:*', '(UID FLAGS RFC822.SIZE)'), 'uid fetch')
assert len(data) == 2, data
ok(M.store('1', '+FLAGS', '(\\Flagged)'), 'store')
data = ok(M.fetch('1', '(FLAGS)'), 'flags')
assert b'\\Flagged' in data[0], data
data = ok(M.fetch('2', '(RFC822)'), 'rfc822')
parsed = email.message_from_bytes(data[0][1])
assert parsed['Subject'] == 'Appended', parsed['Subject']
ok(M.copy('1', 'Reports'), 'copy')
typ, data = M.uid('MOVE', '2', 'Reports')
assert typ == 'OK', (typ, data)
typ, data = M.status('Reports', '(MESSAGES UIDNEXT)')
assert b'MESSAGES 2' in data[0], data
ok(M.store('1', '+FLAGS', '(\\Deleted)'), 'delete')
ok(M.expunge(), 'expunge')
typ, data = M.select('INBOX', readonly=True)
assert int(data[0]) == 0, data
ok(M.rename('Reports', 'Reports-2026'), 'rename')
typ, data = M.status('Reports-2026', '(MESSAGES)')
assert b'MESSAGES 2' in data[0], data
ok(M.delete('Reports-2026'), 'delete folder')
M.logout()
print('imaplib OK')
""";

    [Fact]
    public async Task Python_imaplib_drives_folders_messages_flags_copy_move_and_expunge()
    {
        var server = await _bed.StartServerAsync("--set", "Smtp:GreetingDelay=00:00:00");
        var (code, output) = await SmtpTestBed.PythonAsync(ImaplibScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.Port(server, "smtp"), SmtpTestBed.AlicePassword);
        Assert.True(code == 0, output + "\n" + server.Stdout + server.Stderr);
        Assert.Contains("imaplib OK", output, StringComparison.Ordinal);
        await SmtpTestBed.StopAsync(server);
    }

    [Fact]
    public async Task Curl_lists_folders_and_fetches_a_message_over_IMAPS()
    {
        var server = await _bed.StartServerAsync("--set", "Smtp:GreetingDelay=00:00:00");
        var (sent, sendOutput) = await SmtpTestBed.SwaksAsync("--server", "127.0.0.1", "--port", SmtpTestBed.Port(server, "smtp"), "--from", "sender@example.org",
            "--to", "alice@example.com", "--header", "Subject: For curl", "--body", "Fetched by curl");
        Assert.True(sent == 0, sendOutput);
        var port = SmtpTestBed.Port(server, "imaps");
        var credentials = "alice@example.com:" + SmtpTestBed.AlicePassword;
        var (listCode, list) = await SmtpTestBed.RunToolAsync("/usr/bin/curl", ["-sS", "--insecure", "-u", credentials, $"imaps://127.0.0.1:{port}/"]);
        Assert.True(listCode == 0, list);
        Assert.Contains("INBOX", list, StringComparison.Ordinal);
        Assert.Contains("Junk", list, StringComparison.Ordinal);
        var (fetchCode, message) = await SmtpTestBed.RunToolAsync("/usr/bin/curl", ["-sS", "--insecure", "-u", credentials, $"imaps://127.0.0.1:{port}/INBOX;UID=1"]);
        Assert.True(fetchCode == 0, message);
        Assert.Contains("Subject: For curl", message, StringComparison.Ordinal);
        Assert.Contains("Fetched by curl", message, StringComparison.Ordinal);
        await SmtpTestBed.StopAsync(server);
    }
}
