using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Postern.ImapTest;

/// <summary>
/// A throwaway Dovecot (Debian's dovecot-imapd) on 127.0.0.1 and a free port: config, passwd-file user and Maildirs
/// in a temp folder, run in the foreground as our child and killed by its pid. Never touches /etc/dovecot.
/// </summary>
public sealed class DovecotInstance : IAsyncDisposable
{
    public const string Binary = "/usr/sbin/dovecot";
    public const string User = "imaptest@example.test";
    public const string Password = "imaptest-pw";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-dovecot-" + Guid.NewGuid().ToString("N")[..12]);
    private Process? _process;

    public int Port { get; private set; }

    public ImapTestServer Target => new("127.0.0.1", Port, User, Password);

    public string LogPath => Path.Combine(_folder, "dovecot.log");

    public static bool IsInstalled => File.Exists(Binary);

    public static async Task<DovecotInstance> StartAsync()
    {
        var d = new DovecotInstance();
        await d.StartCoreAsync();
        return d;
    }

    private async Task StartCoreAsync()
    {
        Directory.CreateDirectory(Path.Combine(_folder, "run"));
        Directory.CreateDirectory(Path.Combine(_folder, "state"));
        var mail = Path.Combine(_folder, "mail");
        Directory.CreateDirectory(mail);
        Port = FreePort();

        // As root, mail belongs to an unprivileged uid (Dovecot refuses uid 0); otherwise to us.
        var root = Environment.UserName == "root";
        var uid = root ? "5000" : Run("id", "-u").Trim();
        var gid = root ? "5000" : Run("id", "-g").Trim();
        if (root)
        {
            Run("chown", $"{uid}:{gid} {mail}");
        }

        var users = Path.Combine(_folder, "users");
        await File.WriteAllTextAsync(users, $"{User}:{{PLAIN}}{Password}:{uid}:{gid}::{mail}/imaptest\n");
        Run("chmod", "644 " + users);
        var conf = Path.Combine(_folder, "dovecot.conf");
        var extra = root ? "" : $"default_internal_user = {Environment.UserName}\ndefault_login_user = {Environment.UserName}\ndefault_internal_group = {gid}\n";
        await File.WriteAllTextAsync(conf, $$"""
            # throwaway instance for the imaptest runner (tests/Postern.ImapTest)
            instance_name = {{Path.GetFileName(_folder)}}
            base_dir = {{_folder}}/run
            state_dir = {{_folder}}/state
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            log_path = {{LogPath}}
            mail_location = maildir:~/Maildir
            first_valid_uid = 1
            {{extra}}
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{users}}
            }
            userdb {
              driver = passwd-file
              args = username_format=%u {{users}}
            }
            service imap-login {
              inet_listener imap {
                address = 127.0.0.1
                port = {{Port.ToString(CultureInfo.InvariantCulture)}}
              }
              inet_listener imaps {
                port = 0
              }
            }
            protocol imap {
              mail_max_userip_connections = 100
            }

            """);
        var start = new ProcessStartInfo(Binary, ["-F", "-c", conf]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        _process = Process.Start(start) ?? throw new InvalidOperationException("dovecot did not start");
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (DateTime.UtcNow < until)
        {
            if (_process.HasExited)
            {
                var log = File.Exists(LogPath) ? await File.ReadAllTextAsync(LogPath) : "";
                throw new InvalidOperationException($"dovecot exited ({_process.ExitCode}): {await _process.StandardError.ReadToEndAsync()} {log}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        throw new TimeoutException("dovecot did not listen on port " + Port);
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string Run(string file, string args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, UseShellExecute = false })!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }
}
