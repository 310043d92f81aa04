using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Delivery.Tests.Dsn;

/// <summary>
/// Real DSNs from another MTA: a private Postfix instance (its own config, queue and data folders under a temporary
/// folder, loopback only, local delivery off) relays test messages to two Postfix smtp-sink processes on loopback,
/// one refusing RCPT with 550 5.1.1 and one with 450, plus a discard: and an error: transport. The DSNs Postfix
/// sends back to the sender reach <see cref="CaptureSink"/>, a minimal SMTP server of ours that offers SMTPUTF8 (so
/// EAI bounces can be delivered) and keeps every message. Everything is stopped and deleted at the end.
/// </summary>
public sealed class PostfixDsnSource : IDisposable
{
    public const string Hostname = "mta.postfix.test";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly List<Process> _sinks = [];
    private readonly CaptureSink _capture = new();
    private bool _started;

    public PostfixDsnSource()
    {
        Root = Path.Combine(Path.GetTempPath(), "postern-dsn-postfix-" + Guid.NewGuid().ToString("N")[..12]);
        try
        {
            Dsns = Run();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Root { get; }

    /// <summary>The DSNs Postfix sent, by the Message-ID of the message they report on.</summary>
    public IReadOnlyDictionary<string, byte[]> Dsns { get; }

    public string Maillog => File.Exists(Path.Combine(Root, "maillog")) ? File.ReadAllText(Path.Combine(Root, "maillog")) : "(no maillog)";

    private Dictionary<string, byte[]> Run()
    {
        Assert.True(File.Exists("/usr/sbin/postfix") && File.Exists("/usr/sbin/smtp-sink"), "postfix is not installed (scripts/test-deps/dsn.txt)");
        var etc = Path.Combine(Root, "etc");
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        foreach (var folder in new[] { Root, etc, Path.Combine(Root, "queue"), Path.Combine(Root, "data") })
        {
            Directory.CreateDirectory(folder);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(folder, open);
            }
        }

        var smtpd = FreePort();
        var reject = FreePort();
        var soft = FreePort();
        StartSink("-f", "RCPT", "-B", "550 5.1.1 Recipient address rejected: User unknown in virtual mailbox table", "127.0.0.1:" + Invariant(reject), "10");
        StartSink("-r", "RCPT", "127.0.0.1:" + Invariant(soft), "10");
        var capture = "smtp:[127.0.0.1]:" + Invariant(_capture.Port);

        File.WriteAllText(Path.Combine(etc, "transport"), $"""
            reject.test smtp:[127.0.0.1]:{Invariant(reject)}
            soft.test smtp:[127.0.0.1]:{Invariant(soft)}
            ok.test {capture}
            sender.test {capture}
            gone.test discard:gone
            nx.test error:5.1.2 domain does not exist

            """);
        File.WriteAllText(Path.Combine(etc, "main.cf"), string.Join('\n',
        [
            "compatibility_level = 3.6",
            $"queue_directory = {Root}/queue",
            $"data_directory = {Root}/data",
            "mail_owner = postfix",
            "setgid_group = postdrop",
            "syslog_name = postfix-postern-dsn",
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
            "local_transport = error:local delivery is off in this test instance",
            "alias_maps =",
            "alias_database =",
            "local_recipient_maps =",
            "smtp_dns_support_level = disabled",
            "smtputf8_enable = yes",
            "biff = no",
            // The next hops do not pass DSN on, so Postfix itself reports success ("relayed").
            "smtp_discard_ehlo_keywords = dsn",
            "delay_warning_time = 1s",
            "queue_run_delay = 1s",
            "minimal_backoff_time = 1s",
            "maximal_backoff_time = 2s",
            $"transport_maps = texthash:{etc}/transport",
            string.Empty,
        ]));
        File.WriteAllText(Path.Combine(etc, "master.cf"), $"""
            127.0.0.1:{Invariant(smtpd)} inet n - n - - smtpd
            pickup unix n - n 60 1 pickup
            cleanup unix n - n - 0 cleanup
            qmgr unix n - n 300 1 qmgr
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
            anvil unix - - n - 1 anvil
            scache unix - - n - 1 scache
            postlog unix-dgram n - n - 1 postlogd

            """);

        Tool("/usr/bin/chown", "postfix", Path.Combine(Root, "data"));
        Tool("/usr/sbin/postfix", "-c", etc, "start");
        _started = true;
        WaitForPort(smtpd);

        // Failure with RET=HDRS, ENVID and ORCPT; a delay; success (relayed and delivered) with RET=FULL; an SMTPUTF8 failure.
        Send(smtpd, "<alice@sender.test> RET=HDRS ENVID=QQ314159", ["<bob@reject.test> NOTIFY=FAILURE ORCPT=rfc822;Bob.Orig@alias.test"], "fail-1@sender.test", "Lunch on Monday");
        Send(smtpd, "<alice@sender.test>", ["<carol@soft.test> NOTIFY=DELAY,FAILURE"], "delay-1@sender.test", "Slow one");
        Send(smtpd, "<alice@sender.test> RET=FULL", ["<dave@ok.test> NOTIFY=SUCCESS", "<erin@gone.test> NOTIFY=SUCCESS"], "ok-1@sender.test", "Report it");
        Send(smtpd, "<jürgen@sender.test> SMTPUTF8", ["<用户@reject.test>"], "eai-1@sender.test", "Grüße");

        var dsns = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + Timeout;
        while (dsns.Count < 4 && _capture.WaitForMessage(deadline))
        {
            foreach (var m in _capture.Messages)
            {
                var id = ReportedMessageId(m);
                if (id is not null)
                {
                    dsns.TryAdd(id, m);
                }
            }
        }

        Assert.True(dsns.Count == 4, $"{dsns.Count} DSNs arrived ({string.Join(", ", dsns.Keys)}); maillog:\n{Maillog}");
        return dsns;
    }

    /// <summary>The Message-ID of the returned headers, found without our DSN parser (a plain text search).</summary>
    private static string? ReportedMessageId(byte[] message)
    {
        var text = Encoding.UTF8.GetString(message);
        if (!text.Contains("report-type=delivery-status", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var at = text.LastIndexOf("\nMessage-ID: <", StringComparison.OrdinalIgnoreCase);
        var end = at < 0 ? -1 : text.IndexOf('>', at);
        return end < 0 ? null : text[(at + "\nMessage-ID: <".Length)..end];
    }

    private void StartSink(params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/sbin/smtp-sink") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add("-u");
        psi.ArgumentList.Add("postfix");
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var p = Process.Start(psi) ?? throw new InvalidOperationException("smtp-sink did not start");
        _sinks.Add(p);
        WaitForPort(int.Parse(args[^2].Split(':')[1], CultureInfo.InvariantCulture));
    }

    private static void Send(int port, string mailFrom, string[] rcpts, string messageId, string subject)
    {
        using var tcp = new TcpClient();
        tcp.Connect(IPAddress.Loopback, port);
        using var stream = tcp.GetStream();
        stream.ReadTimeout = 30_000;
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string Reply()
        {
            string? line;
            do
            {
                line = reader.ReadLine() ?? throw new IOException("connection closed");
            }
            while (line.Length > 3 && line[3] == '-');
            return line;
        }

        void Write(string s) => stream.Write(Encoding.UTF8.GetBytes(s));
        void Command(string command, char expect)
        {
            Write(command + "\r\n");
            var reply = Reply();
            Assert.True(reply[0] == expect, command + " -> " + reply);
        }

        Assert.StartsWith("220", Reply(), StringComparison.Ordinal);
        Command("EHLO client.sender.test", '2');
        Command("MAIL FROM:" + mailFrom, '2');
        foreach (var r in rcpts)
        {
            Command("RCPT TO:" + r, '2');
        }

        Command("DATA", '3');
        Write($"From: Alice <alice@sender.test>\r\nTo: friends@ok.test\r\nSubject: {subject}\r\nMessage-ID: <{messageId}>\r\nMIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nA body line, grüße.\r\n.\r\n");
        var queued = Reply();
        Assert.True(queued.StartsWith('2'), queued);
        Command("QUIT", '2');
    }

    private static void Tool(string file, params string[] args)
    {
        var (code, output, err) = Peers.Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)}: {output}{err}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void WaitForPort(int port)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var tcp = new TcpClient();
                tcp.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (attempt < 100)
            {
                Thread.Sleep(100);
            }
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_started)
        {
            try
            {
                Peers.Run("/usr/sbin/postfix", ["-c", Path.Combine(Root, "etc"), "stop"]);
            }
            catch (InvalidOperationException)
            {
            }

            var pid = Path.Combine(Root, "queue", "pid", "master.pid");
            for (var i = 0; i < 50 && File.Exists(pid); i++)
            {
                Thread.Sleep(100);
            }
        }

        foreach (var p in _sinks)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();
                    p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            p.Dispose();
        }

