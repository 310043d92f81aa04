using System.Diagnostics;
using System.Globalization;
using System.Text;
using Postern.Host.Embedded;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// One data folder with a small directory (example.com with alice and bob, bücher.example with jörg), the real
/// <c>postern</c> binary started on it with free ports, and helpers to run outside programs and read mailboxes.
/// </summary>
internal sealed class SmtpTestBed : IDisposable
{
    public const string AlicePassword = "Alice-Secret-1";
    public const string BobPassword = "Bob-Secret-1";
    public const string JoergPassword = "Joerg-Secret-1";

    private readonly TempFolder _data = new();
    private readonly List<PosternProcess> _servers = [];

    public string DataPath => _data.Path;

    public static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public async Task SetUpDirectoryAsync()
    {
        foreach (var args in new[]
        {
            new[] { "customer", "add", "Example" },
            ["domain", "add", "example.com", "--customer", "Example", "--kind", "hosted"],
            ["domain", "add", "bücher.example", "--customer", "Example", "--kind", "hosted"],
            ["account", "add", "alice@example.com", "--password", AlicePassword],
            ["account", "add", "bob@example.com", "--password", BobPassword],
            ["account", "add", "jörg@bücher.example", "--password", JoergPassword],
        })
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync([.. args, "--data", _data.Path]);
            Assert.True(code == 0, string.Join(' ', args) + ": " + stdout + stderr);
        }
    }

    /// <summary>Starts the server on the data folder (every listener on a free port) and waits for its banner.</summary>
    public async Task<PosternProcess> StartServerAsync(params string[] extra)
    {
        var server = PosternProcess.Start(
        [
            "run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Server:Hostname=mx.example.test",
            "--set", "Listeners:https:Port=0", "--set", "Listeners:smtp:Port=0", "--set", "Listeners:submission:Port=0",
            "--set", "Listeners:submissions:Port=0", "--set", "Listeners:lmtp:Port=0", "--set", "Listeners:imap:Port=0", "--set", "Listeners:imaps:Port=0", "--set", "Server:Ports=quickstart", .. extra,
        ]);
        _servers.Add(server);
        await server.WaitReadyAsync();
        return server;
    }

    /// <summary>SIGTERM, and the process must exit 0.</summary>
    public static async Task StopAsync(PosternProcess server)
    {
        server.Signal(Signals.SIGTERM);
        var code = await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code == 0, $"postern exited {code}\nstdout:\n{server.Stdout}\nstderr:\n{server.Stderr}");
    }

    public static string Port(PosternProcess server, string listener) => Invariant(server.ListenerPort(listener));

    /// <summary>Runs an outside program to completion (60 s at most) and returns its exit code and stdout + stderr.</summary>
    public static async Task<(int Code, string Output)> RunToolAsync(string program, IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        if (!File.Exists(program))
        {
            throw new Xunit.Sdk.XunitException($"{program} is not installed (see scripts/test-deps/smtp.txt)");
        }

        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"{program} {string.Join(' ', args)} did not finish in time");
        }

        return (p.ExitCode, await stdout + await stderr);
    }

    public static Task<(int Code, string Output)> SwaksAsync(params string[] args) => RunToolAsync("/usr/bin/swaks", args);

    /// <summary>Runs a Python script with Debian's interpreter (it sees Debian's Python packages).</summary>
    public static async Task<(int Code, string Output)> PythonAsync(string script, params string[] args)
    {
        var file = Path.Combine(Path.GetTempPath(), "postern-peer-" + Guid.NewGuid().ToString("N") + ".py");
        await File.WriteAllTextAsync(file, script);
        try
        {
            return await RunToolAsync("/usr/bin/python3", [file, .. args], timeout: TimeSpan.FromSeconds(120));
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>The INBOX of <paramref name="address"/>, each message as stored (trace prefix + body) decoded as UTF-8. Server stopped.</summary>
    public async Task<List<string>> InboxAsync(string address)
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var backend = EmbeddedBackend.Open(DataFolder.Prepare(_data.Path));
        var (account, _) = await new Tenants.DirectoryService(backend.Directory, new PasswordHasherAdapter(Passwords.PasswordHasher.Default)).RequireAccountAsync(address);
        var inbox = await backend.Mail.Mailboxes.GetFolderAsync(account.Id, "INBOX", default);
        var result = new List<string>();
        if (inbox is null)
        {
            return result;
        }

        foreach (var m in await backend.Mail.Mailboxes.ListMessagesAsync(account.Id, inbox.FolderId, 1, long.MaxValue, null, default))
        {
            await using var blob = await backend.Mail.Blobs.OpenReadAsync(m.Blob, default);
            using var body = new MemoryStream();
            await blob!.CopyToAsync(body);
            result.Add(Encoding.UTF8.GetString(m.HeaderPrefix.Span) + Encoding.UTF8.GetString(body.ToArray()));
        }

        return result;
    }

    /// <summary>How many messages all mailboxes hold, read from mailbox.db read-only while the server runs.</summary>
    public long CountStoredMessages()
    {
        var file = Path.Combine(_data.Path, "mailbox.db");
        if (!File.Exists(file))
        {
            return 0;
        }

        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM messages";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Polls mailbox.db until it holds at least <paramref name="count"/> messages.</summary>
    public async Task<bool> WaitForStoredMessagesAsync(long count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (CountStoredMessages() >= count)
            {
                return true;
            }

            await Task.Delay(200);
        }

        return CountStoredMessages() >= count;
    }

    public void Dispose()
    {
        try
        {
            foreach (var s in _servers)
            {
                s.Dispose();
            }
        }
        finally
        {
            _data.Dispose();
        }
    }
}
