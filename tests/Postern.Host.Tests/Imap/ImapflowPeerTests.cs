using System.Diagnostics;
using System.Text.Json;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Imap;

/// <summary>npm imapflow (the IMAP library of many Node mail apps) against the real server: the everyday calls,
/// IDLE hearing an SMTP delivery, and a QRESYNC resynchronisation after another client changed the folder.
/// The scenarios are tests/fixtures/imapflow/peer.js; scripts/peers/imapflow.sh installs the pinned imapflow.</summary>
[Trait("Category", "EndToEnd")]
public sealed class ImapflowPeerTests : IAsyncLifetime
{
    private readonly SmtpTestBed _bed = new();

    public Task InitializeAsync() => _bed.SetUpDirectoryAsync();

    public Task DisposeAsync()
    {
        _bed.Dispose();
        return Task.CompletedTask;
    }

    private const string SeedScript = """
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert M.login('alice@example.com', sys.argv[2])[0] == 'OK'
folder = sys.argv[3]
if folder != 'INBOX':
    assert M.create(folder)[0] == 'OK'
for i in range(int(sys.argv[4])):
    typ, data = M.append(folder, '(\\Seen)' if i == 0 else '()', None,
        (f'From: Sender <sender{i}@example.org>\r\nTo: Alice <alice@example.com>\r\nSubject: Seed {i}\r\n'
         f'Message-ID: <seed{i}@example.org>\r\nMIME-Version: 1.0\r\n'
         f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n'
         f'Body {i}\r\n--b{i}\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="report{i}.pdf"\r\n'
         f'Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b{i}--\r\n').encode())
    assert typ == 'OK', data
M.logout()
""";

    private async Task<PosternProcess> StartAsync(string folder, int messages)
    {
        var server = await _bed.StartServerAsync("--set", "Smtp:GreetingDelay=00:00:00");
        var (code, output) = await SmtpTestBed.PythonAsync(SeedScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.AlicePassword, folder, SmtpTestBed.Invariant(messages));
        Assert.True(code == 0, output);
        return server;
    }

    [Fact]
    public async Task Imapflow_lists_opens_fetches_appends_flags_moves_and_deletes()
    {
        var server = await StartAsync("INBOX", 3);
        var (report, log) = await RunPeerAsync(server, "basics");
        var r = report.RootElement;

        Assert.Contains("IMAP4REV2", Strings(r.GetProperty("enabled")));
        Assert.Contains("CONDSTORE", Strings(r.GetProperty("enabled")));
        var folders = r.GetProperty("folders").EnumerateArray().ToDictionary(f => f.GetProperty("path").GetString()!, f => f.GetProperty("specialUse").GetString());
        Assert.Equal("\\Inbox", folders["INBOX"]);
        Assert.Equal("\\Trash", folders["Trash"]);
        Assert.Equal("\\Archive", folders["Archive"]);
        Assert.Equal(3, r.GetProperty("opened").GetProperty("exists").GetInt32());
        Assert.False(r.GetProperty("opened").GetProperty("readOnly").GetBoolean(), log);

        var messages = r.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(3, messages.Count);
        for (var i = 0; i < 3; i++)
        {
            var m = messages[i];
            Assert.Equal($"Seed {i}", m.GetProperty("subject").GetString());
            Assert.Equal($"<seed{i}@example.org>", m.GetProperty("messageId").GetString());
            Assert.Equal([$"sender{i}@example.org"], Strings(m.GetProperty("from")));
            Assert.Equal(i == 0 ? ["\\Seen"] : [], Strings(m.GetProperty("flags")));
            var structure = m.GetProperty("bodyStructure");
            Assert.Equal("multipart/mixed", structure.GetProperty("type").GetString());
            var parts = structure.GetProperty("childNodes").EnumerateArray().ToList();
            Assert.Equal(2, parts.Count);
            Assert.Equal("text/plain", parts[0].GetProperty("type").GetString());
            Assert.Equal("application/pdf", parts[1].GetProperty("type").GetString());
            Assert.Equal("attachment", parts[1].GetProperty("disposition").GetString());
            Assert.Equal($"report{i}.pdf", parts[1].GetProperty("filename").GetString());
            var source = m.GetProperty("source").GetString()!;
            Assert.StartsWith("From: Sender <sender", source, StringComparison.Ordinal);
            Assert.Equal(source.Length, m.GetProperty("size").GetInt32());
            Assert.Contains($"filename=\"report{i}.pdf\"", source, StringComparison.Ordinal);
        }

        // SEARCH as imapflow sends it (UID SEARCH UNSEEN / HEADER / BODY).
        var uidOf = messages.Select(m => m.GetProperty("uid").GetInt64()).ToList();
        var search = r.GetProperty("search");
        Assert.Equal([uidOf[1], uidOf[2]], search.GetProperty("unseen").EnumerateArray().Select(u => u.GetInt64()));
        Assert.Equal([uidOf[2]], search.GetProperty("messageId").EnumerateArray().Select(u => u.GetInt64()));
        Assert.Equal([uidOf[1]], search.GetProperty("body").EnumerateArray().Select(u => u.GetInt64()));

        var append = r.GetProperty("append");
        Assert.Equal("Archive", append.GetProperty("destination").GetString());
        Assert.True(append.GetProperty("uid").GetInt64() > 0, log);
        Assert.True(r.GetProperty("flagsAdd").GetBoolean(), log);
        var uidMap = r.GetProperty("move").GetProperty("uidMap").EnumerateArray().ToList();
        Assert.Single(uidMap);
        Assert.Equal(messages[1].GetProperty("uid").GetInt64(), uidMap[0][0].GetInt64());
        Assert.True(r.GetProperty("delete").GetBoolean(), log);
        Assert.Equal(1, r.GetProperty("inboxAfter").GetProperty("messages").GetInt32());

        // What another client (imaplib) sees afterwards: the flagged message deleted, the other one moved with its
        // flags, the appended one with its keyword.
        var state = await ImapPeerScripts.DumpAsync(server, "alice@example.com", SmtpTestBed.AlicePassword);
        Assert.Equal(["<seed2@example.org>"], state["INBOX"].Select(m => m.MessageId));
        var archive = state["Archive"].ToDictionary(m => m.MessageId, m => m.Flags);
        Assert.Equal(2, archive.Count);
        Assert.Equal("Project-X \\Seen", archive["<imapflow-append@example.com>"]);
        Assert.Equal(string.Empty, archive["<seed1@example.org>"]);
        Assert.Equal(2, r.GetProperty("archiveExists").GetInt32());
        await SmtpTestBed.StopAsync(server);
    }

