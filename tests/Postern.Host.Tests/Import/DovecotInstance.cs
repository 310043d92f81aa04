using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Import;

/// <summary>
/// A throwaway Dovecot (IMAP only, plaintext on 127.0.0.1, one passwd-file user) whose Maildir the import tests read.
/// Everything lives in a temporary folder; the process is the one this class started and is stopped by its id.
/// </summary>
internal sealed class DovecotInstance : IDisposable
{
    public const string Password = "dovecot-pass";

    /// <summary>The mail files belong to this uid (Dovecot refuses to run mail processes as root).</summary>
    private const int MailUid = 5000;

    private readonly string _root = Path.Combine(Path.GetTempPath(), "postern-dovecot-" + Guid.NewGuid().ToString("N"));
    private Process? _process;

    public DovecotInstance(string user)
    {
        User = user;
        Port = PostfixInstance.FreePort();
    }

    public string User { get; }

    public int Port { get; }

    /// <summary>The user's Maildir (mail_location = maildir:THIS).</summary>
    public string Maildir => Path.Combine(_root, "home", "Maildir");

    public string Log => File.Exists(Path.Combine(_root, "dovecot.log")) ? File.ReadAllText(Path.Combine(_root, "dovecot.log")) : string.Empty;

    public async Task StartAsync()
    {
        if (!File.Exists("/usr/sbin/dovecot"))
        {
            throw new Xunit.Sdk.XunitException("dovecot is not installed (see scripts/test-deps/maildir.txt)");
        }

        if (!string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            throw new Xunit.Sdk.XunitException("the Dovecot peer needs root (it runs the user's mail processes as uid 5000)");
        }

        Directory.CreateDirectory(Path.Combine(_root, "run"));
        Directory.CreateDirectory(Path.Combine(_root, "home"));
        var chown = await SmtpTestBed.RunToolAsync("/usr/bin/chown", [$"{MailUid}:{MailUid}", Path.Combine(_root, "home")]);
        Assert.True(chown.Code == 0, chown.Output);
        var uid = MailUid.ToString(CultureInfo.InvariantCulture);
        await File.WriteAllTextAsync(Path.Combine(_root, "users"), $"{User}:{{PLAIN}}{Password}:{uid}:{uid}::{Path.Combine(_root, "home")}\n");
        var config = Path.Combine(_root, "dovecot.conf");
        await File.WriteAllTextAsync(config, $$"""
            instance_name = postern-test-{{Port}}
            base_dir = {{_root}}/run
            state_dir = {{_root}}/run
            protocols = imap
            listen = 127.0.0.1
            ssl = no
            disable_plaintext_auth = no
            auth_mechanisms = plain login
            log_path = {{_root}}/dovecot.log
            mail_location = maildir:{{Maildir}}
            first_valid_uid = 1000
            passdb {
              driver = passwd-file
              args = scheme=PLAIN username_format=%u {{_root}}/users
            }
            userdb {
              driver = passwd-file
              args = username_format=%u {{_root}}/users
            }
            service imap-login {
              chroot =
              inet_listener imap {
                address = 127.0.0.1
                port = {{Port}}
              }
              inet_listener imaps {
                port = 0
              }
            }
            service anvil {
              chroot =
            }

            """);
        var info = new ProcessStartInfo("/usr/sbin/dovecot") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-F", "-c", config })
        {
            info.ArgumentList.Add(a);
        }

        _process = Process.Start(info)!;
        _ = _process.StandardOutput.ReadToEndAsync();
        _ = _process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !_process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                throw new Xunit.Sdk.XunitException("dovecot did not start:\n" + Log);
            }
        }
    }

    /// <summary>Stops the master we started (SIGTERM through Process.Kill of the tree would be abrupt: ask it to quit) and waits.</summary>
    public async Task StopAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        var (code, output) = await SmtpTestBed.RunToolAsync("/usr/bin/kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
        Assert.True(code == 0, output);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process?.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
