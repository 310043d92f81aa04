using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client.EndToEnd;

/// <summary>A program we did not write, listening on 127.0.0.1 and a free port; killed by its pid at the end.</summary>
internal abstract class PeerProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    protected PeerProcess(int? port = null)
    {
        Folder = Path.Combine(Path.GetTempPath(), "postern-smtp-client-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Folder);
        // The peer may drop privileges (smtp-sink -u nobody) and still has to write here.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Folder, (UnixFileMode)0x1ff);
        }
        Port = port ?? FreePort();
    }

    public int Port { get; }

    public string Folder { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task<SmtpClientSession> ConnectAsync(SmtpClientOptions? options = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        return new SmtpClientSession(client.GetStream(), options ?? ClientTestSupport.Options);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    protected async Task StartAsync(string program, IEnumerable<string> arguments)
    {
        if (!File.Exists(program))
        {
            throw new Xunit.Sdk.XunitException($"{program} is not installed (see scripts/test-deps/smtp-client.txt)");
        }

        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (attempt < 100 && !_process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                throw new Xunit.Sdk.XunitException($"{program} did not start listening: {Output}");
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.Append(line).Append('\n');
        }
    }
}

/// <summary>
/// Postfix's <c>smtp-sink</c> (see smtp-sink(1)): accepts and discards mail, with each transaction dumped to a file
/// (<c>-d</c>: the MAIL and RCPT arguments as received and the content after dot-unstuffing, LF line ends), and fault
/// injection per command (-r soft reject, -f hard reject, -q disconnect, -Q 421, -w delay) and feature switches.
/// </summary>
internal sealed class SmtpSink : PeerProcess
{
    private SmtpSink(int? port = null)
        : base(port)
    {
    }

    public static Task<SmtpSink> StartAsync(params string[] options) => StartOnPortAsync(null, options);

    /// <summary>On a given port (a server that comes back where it was), or a free one.</summary>
    public static async Task<SmtpSink> StartOnPortAsync(int? port, params string[] options)
    {
        var sink = new SmtpSink(port);
        var arguments = new List<string>();
        if (Environment.IsPrivilegedProcess)
        {
            arguments.AddRange(["-u", "nobody"]);
        }

        arguments.AddRange(["-d", Path.Combine(sink.Folder, "%H%M%S.")]);
        arguments.AddRange(options);
        arguments.AddRange(["127.0.0.1:" + sink.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "16"]);
        await sink.StartAsync("/usr/sbin/smtp-sink", arguments);
        return sink;
    }

    /// <summary>The dumped transactions (each waited for up to a few seconds when <paramref name="expected"/> says how many).</summary>
    public async Task<List<SinkDump>> DumpsAsync(int expected)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var files = Directory.GetFiles(Folder);
            if (files.Length >= expected)
            {
                await Task.Delay(100);
                return Directory.GetFiles(Folder).Select(f => SinkDump.Parse(File.ReadAllText(f))).ToList();
            }

            await Task.Delay(100);
        }

        return Directory.GetFiles(Folder).Select(f => SinkDump.Parse(File.ReadAllText(f))).ToList();
    }
}

/// <summary>One smtp-sink dump: its X- records and the message after its Received header.</summary>
internal sealed record SinkDump(string MailArgs, IReadOnlyList<string> RcptArgs, string? HeloArgs, string Message)
{
    public static SinkDump Parse(string text)
    {
        var lines = text.Split('\n');
        string mail = "";
        string? helo = null;
        var rcpts = new List<string>();
        var i = 0;
        for (; i < lines.Length && !lines[i].StartsWith("Received:", StringComparison.Ordinal); i++)
        {
            var line = lines[i];
            if (line.StartsWith("X-Mail-Args: ", StringComparison.Ordinal))
            {
                mail = line["X-Mail-Args: ".Length..];
            }
            else if (line.StartsWith("X-Rcpt-Args: ", StringComparison.Ordinal))
            {
                rcpts.Add(line["X-Rcpt-Args: ".Length..]);
            }
            else if (line.StartsWith("X-Helo-Args: ", StringComparison.Ordinal))
            {
                helo = line["X-Helo-Args: ".Length..];
            }
        }

        // The three-line Received header marks the end of smtp-sink's own records.
        i += 3;
        var message = string.Join("\n", lines.Skip(i));
        // smtp-sink appends one empty line after the message.
        if (message.EndsWith("\n\n", StringComparison.Ordinal))
        {
            message = message[..^1];
        }

        return new SinkDump(mail, rcpts, helo, message);
    }
}

