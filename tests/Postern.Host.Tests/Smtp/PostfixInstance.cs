using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// A private Postfix instance under a temporary folder: its own config_directory, queue_directory and
/// data_directory, loopback only, its smtpd on a free port, local delivery off. It never touches /etc/postfix
/// (only Debian's programs and their meta files there are used). Started with <c>postfix -c DIR start</c>.
/// </summary>
internal sealed class PostfixInstance : IDisposable
{
    public const string Hostname = "relay.postfix.test";

    private bool _started;

    public PostfixInstance(IEnumerable<string> mainCf)
    {
        Root = Path.Combine(Path.GetTempPath(), "postern-postfix-" + Guid.NewGuid().ToString("N")[..12]);
        SmtpdPort = FreePort();
        // The postfix user must reach its queue and data directories whatever the umask of the test run.
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        foreach (var folder in new[] { Root, ConfigDirectory, Path.Combine(Root, "queue"), Path.Combine(Root, "data") })
        {
            Directory.CreateDirectory(folder);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(folder, open);
            }
        }
        var main = new StringBuilder();
        foreach (var line in new[]
        {
            "compatibility_level = 3.6",
            $"queue_directory = {Root}/queue",
            $"data_directory = {Root}/data",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "syslog_name = postfix-postern-test",
            $"maillog_file = {Root}/maillog",
            $"maillog_file_prefixes = {Root}",
            $"myhostname = {Hostname}",
            "mydomain = postfix.test",
            "myorigin = $myhostname",
            "mydestination =",
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            "smtpd_reject_unlisted_recipient = no",
            "local_transport = error:local delivery is off in this test instance",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "smtp_dns_support_level = disabled",
            "biff = no",
            "delay_warning_time = 0",
            "queue_run_delay = 1s",
            "minimal_backoff_time = 1s",
            "maximal_backoff_time = 2s",
        }.Concat(mainCf))
        {
            main.Append(line).Append('\n');
        }

        File.WriteAllText(Path.Combine(ConfigDirectory, "main.cf"), main.ToString());

        // Only the services this instance needs; nothing chrooted (the queue is not a chroot jail).
        File.WriteAllText(Path.Combine(ConfigDirectory, "master.cf"), $"""
            127.0.0.1:{SmtpTestBed.Invariant(SmtpdPort)} inet n - n - - smtpd
            pickup unix n - n 60 1 pickup
            cleanup unix n - n - 0 cleanup
            qmgr unix n - n 300 1 qmgr
            tlsmgr unix - - n 1000? 1 tlsmgr
            rewrite unix - - n - - trivial-rewrite
            bounce unix - - n - 0 bounce
            defer unix - - n - 0 bounce
            trace unix - - n - 0 bounce
            verify unix - - n - 1 verify
            flush unix n - n 1000? 0 flush
            proxymap unix - - n - - proxymap
            smtp unix - - n - - smtp
            relay unix - - n - - smtp
            showq unix n - n - - showq
            error unix - - n - - error
            retry unix - - n - - error
            discard unix - - n - - discard
            lmtp unix - - n - - lmtp
            anvil unix - - n - 1 anvil
            scache unix - - n - 1 scache
            postlog unix-dgram n - n - 1 postlogd

            """.Replace("\r\n", "\n", StringComparison.Ordinal));
    }

    public string Root { get; }

    public string ConfigDirectory => Path.Combine(Root, "etc");

    public int SmtpdPort { get; }

    public string Maillog => File.Exists(Path.Combine(Root, "maillog")) ? File.ReadAllText(Path.Combine(Root, "maillog")) : "(no maillog)";

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task StartAsync()
    {
        if (!File.Exists("/usr/sbin/postfix"))
        {
            throw new Xunit.Sdk.XunitException("postfix is not installed (see scripts/test-deps/smtp.txt)");
        }

        // The data directory belongs to the mail owner (tlsmgr and others write there).
        var chown = await SmtpTestBed.RunToolAsync("/usr/bin/chown", ["postfix", Path.Combine(Root, "data")]);
        Assert.True(chown.Code == 0, chown.Output);
        var (code, output) = await SmtpTestBed.RunToolAsync("/usr/sbin/postfix", ["-c", ConfigDirectory, "start"]);
        Assert.True(code == 0, "postfix start: " + output + "\n" + Maillog);
        _started = true;

        // Wait for its smtpd (master opens the listening socket before it forks smtpd).
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, SmtpdPort);
                return;
            }
            catch (SocketException) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
    }

    /// <summary>Hands a message to this instance's <c>sendmail -C</c> (postdrop into its maildrop, then pickup).</summary>
    public async Task SendmailAsync(string sender, IEnumerable<string> recipients, string message)
    {
        var (code, output) = await SmtpTestBed.RunToolAsync("/usr/sbin/sendmail", ["-C", ConfigDirectory, "-f", sender, "-i", "--", .. recipients], stdin: message);
        Assert.True(code == 0, "sendmail: " + output + "\n" + Maillog);
    }

    /// <summary>Waits until the maillog has <paramref name="count"/> lines containing <paramref name="text"/>.</summary>
    public async Task<bool> WaitForLogAsync(string text, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        do
        {
            if (Maillog.Split('\n').Count(l => l.Contains(text, StringComparison.Ordinal)) >= count)
            {
                return true;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return false;
    }

    public void Dispose()
    {
        if (_started)
        {
            // "postfix stop" asks master to stop; then make sure no process of this instance is left.
            try
            {
                SmtpTestBed.RunToolAsync("/usr/sbin/postfix", ["-c", ConfigDirectory, "stop"]).GetAwaiter().GetResult();
            }
            catch (Xunit.Sdk.XunitException)
            {
            }

            var pidFile = Path.Combine(Root, "queue", "pid", "master.pid");
            for (var i = 0; i < 50 && File.Exists(pidFile) && MasterAlive(pidFile); i++)
            {
                Thread.Sleep(100);
            }
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static bool MasterAlive(string pidFile)
    {
        var text = File.ReadAllText(pidFile).Trim();
        return int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var pid) && Directory.Exists("/proc/" + SmtpTestBed.Invariant(pid));
    }
}