    [Fact]
    public async Task Imapflow_idling_on_INBOX_hears_an_SMTP_delivery_within_seconds()
    {
        var server = await StartAsync("INBOX", 1);
        var dir = await InstallAsync();
        using var node = StartNode(dir, ["idle", SmtpTestBed.Port(server, "imap"), "alice@example.com", SmtpTestBed.AlicePassword, "10000"]);
        var first = await ReadLineAsync(node.Process, TimeSpan.FromSeconds(30));
        Assert.True(first == "idling", $"imapflow did not start IDLE: {first}\n{node.Stderr}");

        var sent = Stopwatch.StartNew();
        var (code, output) = await SmtpTestBed.PythonAsync("""
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.sendmail('news@example.org', ['alice@example.com'], b'From: news@example.org\r\nTo: alice@example.com\r\nSubject: Arrived during IDLE\r\n\r\nhello\r\n')
s.quit()
""", SmtpTestBed.Port(server, "smtp"));
        Assert.True(code == 0, output);
        var line = await ReadLineAsync(node.Process, TimeSpan.FromSeconds(15));
        var heard = sent.Elapsed;
        Assert.True(line is not null && line.StartsWith('{'), $"imapflow reported: {line}\n{node.Stderr}");
        using var report = JsonDocument.Parse(line);
        var r = report.RootElement;
        Assert.Equal(1, r.GetProperty("before").GetInt32());
        Assert.Equal(2, r.GetProperty("event").GetProperty("count").GetInt32());
        Assert.Equal(1, r.GetProperty("event").GetProperty("prevCount").GetInt32());
        Assert.True(r.GetProperty("idlingWhenHeard").GetBoolean(), "the EXISTS came while IDLE was running, not from a poll\n" + node.Stderr);
        Assert.Equal("Arrived during IDLE", r.GetProperty("newMessage").GetProperty("subject").GetString());
        Assert.True(heard < TimeSpan.FromSeconds(5), $"heard after {heard}");
        await node.WaitForExitAsync();
        Assert.Equal(0, node.Process.ExitCode);
        Assert.Matches(@"(?m)^debug \S+ IDLE c$", node.Stderr);
        await SmtpTestBed.StopAsync(server);
    }

