using System.Text.Json;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Import;

/// <summary>
/// A real Dovecot writes a Maildir (folders with a non-ASCII name, flags, keywords, subscriptions, an expunge that
/// leaves a UID gap); <c>postern import maildir</c> imports it; our IMAP server must then report what Dovecot did.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class MaildirImportEndToEndTests : IAsyncLifetime
{
    private readonly SmtpTestBed _bed = new();
    private readonly DovecotInstance _dovecot = new("migrated@old.example");

    public Task InitializeAsync() => _bed.SetUpDirectoryAsync();

    public Task DisposeAsync()
    {
        _dovecot.Dispose();
        _bed.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Fills the Dovecot mailbox (argv: port user password).</summary>
    private const string FillScript = """
import imaplib, sys, time
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def ok(result, what):
    typ, data = result
    if typ != 'OK':
        print('FAIL', what, typ, data); sys.exit(1)
    return data
def mutf7(s):
    import base64
    out, run = '', ''
    def flush():
        nonlocal out, run
        if run:
            out += '&' + base64.b64encode(run.encode('utf-16-be')).decode().rstrip('=').replace('/', ',') + '-'
            run = ''
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out += '&-' if ch == '&' else ch
        else:
            run += ch
    flush()
    return '"' + out + '"'   # imaplib does not quote names with spaces
M = imaplib.IMAP4('127.0.0.1', port)
ok(M.login(user, password), 'login')
sep = ok(M.list('""', '""'), 'sep')[0].decode().split('"')[1]
ok(M.create('Projekte'), 'create')
ok(M.create(mutf7('Projekte' + sep + 'Büro & Co')), 'create non-ascii')
ok(M.create('Notes'), 'create notes')
now = time.time()
def msg(i, crlf=True):
    nl = b'\r\n' if crlf else b'\n'
    return nl.join([b'From: Old Server <old@old.example>', b'To: migrated@old.example', b'Subject: message %d' % i,
                    b'Content-Type: text/plain; charset=utf-8', b'', ('Grüße number %d' % i).encode('utf-8'), b''])
for i in range(1, 6):
    flags = {1: '(\\Seen)', 3: '(\\Seen \\Answered $Work)', 5: '(\\Draft)'}.get(i)
    ok(M.append('INBOX', flags, imaplib.Time2Internaldate(now - 86400 * (10 - i)), msg(i, crlf=i % 2 == 0)), 'append %d' % i)
ok(M.append(mutf7('Projekte' + sep + 'Büro & Co'), '(\\Flagged Important)', imaplib.Time2Internaldate(now - 3600), msg(6)), 'append sub')
ok(M.append('Notes', None, imaplib.Time2Internaldate(now - 7200), msg(7)), 'append notes')
ok(M.select('INBOX'), 'select')
ok(M.uid('STORE', '4', '+FLAGS', '(\\Flagged $Forwarded Important)'), 'store 4')
ok(M.uid('STORE', '5', '+FLAGS', '(\\Deleted)'), 'store 5')
ok(M.uid('STORE', '2', '+FLAGS', '(\\Deleted)'), 'store 2')
ok(M.expunge(), 'expunge')   # UID 2 and 5 go: a gap, and UIDNEXT above the last message
ok(M.append('INBOX', '(\\Deleted)', imaplib.Time2Internaldate(now - 60), msg(8)), 'append 8')   # \Deleted, kept
ok(M.append('Notes', None, None, msg(9)), 'append note 2')
ok(M.select('Notes'), 'select notes')
ok(M.uid('STORE', '2', '+FLAGS', '(\\Deleted)'), 'store note')
ok(M.expunge(), 'expunge note')   # Notes: UIDNEXT 3 above its only message 1
ok(M.subscribe('INBOX'), 'sub inbox')
ok(M.subscribe(mutf7('Projekte' + sep + 'Büro & Co')), 'sub')
ok(M.subscribe('Notes'), 'sub notes')
ok(M.unsubscribe('Notes'), 'unsub notes')
M.logout()
print('filled')
""";

    /// <summary>Prints one JSON line with every folder's UIDVALIDITY, UIDNEXT and messages, and the subscriptions (argv: port user password).</summary>
    private const string DumpScript = """
import imaplib, sys, time, json, hashlib, re, base64
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def ok(result, what):
    typ, data = result
    if typ != 'OK':
        print('FAIL', what, typ, data); sys.exit(1)
    return data
def unmutf7(s):
    def run(m):
        b = m.group(1)
        if b == '':
            return '&'
        b = b.replace(',', '/')
        return base64.b64decode(b + '=' * (-len(b) % 4)).decode('utf-16-be')
    return re.sub(r'&([^-]*)-', run, s)
def names(lines):
    out = []
    for l in lines:
        l = l.decode()
        m = re.match(r'\((.*?)\) "(.)" (.*)$', l)
        attrs, sep, name = m.group(1), m.group(2), m.group(3)
        if name.startswith('"'):
            name = name[1:-1]
        out.append((attrs, '/'.join(unmutf7(name).split(sep)), name))
    return out
M = imaplib.IMAP4('127.0.0.1', port)
ok(M.login(user, password), 'login')
state = {'folders': {}, 'subscribed': sorted(n for _, n, _ in names(ok(M.lsub('""', '*'), 'lsub')))}
for attrs, name, wire in names(ok(M.list('""', '*'), 'list')):
    if '\\Noselect' in attrs or '\\NonExistent' in attrs:
        continue
    quoted = '"' + wire + '"'
    st = ok(M.status(quoted, '(UIDVALIDITY UIDNEXT MESSAGES)'), 'status')[0].decode()
    folder = {k: int(v) for k, v in re.findall(r'(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)', st)}
    ok(M.select(quoted, readonly=True), 'select')
    messages = []
    if folder['MESSAGES'] > 0:
        data = ok(M.uid('FETCH', '1:*', '(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])'), 'fetch')
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode()
            flags = sorted(f for f in re.search(r'FLAGS \(([^)]*)\)', head).group(1).split() if f != '\\Recent')
            when = imaplib.Internaldate2tuple(item[0])
            messages.append({'uid': int(re.search(r'UID (\d+)', head).group(1)), 'flags': flags,
                             'internaldate': int(time.mktime(when)),
                             'size': int(re.search(r'RFC822.SIZE (\d+)', head).group(1)), 'sha256': hashlib.sha256(item[1]).hexdigest(),
                             'length': len(item[1])})
    folder['messages'] = sorted(messages, key=lambda m: m['uid'])
    state['folders'][name] = folder
    M.close()
if len(sys.argv) > 4:
    typ, data = M.append('INBOX', None, None, b'Subject: after the import\r\n\r\nnew\r\n')
    state['appenduid'] = data[0].decode()
M.logout()
print('STATE ' + json.dumps(state, sort_keys=True))
""";

    [Fact]
    public async Task A_maildir_written_by_dovecot_reads_back_the_same_through_our_imap_server()
    {
        await _dovecot.StartAsync();
        var port = SmtpTestBed.Invariant(_dovecot.Port);
        var (fillCode, fill) = await SmtpTestBed.PythonAsync(FillScript, port, _dovecot.User, DovecotInstance.Password);
        Assert.True(fillCode == 0, fill + "\n" + _dovecot.Log);
        var (dumpCode, dump) = await SmtpTestBed.PythonAsync(DumpScript, port, _dovecot.User, DovecotInstance.Password);
        Assert.True(dumpCode == 0, dump + "\n" + _dovecot.Log);
        await _dovecot.StopAsync();
        var before = State(dump);

        var import = await PosternProcess.RunAsync("import", "maildir", "--account", "alice@example.com", _dovecot.Maildir, "--data", _bed.DataPath);
        Assert.True(import.ExitCode == 0, import.Stdout + import.Stderr);
        Assert.Contains("INBOX: 4 messages imported", import.Stdout, StringComparison.Ordinal);
        var again = await PosternProcess.RunAsync("import", "maildir", "--account", "alice@example.com", _dovecot.Maildir, "--data", _bed.DataPath);
        Assert.True(again.ExitCode == 0, again.Stdout + again.Stderr);
        Assert.Contains("0 messages imported into 1 account", again.Stdout, StringComparison.Ordinal);

        var server = await _bed.StartServerAsync("--set", "Smtp:GreetingDelay=00:00:00");
        var (oursCode, ours) = await SmtpTestBed.PythonAsync(DumpScript, SmtpTestBed.Port(server, "imap"), "alice@example.com", SmtpTestBed.AlicePassword, "append");
        Assert.True(oursCode == 0, ours + "\n" + server.Stdout + server.Stderr);
        await SmtpTestBed.StopAsync(server);
        var after = State(ours);

        var dovecotFolders = before.GetProperty("folders");
        Assert.Equal(["INBOX", "Notes", "Projekte", "Projekte/Büro & Co"], dovecotFolders.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var inbox = dovecotFolders.GetProperty("INBOX").GetProperty("messages");
        Assert.Equal([1, 3, 4, 6], inbox.EnumerateArray().Select(m => m.GetProperty("uid").GetInt32())); // what Dovecot did, so the comparison below means something
        foreach (var folder in dovecotFolders.EnumerateObject())
        {
            var mine = after.GetProperty("folders").GetProperty(folder.Name);
            foreach (var field in new[] { "UIDVALIDITY", "UIDNEXT", "MESSAGES" })
            {
                Assert.True(
                    folder.Value.GetProperty(field).GetInt64() == mine.GetProperty(field).GetInt64(),
                    $"{folder.Name} {field}: Dovecot {folder.Value.GetProperty(field)}, Postern {mine.GetProperty(field)}");
            }

            Assert.Equal(folder.Value.GetProperty("messages").GetRawText(), mine.GetProperty("messages").GetRawText());
        }

        // One message was appended to our INBOX after the dump: it got Dovecot's UIDNEXT, never a reused UID.
        var dovecotNext = dovecotFolders.GetProperty("INBOX").GetProperty("UIDNEXT").GetInt64();
        Assert.Contains($"APPENDUID {dovecotFolders.GetProperty("INBOX").GetProperty("UIDVALIDITY").GetInt64()} {dovecotNext}]", after.GetProperty("appenduid").GetString(), StringComparison.Ordinal);

        var dovecotSubscribed = before.GetProperty("subscribed").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(["INBOX", "Projekte/Büro & Co"], dovecotSubscribed);
        var ourSubscribed = after.GetProperty("subscribed").EnumerateArray().Select(e => e.GetString()!).ToList();
        foreach (var name in dovecotFolders.EnumerateObject().Select(p => p.Name))
        {
            Assert.True(dovecotSubscribed.Contains(name) == ourSubscribed.Contains(name), $"{name}: subscribed at Dovecot {dovecotSubscribed.Contains(name)}, here {ourSubscribed.Contains(name)}");
        }
    }

    private static JsonElement State(string output)
    {
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("STATE ", StringComparison.Ordinal));
        Assert.True(line is not null, output);
        return JsonDocument.Parse(line["STATE ".Length..]).RootElement.Clone();
    }
}
