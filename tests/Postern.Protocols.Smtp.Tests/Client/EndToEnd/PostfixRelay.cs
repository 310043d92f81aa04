using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client.EndToEnd;

/// <summary>
/// A private Postfix instance (its own config, queue and data folders under a temporary folder; started with
/// <c>postfix -c DIR start</c>, never touching /etc/postfix) whose smtpd listens on 127.0.0.1 and a free port and
/// relays everything to an smtp-sink. Postfix's smtpd offers CHUNKING, so the client's BDAT meets a real BDAT parser;
/// what Postfix makes of it comes out at the sink.
/// </summary>
internal sealed class PostfixRelay : IAsyncDisposable
{
    private readonly string _root;
    private bool _started;

    private readonly X509Certificate2? _certificate;

    private PostfixRelay(SmtpSink sink, X509Certificate2? certificate = null)
    {
        Sink = sink;
        _certificate = certificate;
        _root = Path.Combine(Path.GetTempPath(), "postern-client-postfix-" + Guid.NewGuid().ToString("N")[..12]);
        Port = PeerProcess.FreePort();
    }

    public SmtpSink Sink { get; }

    public int Port { get; }

    private string Config => Path.Combine(_root, "etc");

    public string Maillog => File.Exists(Path.Combine(_root, "maillog")) ? File.ReadAllText(Path.Combine(_root, "maillog")) : "(no maillog)";

    /// <summary>Starts Postfix; with a certificate (ECDSA, with its private key) its smtpd offers STARTTLS with it.</summary>
    public static async Task<PostfixRelay> StartAsync(X509Certificate2? certificate = null)
    {
        if (!File.Exists("/usr/sbin/postfix"))
        {
            throw new Xunit.Sdk.XunitException("postfix is not installed (see scripts/test-deps/smtp-client.txt)");
        }

        var relay = new PostfixRelay(await SmtpSink.StartAsync(), certificate);
        await relay.StartCoreAsync();
        return relay;
    }

    public async Task<SmtpClientSession> ConnectAsync(SmtpClientOptions? options = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        return new SmtpClientSession(client.GetStream(), options ?? ClientTestSupport.Options);
    }

    public async ValueTask DisposeAsync()
    {
        if (_started)
        {
            await RunAsync("/usr/sbin/postfix", "-c", Config, "stop");
            var pidFile = Path.Combine(_root, "queue", "pid", "master.pid");
            for (var i = 0; i < 50 && File.Exists(pidFile) && Directory.Exists("/proc/" + File.ReadAllText(pidFile).Trim()); i++)
            {
                await Task.Delay(100);
            }
        }

        await Sink.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return (process.ExitCode, await output + await error);
    }

    private async Task StartCoreAsync()
    {
        foreach (var folder in new[] { _root, Config, Path.Combine(_root, "queue"), Path.Combine(_root, "data") })
        {
            Directory.CreateDirectory(folder);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(folder, (UnixFileMode)0x1ed); // rwxr-xr-x: the postfix user must get in
            }
        }

        var sink = Sink.Port.ToString(CultureInfo.InvariantCulture);
        var tls = new List<string>();
        if (_certificate is not null)
        {
            var chain = Path.Combine(_root, "smtpd-chain.pem");
            await File.WriteAllTextAsync(chain, _certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem() + "\n" + _certificate.ExportCertificatePem() + "\n");
            tls.AddRange([$"smtpd_tls_chain_files = {chain}", "smtpd_tls_security_level = may", "smtpd_tls_received_header = yes"]);
        }

        await File.WriteAllTextAsync(Path.Combine(Config, "main.cf"), string.Join("\n",
        [
            "compatibility_level = 3.6",
            $"queue_directory = {_root}/queue",
            $"data_directory = {_root}/data",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "syslog_name = postfix-postern-client-test",
            $"maillog_file = {_root}/maillog",
            $"maillog_file_prefixes = {_root}",
            "myhostname = relay.postfix.test",
            "mydestination =",
            "inet_interfaces = loopback-only",
            "inet_protocols = ipv4",
            "mynetworks = 127.0.0.0/8",
            "smtpd_relay_restrictions = permit_mynetworks, reject",
            $"relayhost = [127.0.0.1]:{sink}",
            "smtp_dns_support_level = disabled",
            "smtp_tls_security_level = none",
            "local_transport = error:local delivery is off",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "biff = no",
            .. tls,
            "queue_run_delay = 1s",
            "minimal_backoff_time = 1s",
            "maximal_backoff_time = 2s",
            "",
        ]));
        await File.WriteAllTextAsync(Path.Combine(Config, "master.cf"), string.Join("\n",
        [
            $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "tlsmgr unix - - n 1000? 1 tlsmgr",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
            "",
        ]));
        var chown = await RunAsync("/usr/bin/chown", "postfix", Path.Combine(_root, "data"));
        Assert.True(chown.Code == 0, chown.Output);
        var (code, output) = await RunAsync("/usr/sbin/postfix", "-c", Config, "start");
        Assert.True(code == 0, "postfix start: " + output + "\n" + Maillog);
        _started = true;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (attempt < 100)
            {
                await Task.Delay(100);
            }
        }
    }
}