    [Fact]
    public async Task Imapflow_idling_with_QRESYNC_hears_another_clients_flag_change_and_expunge()
    {
        var server = await StartAsync("INBOX", 3);
        var dir = await InstallAsync();
        using var node = StartNode(dir, ["watch", SmtpTestBed.Port(server, "imap"), "alice@example.com", SmtpTestBed.AlicePassword, "10000"]);
        var first = await ReadLineAsync(node.Process, TimeSpan.FromSeconds(30));
        Assert.True(first == "idling", $"imapflow did not start IDLE: {first}\n{node.Stderr}");

        // UIDs 1..3 were given by the seed's APPENDs in order.
        var (code, output) = await SmtpTestBed.PythonAsync(ChangeScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.AlicePassword, "INBOX", "1", "3", "2");
        Assert.True(code == 0, output);
        var line = await ReadLineAsync(node.Process, TimeSpan.FromSeconds(20));
        await node.WaitForExitAsync();
        Assert.True(line is not null && line.StartsWith('{'), $"imapflow reported: {line}\n{node.Stderr}");
        using var report = JsonDocument.Parse(line);
        var events = report.RootElement.GetProperty("events").EnumerateArray().ToList();
        var seen = $"imapflow saw: {line}\n{node.Stderr}";
        Assert.All(events, e => Assert.True(e.GetProperty("idling").GetBoolean(), "an event outside IDLE\n" + seen));
        string FlagsOf(long uid) => string.Join(' ', events.Where(e => e.GetProperty("event").GetString() == "flags" && e.GetProperty("uid").GetInt64() == uid)
            .Select(e => string.Join(' ', Strings(e.GetProperty("flags")))).LastOrDefault() ?? "(none)");
        Assert.True(FlagsOf(1) == "\\Flagged \\Seen", seen);
        Assert.True(FlagsOf(3) == "$Forwarded \\Answered", seen);
        var expunges = events.Where(e => e.GetProperty("event").GetString() == "expunge").ToList();
        Assert.True(expunges.Count == 1, seen);
        Assert.Equal(2, expunges[0].GetProperty("uid").GetInt64());
        Assert.True(expunges[0].GetProperty("vanished").GetBoolean(), "QRESYNC is on: the expunge comes as VANISHED\n" + seen);
        Assert.False(expunges[0].GetProperty("earlier").GetBoolean(), seen);
        Assert.DoesNotContain(events, e => e.GetProperty("event").GetString() == "exists");
        await SmtpTestBed.StopAsync(server);
    }

    private const string ChangeScript = """
import imaplib, sys
M = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert M.login('alice@example.com', sys.argv[2])[0] == 'OK'
assert M.select(sys.argv[3])[0] == 'OK'
flag, seen, gone = sys.argv[4], sys.argv[5], sys.argv[6]
assert M.uid('STORE', flag, '+FLAGS', '(\\Flagged)')[0] == 'OK'
assert M.uid('STORE', seen, '+FLAGS', '(\\Answered $Forwarded)')[0] == 'OK'
assert M.uid('STORE', gone, '+FLAGS', '(\\Deleted)')[0] == 'OK'
assert M.expunge()[0] == 'OK'
M.logout()
""";

    [Fact]
    public async Task Imapflow_with_QRESYNC_resyncs_exactly_the_flag_changes_and_the_expunge_another_client_made()
    {
        var server = await StartAsync("Resync", 5);
        var (saved, firstLog) = await RunPeerAsync(server, "remember", "Resync");
        var s = saved.RootElement;
        Assert.Contains("QRESYNC", Strings(s.GetProperty("enabled")));
        var uids = s.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("uid").GetInt64()).ToList();
        Assert.Equal(5, uids.Count);
        var uidValidity = s.GetProperty("uidValidity").GetString()!;
        var modseq = s.GetProperty("highestModseq").GetString()!;
        Assert.True(long.Parse(modseq, System.Globalization.CultureInfo.InvariantCulture) > 0, firstLog);

        // Another client: \Flagged on the 2nd, \Answered $Forwarded on the 4th, expunge the 3rd.
        var (flag, answered, gone) = (uids[1], uids[3], uids[2]);
        var (code, output) = await SmtpTestBed.PythonAsync(ChangeScript, SmtpTestBed.Port(server, "imap"), SmtpTestBed.AlicePassword, "Resync",
            flag.ToString(System.Globalization.CultureInfo.InvariantCulture), answered.ToString(System.Globalization.CultureInfo.InvariantCulture), gone.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, output);