        _capture.Dispose();
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

    /// <summary>Accepts SMTP on a free loopback port, offers 8BITMIME and SMTPUTF8, and keeps each message's bytes.</summary>
    private sealed class CaptureSink : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly List<byte[]> _messages = [];
        private readonly SemaphoreSlim _arrived = new(0);

        /// <summary>Waits until another message has been captured (false at the deadline).</summary>
        public bool WaitForMessage(DateTime deadline)
        {
            var left = deadline - DateTime.UtcNow;
            return left > TimeSpan.Zero && _arrived.Wait(left);
        }
        private readonly Task _accepting;

        public CaptureSink()
        {
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = Task.Run(AcceptAsync);
        }

        public int Port { get; }

        public IReadOnlyList<byte[]> Messages
        {
            get
            {
                lock (_messages)
                {
                    return [.. _messages];
                }
            }
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient client;
                try
                {
                    client = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    return;
                }

                _ = Task.Run(() => ServeAsync(client));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    async Task Say(string s) => await stream.WriteAsync(Encoding.ASCII.GetBytes(s + "\r\n"), _stop.Token);
                    await Say("220 capture.test ESMTP");
                    while (await ReadLineAsync(stream) is { } line)
                    {
                        var verb = Encoding.ASCII.GetString(line.AsSpan(0, Math.Min(4, line.Length))).ToUpperInvariant();
                        switch (verb)
                        {
                            case "EHLO":
                                await Say("250-capture.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES");
                                break;
                            case "DATA":
                                await Say("354 go ahead");
                                var message = new List<byte>();
                                while (await ReadLineAsync(stream) is { } data && !(data.Length == 1 && data[0] == '.'))
                                {
                                    message.AddRange(data.Length > 0 && data[0] == '.' ? data[1..] : data);
                                    message.Add((byte)'\r');
                                    message.Add((byte)'\n');
                                }

                                lock (_messages)
                                {
                                    _messages.Add([.. message]);
                                    _arrived.Release();
                                }

                                await Say("250 2.0.0 kept");
                                break;
                            case "QUIT":
                                await Say("221 2.0.0 bye");
                                return;
                            default:
                                await Say("250 2.0.0 ok");
                                break;
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                }
            }
        }

        /// <summary>One line without its CRLF, or null at the end of the stream.</summary>
        private async Task<byte[]?> ReadLineAsync(NetworkStream stream)
        {
            var line = new List<byte>();
            var one = new byte[1];
            while (true)
            {
                if (await stream.ReadAsync(one, _stop.Token) == 0)
                {
                    return null;
                }

                if (one[0] == '\n')
                {
                    if (line.Count > 0 && line[^1] == '\r')
                    {
                        line.RemoveAt(line.Count - 1);
                    }

                    return [.. line];
                }

                line.Add(one[0]);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            try
            {
                _accepting.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
            }

            _stop.Dispose();
            _arrived.Dispose();
        }
    }
}
