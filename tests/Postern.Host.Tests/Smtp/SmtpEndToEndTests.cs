using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Postern.Host.Embedded;

namespace Postern.Host.Tests.Smtp;

/// <summary>The SMTP, submission and LMTP listeners driven by programs we did not write: swaks and Python's smtplib.</summary>
[Trait("Category", "EndToEnd")]
public sealed class SmtpEndToEndTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private async Task SetUpDirectoryAsync()
    {
        foreach (var args in new[]
        {
            new[] { "customer", "add", "Example" },
            ["domain", "add", "example.com", "--customer", "Example", "--kind", "hosted"],
            ["account", "add", "alice@example.com", "--password", "Alice-Secret-1"],
            ["account", "add", "bob@example.com", "--password", "Bob-Secret-1"],
        })
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync([.. args, "--data", _data.Path]);
            Assert.True(code == 0, stdout + stderr);
        }
    }

    private PosternProcess StartServer(params string[] extra) => PosternProcess.Start(
    [
        "run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Server:Hostname=mx.example.test",
        "--set", "Listeners:https:Port=0", "--set", "Listeners:smtp:Port=0", "--set", "Listeners:submission:Port=0",
        "--set", "Listeners:submissions:Port=0", "--set", "Listeners:lmtp:Port=0", "--set", "Server:Ports=quickstart", .. extra,
    ]);

    private static async Task<(int Code, string Output)> RunToolAsync(string program, params string[] args)
    {
        if (!File.Exists(program))
        {
            throw new Xunit.Sdk.XunitException($"{program} is not installed (see scripts/test-deps/smtp.txt)");
        }

        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    private async Task<List<string>> InboxAsync(string address)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var backend = EmbeddedBackend.Open(DataFolder.Prepare(_data.Path));
        var (account, _) = await new Tenants.DirectoryService(backend.Directory, new PasswordHasherAdapter(Passwords.PasswordHasher.Default)).RequireAccountAsync(address);
        var inbox = await backend.Mail.Mailboxes.GetFolderAsync(account.Id, "INBOX", default);
        var result = new List<string>();
        foreach (var m in await backend.Mail.Mailboxes.ListMessagesAsync(account.Id, inbox!.FolderId, 1, long.MaxValue, null, default))
        {
            await using var blob = await backend.Mail.Blobs.OpenReadAsync(m.Blob, default);
            using var reader = new StreamReader(blob!);
            result.Add(Encoding.UTF8.GetString(m.HeaderPrefix.Span) + await reader.ReadToEndAsync());
        }

        return result;
    }

    [Fact]
    public async Task Swaks_delivers_over_starttls_and_unknown_users_and_relaying_are_refused()
    {
        await SetUpDirectoryAsync();
        using var server = StartServer();
        await server.WaitReadyAsync();
        var port = server.ListenerPort("smtp").ToString(System.Globalization.CultureInfo.InvariantCulture);

        var ok = await RunToolAsync("/usr/bin/swaks", "--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "Alice@Example.com",
            "--tls", "--header", "Subject: swaks over STARTTLS", "--body", "Hello from swaks.");
        Assert.True(ok.Code == 0, ok.Output);
        Assert.Matches(@"250 2\.0\.0 OK queued as [0-9A-Z]{12}", ok.Output);

        var unknown = await RunToolAsync("/usr/bin/swaks", "--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "nobody@example.com");
        Assert.Contains("550 5.1.1", unknown.Output, StringComparison.Ordinal);
        var relay = await RunToolAsync("/usr/bin/swaks", "--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "someone@elsewhere.test");
        Assert.Contains("554 5.7.1", relay.Output, StringComparison.Ordinal);

        server.Signal(Signals.SIGTERM);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var message = Assert.Single(await InboxAsync("alice@example.com"));
        Assert.Contains("Delivered-To: alice@example.com", message, StringComparison.Ordinal);
        Assert.Contains("by mx.example.test (Postern) with ESMTPS id ", message, StringComparison.Ordinal);
        Assert.Contains("Subject: swaks over STARTTLS", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Python_smtplib_submits_with_auth_and_lmtp_answers_per_recipient()
    {
        await SetUpDirectoryAsync();
        using var server = StartServer();
        await server.WaitReadyAsync();
        const string script = """
            import smtplib, ssl, sys
            ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
            s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
            s.starttls(context=ctx)
            try:
                s.login("bob@example.com", "wrong password")
                print("LOGIN-ACCEPTED-WRONGLY")
            except smtplib.SMTPAuthenticationError as e:
                print("bad-password", e.smtp_code)
            s.login("bob@example.com", "Bob-Secret-1")
            refused = s.sendmail("bob@example.com", ["alice@example.com", "friend@elsewhere.test"], "Subject: submitted\r\n\r\nvia submission\r\n")
            print("submitted", len(refused))
            s.quit()
            l = smtplib.LMTP("127.0.0.1", int(sys.argv[2]))
            l.ehlo_or_helo_if_needed()
            try:
                l.sendmail("x@remote.test", ["alice@example.com", "ghost@example.com"], "Subject: lmtp\r\n\r\nvia lmtp\r\n")
            except smtplib.SMTPRecipientsRefused as e:
                print("lmtp refused all", e.recipients)
            else:
                print("lmtp ok")
            l.quit()
            """;
        var file = Path.Combine(Path.GetTempPath(), "postern-smtplib-" + Guid.NewGuid().ToString("N") + ".py");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var (code, output) = await RunToolAsync("/usr/bin/python3", file,
                server.ListenerPort("submission").ToString(System.Globalization.CultureInfo.InvariantCulture),
                server.ListenerPort("lmtp").ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(code == 0, output);
            Assert.Contains("bad-password 535", output, StringComparison.Ordinal);
            Assert.Contains("submitted 0", output, StringComparison.Ordinal);
            Assert.Contains("lmtp ok", output, StringComparison.Ordinal);
            Assert.DoesNotContain("LOGIN-ACCEPTED-WRONGLY", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }

        server.Signal(Signals.SIGTERM);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var inbox = await InboxAsync("alice@example.com");
        Assert.Equal(2, inbox.Count);
        Assert.Contains(inbox, m => m.Contains("with ESMTPSA", StringComparison.Ordinal) && m.Contains("Subject: submitted", StringComparison.Ordinal));
        Assert.Contains(inbox, m => m.Contains("with LMTP", StringComparison.Ordinal));

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var backend = EmbeddedBackend.Open(DataFolder.Prepare(_data.Path));
        var queued = await backend.Mail.Queue.ListAsync(new Core.Storage.Queue.QueueQuery(), default);
        var remote = Assert.Single(queued.Messages);
        Assert.Equal("bob@example.com", remote.ReversePath);
    }

    [Fact]
    public async Task At_the_shutdown_bound_an_idle_session_is_told_421_4_3_2()
    {
        await SetUpDirectoryAsync();
        using var server = StartServer("--set", "Server:ShutdownTimeout=00:00:01");
        await server.WaitReadyAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.ListenerPort("smtp"));
        using var reader = new StreamReader(tcp.GetStream(), Encoding.ASCII);
        await using var writer = new StreamWriter(tcp.GetStream(), Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        Assert.StartsWith("220 ", await reader.ReadLineAsync());
        await writer.WriteLineAsync("EHLO idle.test");
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null && line.StartsWith("250-", StringComparison.Ordinal))
        {
        }

        server.Signal(Signals.SIGTERM);
        var goodbye = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith("421 4.3.2", goodbye);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Below_the_free_space_floor_mail_is_refused_with_452_4_3_1()
    {
        await SetUpDirectoryAsync();
        using var server = StartServer("--set", "Storage:MinimumFreeSpaceMegabytes=" + long.MaxValue / (2L * 1024 * 1024));
        await server.WaitReadyAsync();
        var port = server.ListenerPort("smtp").ToString(System.Globalization.CultureInfo.InvariantCulture);
        var full = await RunToolAsync("/usr/bin/swaks", "--server", "127.0.0.1:" + port, "--from", "sender@remote.test", "--to", "alice@example.com");
        Assert.Contains("452 4.3.1", full.Output, StringComparison.Ordinal);
        server.Signal(Signals.SIGTERM);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task An_account_added_by_the_command_line_during_smtp_load_is_accepted_without_lock_errors()
    {
        await SetUpDirectoryAsync();
        using var server = StartServer();
        await server.WaitReadyAsync();
        var port = server.ListenerPort("smtp").ToString(System.Globalization.CultureInfo.InvariantCulture);
        const string load = """
            import smtplib, sys, threading, time
            port = int(sys.argv[1]); stop = time.time() + float(sys.argv[2]); results = {"ok": 0, "bad": []}
            def worker(n):
                while time.time() < stop:
                    try:
                        with smtplib.SMTP("127.0.0.1", port) as s:
                            s.sendmail("load@remote.test", ["alice@example.com"], "Subject: load %d\r\n\r\nbody\r\n" % n)
                            results["ok"] += 1
                    except Exception as e:
                        results["bad"].append(repr(e))
            threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
            [t.start() for t in threads]; [t.join() for t in threads]
            print("ok", results["ok"], "bad", len(results["bad"]), results["bad"][:3])
            """;
        var file = Path.Combine(Path.GetTempPath(), "postern-load-" + Guid.NewGuid().ToString("N") + ".py");
        await File.WriteAllTextAsync(file, load);
        try
        {
            var loadRun = RunToolAsync("/usr/bin/python3", file, port, "6");
            await Task.Delay(500); // let the load start
            var (code, stdout, stderr) = await PosternProcess.RunAsync("account", "add", "carol@example.com", "--password", "Carol-Secret-1", "--data", _data.Path);
            Assert.True(code == 0, stdout + stderr);
            Assert.DoesNotContain("locked", stdout + stderr, StringComparison.OrdinalIgnoreCase);

            // The running server honours the change (its cache polls the directory's change stamp every 250 ms).
            var accepted = false;
            for (var attempt = 0; attempt < 100 && !accepted; attempt++)
            {
                var probe = await RunToolAsync("/usr/bin/swaks", "--server", "127.0.0.1:" + port, "--from", "x@remote.test", "--to", "carol@example.com", "--quit-after", "RCPT");
                accepted = probe.Output.Contains("250 2.1.5", StringComparison.Ordinal);
                if (!accepted)
                {
                    await Task.Delay(100);
                }
            }

            Assert.True(accepted, "the new account was never accepted at RCPT");
            var (loadCode, loadOutput) = await loadRun;
            Assert.True(loadCode == 0, loadOutput);
            Assert.Matches(@"ok [1-9]\d* bad 0 ", loadOutput);
        }
        finally
        {
            File.Delete(file);
        }

        server.Signal(Signals.SIGTERM);
        Assert.Equal(0, await server.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain("database is locked", server.Stdout + server.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}