        var (resync, log) = await RunPeerAsync(server, "resync", "Resync", uidValidity, modseq);
        var r = resync.RootElement;
        Assert.True(r.GetProperty("qresync").GetBoolean(), "imapflow did not accept the QRESYNC open\n" + log);
        Assert.Equal(uidValidity, r.GetProperty("uidValidity").GetString());
        Assert.Equal(4, r.GetProperty("exists").GetInt32());
        Assert.True(long.Parse(r.GetProperty("highestModseq").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(modseq, System.Globalization.CultureInfo.InvariantCulture), log);

        // SELECT ... (QRESYNC (uidvalidity modseq)) told imapflow exactly what changed: two flag updates, one vanished UID.
        var changed = r.GetProperty("flags").EnumerateArray().ToDictionary(f => f.GetProperty("uid").GetInt64(), f => string.Join(' ', Strings(f.GetProperty("flags"))));
        Assert.True(changed.Count == 2, "flag updates: " + r.GetProperty("flags") + "\n" + log);
        Assert.Equal("\\Flagged", changed[flag]);
        Assert.Equal("$Forwarded \\Answered", changed[answered]);
        var vanished = r.GetProperty("expunged").EnumerateArray().ToList();
        Assert.True(vanished.Count == 1, "expunges: " + r.GetProperty("expunged") + "\n" + log);
        Assert.Equal(gone, vanished[0].GetProperty("uid").GetInt64());
        Assert.True(vanished[0].GetProperty("vanished").GetBoolean());

        // CONDSTORE's FETCH (CHANGEDSINCE) agrees: only the two changed messages, with modseqs above the saved one.
        var since = r.GetProperty("changedSinceFetch").EnumerateArray().ToList();
        Assert.Equal([flag, answered], since.Select(m => m.GetProperty("uid").GetInt64()).Order());
        Assert.All(since, m => Assert.True(long.Parse(m.GetProperty("modseq").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > long.Parse(modseq, System.Globalization.CultureInfo.InvariantCulture)));
        await SmtpTestBed.StopAsync(server);
    }

    private static List<string> Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!).Order(StringComparer.Ordinal)];

    private static async Task<string> InstallAsync()
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "peers", "imapflow.sh");
        var (code, output) = await SmtpTestBed.RunToolAsync("/bin/bash", [script], timeout: TimeSpan.FromSeconds(300));
        Assert.True(code == 0, "scripts/peers/imapflow.sh failed: " + output);

        // The script's output mixes npm's stderr with its stdout in no fixed order, so the folder is not read from it.
        return Path.Combine(RepositoryRoot(), "tests", "fixtures", "imapflow");
    }

    /// <summary>Runs one scenario of peer.js to its end; returns its JSON report and imapflow's protocol log.</summary>
    private static async Task<(JsonDocument Report, string Log)> RunPeerAsync(PosternProcess server, string scenario, params string[] args)
    {
        var dir = await InstallAsync();
        using var node = StartNode(dir, [scenario, SmtpTestBed.Port(server, "imap"), "alice@example.com", SmtpTestBed.AlicePassword, .. args]);
        var line = await ReadLineAsync(node.Process, TimeSpan.FromSeconds(60));
        await node.WaitForExitAsync();
        var log = node.Stderr;
        Assert.True(node.Process.ExitCode == 0 && line is not null, $"imapflow {scenario} failed ({node.Process.ExitCode}): {line}\n{log}");
        return (JsonDocument.Parse(line), $"imapflow saw: {line}\n{log}");
    }

    private static NodeProcess StartNode(string dir, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("/usr/bin/node")
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(dir, "peer.js"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        return new NodeProcess(Process.Start(info)!);
    }

    private static async Task<string?> ReadLineAsync(Process process, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await process.StandardOutput.ReadLineAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return "(nothing within " + timeout + ")";
        }
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Postern.slnx not found");
    }

    /// <summary>A node process whose stderr (imapflow's protocol log) is collected as it comes; killed on dispose.</summary>
    private sealed class NodeProcess : IDisposable
    {
        private readonly System.Text.StringBuilder _stderr = new();

        public NodeProcess(Process process)
        {
            Process = process;
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (_stderr)
                    {
                        _stderr.AppendLine(e.Data);
                    }
                }
            };
            process.BeginErrorReadLine();
        }

        public Process Process { get; }

        /// <summary>Waits (30 s at most) for the exit and for the rest of stderr.</summary>
        public async Task WaitForExitAsync()
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await Process.WaitForExitAsync(cts.Token);
            Process.WaitForExit();
        }

        public string Stderr
        {
            get
            {
                lock (_stderr)
                {
                    return _stderr.ToString();
                }
            }
        }

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
            }

            Process.WaitForExit();
            Process.Dispose();
        }
    }
}
