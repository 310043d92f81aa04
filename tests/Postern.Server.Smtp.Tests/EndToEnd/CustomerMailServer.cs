using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Postern.Networking;

namespace Postern.Server.Smtp.Tests.EndToEnd;

/// <summary>
/// A customer's own mail server that we did not write: Python's aiosmtpd (run with Debian's /usr/bin/python3) on
/// 127.0.0.1 and a free port. It accepts RCPT only for the addresses it was given, answers 451 for local parts
/// starting with "busy", and 550 5.1.1 for the rest; with <c>tls</c> it offers STARTTLS with a self-signed
/// certificate. Every new connection and every RCPT it sees is printed, so tests count them on the peer's side.
/// </summary>
internal sealed class CustomerMailServer : IAsyncDisposable
{
    private const string Script = """
        import ssl, sys
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import SMTP

        port = int(sys.argv[1])
        cert, key = sys.argv[2], sys.argv[3]
        known = {a.lower() for a in sys.argv[4:]}

        def say(*words):
            print(*words, flush=True)

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                say('RCPT', address.lower(), 'tls=%s' % (session.ssl is not None), 'from=%s' % envelope.mail_from)
                if address.lower() in known:
                    envelope.rcpt_tos.append(address)
                    return '250 2.1.5 OK'
                if address.lower().startswith('busy'):
                    return '451 4.3.2 Mailbox busy, try later'
                return '550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table' % address

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                if getattr(self, '_original_transport', None) is None:
                    say('CONNECT')
                super().connection_made(transport)

        class CustomerServer(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        kwargs = {}
        if cert != '-':
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs['tls_context'] = context
        controller = CustomerServer(Handler(), hostname='127.0.0.1', port=port, **kwargs)
        controller.start()
        say('READY')
        sys.stdin.read()
        controller.stop()
        """;

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _folder;
    private bool _isReady;

    private CustomerMailServer(Process process, string folder, int port)
    {
        _process = process;
        _folder = folder;
        Port = port;
    }

    public int Port { get; }

    /// <summary>"127.0.0.1:port" as a relay host of a domain.</summary>
    public string RelayHost => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Connections opened to the server since it was ready.</summary>
    public int Connections => Lines.Count(l => l == "CONNECT");

    /// <summary>The RCPT lines it saw: "RCPT address tls=True|False from=SENDER" (the null sender shows as &lt;&gt;).</summary>
    public IReadOnlyList<string> Recipients => Lines.Where(l => l.StartsWith("RCPT ", StringComparison.Ordinal)).ToList();

    private List<string> Lines
    {
        get
        {
            lock (_lines)
            {
                return [.. _lines];
            }
        }
    }

    public static async Task<CustomerMailServer> StartAsync(bool tls, params string[] knownAddresses)
    {
        const string python = "/usr/bin/python3";
        if (!File.Exists(python))
        {
            throw new Xunit.Sdk.XunitException($"{python} is not installed (see scripts/test-deps/smtp-client.txt: python3-aiosmtpd)");
        }

        var folder = Path.Combine(Path.GetTempPath(), "postern-customer-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        var script = Path.Combine(folder, "customer.py");
        await File.WriteAllTextAsync(script, Script);
        string cert = "-", key = "-";
        if (tls)
        {
            SelfSignedCertificate.CreateOrLoad(folder, "mail.customer.example").Dispose();
            cert = Path.Combine(folder, SelfSignedCertificate.CertificateFileName);
            key = Path.Combine(folder, SelfSignedCertificate.KeyFileName);
        }

        var port = FreePort();
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in new[] { script, port.ToString(CultureInfo.InvariantCulture), cert, key }.Concat(knownAddresses))
        {
            start.ArgumentList.Add(argument);
        }

        var server = new CustomerMailServer(Process.Start(start)!, folder, port);
        server._process.OutputDataReceived += (_, e) => server.Seen(e.Data);
        server._process.ErrorDataReceived += (_, e) => server.Seen(e.Data is null ? null : "stderr: " + e.Data);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        var ready = await Task.WhenAny(server._ready.Task, Task.Delay(TimeSpan.FromSeconds(30)));
        if (ready != server._ready.Task)
        {
            var output = string.Join('\n', server.Lines);
            await server.DisposeAsync();
            throw new Xunit.Sdk.XunitException("aiosmtpd did not start: " + output);
        }

        return server;
    }

    /// <summary>A port nothing listens on (a customer's server that is down).</summary>
    public static int ClosedPort() => FreePort();

    /// <summary>Waits until the peer has printed <paramref name="count"/> RCPT lines (its output arrives asynchronously).</summary>
    public async Task WaitForRecipientsAsync(int count)
    {
        for (var i = 0; i < 100 && Recipients.Count < count; i++)
        {
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Seen(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line == "READY")
        {
            _isReady = true;
            _ready.TrySetResult();
            return;
        }

        // aiosmtpd connects to itself once while starting: only what comes after READY counts.
        if (_isReady || !line.Equals("CONNECT", StringComparison.Ordinal))
        {
            lock (_lines)
            {
                _lines.Add(line);
            }
        }
    }
}