/// <summary>
/// Python's aiosmtpd (Debian python3-aiosmtpd) with STARTTLS (our in-process certificate), AUTH PLAIN and LOGIN
/// (alice / wonderland, only over TLS), SMTPUTF8 and a SIZE limit; it records each message's envelope and the
/// exact content bytes it received (after dot-unstuffing) as JSON files.
/// </summary>
internal sealed class AioSmtpd : PeerProcess
{
    private const string Script = """
        import asyncio, base64, json, os, ssl, sys, uuid
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        port, folder, cert, key, size_limit, exclude = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]

        class Recorder:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address.startswith("unknown"):
                    return "550 5.1.1 no such user here"
                if address.startswith("later"):
                    return "451 4.3.0 try again later"
                envelope.rcpt_tos.append(address)
                envelope.rcpt_options.extend(rcpt_options)
                return "250 2.1.5 OK"

            async def handle_DATA(self, server, session, envelope):
                record = {
                    "mail_from": envelope.mail_from,
                    "mail_options": envelope.mail_options,
                    "rcpt_tos": envelope.rcpt_tos,
                    "rcpt_options": envelope.rcpt_options,
                    "tls": session.ssl is not None,
                    "auth": bool(session.authenticated),
                    "content": base64.b64encode(envelope.original_content).decode("ascii"),
                }
                with open(os.path.join(folder, uuid.uuid4().hex + ".json"), "w") as f:
                    json.dump(record, f)
                return "250 2.0.0 OK recorded"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alice" and auth_data.password == b"wonderland"
            return AuthResult(success=ok, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        controller = Controller(Recorder(), hostname="127.0.0.1", port=port, server_hostname="aiosmtpd.test",
                                tls_context=context, enable_SMTPUTF8=True, decode_data=False, data_size_limit=size_limit,
                                authenticator=authenticator, auth_require_tls=True,
                                auth_exclude_mechanism=[exclude] if exclude else [])
        controller.start()
        print("READY", flush=True)
        sys.stdin.read()
        controller.stop()
        """;

    private AioSmtpd()
    {
    }

    public static async Task<AioSmtpd> StartAsync(X509Certificate2 certificate, int sizeLimit = 1_000_000, string excludeMechanism = "")
    {
        var peer = new AioSmtpd();
        var script = Path.Combine(peer.Folder, "peer.py");
        var cert = Path.Combine(peer.Folder, "cert.pem");
        var key = Path.Combine(peer.Folder, "key.pem");
        await File.WriteAllTextAsync(script, Script);
        await File.WriteAllTextAsync(cert, certificate.ExportCertificatePem());
        await File.WriteAllTextAsync(key, certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        Directory.CreateDirectory(Path.Combine(peer.Folder, "mail"));
        await peer.StartAsync("/usr/bin/python3", [script, peer.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), Path.Combine(peer.Folder, "mail"), cert, key,
            sizeLimit.ToString(System.Globalization.CultureInfo.InvariantCulture), excludeMechanism]);
        return peer;
    }

    public List<AioRecord> Messages() => Directory.GetFiles(Path.Combine(Folder, "mail"), "*.json")
        .Select(f => JsonSerializer.Deserialize<AioRecord>(File.ReadAllText(f))!)
        .ToList();
}

internal sealed record AioRecord
{
    [System.Text.Json.Serialization.JsonPropertyName("mail_from")]
    public string MailFrom { get; init; } = "";

    [System.Text.Json.Serialization.JsonPropertyName("mail_options")]
    public List<string> MailOptions { get; init; } = [];

    [System.Text.Json.Serialization.JsonPropertyName("rcpt_tos")]
    public List<string> Recipients { get; init; } = [];

    [System.Text.Json.Serialization.JsonPropertyName("rcpt_options")]
    public List<string> RcptOptions { get; init; } = [];

    [System.Text.Json.Serialization.JsonPropertyName("tls")]
    public bool Tls { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("auth")]
    public bool Authenticated { get; init; }

    [System.Text.Json.Serialization.JsonPropertyName("content")]
    public string ContentBase64 { get; init; } = "";

    public byte[] Content => Convert.FromBase64String(ContentBase64);
}
