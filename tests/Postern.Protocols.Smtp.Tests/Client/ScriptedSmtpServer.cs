using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client;

/// <summary>
/// A fake SMTP server on 127.0.0.1 (a free port) that plays one script against one client connection: the script
/// reads what the client sends (lines, raw bytes, the DATA stream) and writes replies exactly as given, so tests can
/// check what went on the wire and feed the client anything, including broken replies.
/// </summary>
internal sealed class ScriptedSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Task _script;

    private ScriptedSmtpServer(Func<FakePeer, Task> script)
    {
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _script = RunAsync(script);
    }

    public int Port { get; }

    /// <summary>Everything the peer read from the client.</summary>
    public FakePeer? Peer { get; private set; }

    public static ScriptedSmtpServer Start(Func<FakePeer, Task> script) => new(script);

    /// <summary>A session connected to this server.</summary>
    public async Task<SmtpClientSession> ConnectAsync(SmtpClientOptions? options = null)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var session = new SmtpClientSession(client.GetStream(), options ?? new SmtpClientOptions { LocalHostname = "client.test" });
        return session;
    }

    /// <summary>Waits for the script to end and rethrows its failure (an assertion inside the script).</summary>
    public async Task CompletedAsync() => await _script.WaitAsync(TimeSpan.FromSeconds(20));

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        Peer?.Close();
        try
        {
            await _script.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
            // A script failure is reported by CompletedAsync; here we only clean up.
        }
    }

    private async Task RunAsync(Func<FakePeer, Task> script)
    {
        using var socket = await _listener.AcceptSocketAsync();
        using var peer = new FakePeer(socket);
        Peer = peer;
        await script(peer);
    }
}

/// <summary>The server end of one connection, driven by a test script.</summary>
internal sealed class FakePeer : IDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly MemoryStream _log = new();
    private Stream _stream;
    private byte[] _buffer = new byte[8192];
    private int _start;
    private int _end;

    public FakePeer(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>Every byte read from the client (after TLS decryption), in order.</summary>
    public byte[] Received => _log.ToArray();

    public string ReceivedText => Encoding.UTF8.GetString(Received);

    public async Task SendAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        await _stream.FlushAsync();
    }

    /// <summary>Writes the lines, each with CRLF, in one write.</summary>
    public Task ReplyAsync(params string[] lines) => SendAsync(string.Concat(lines.Select(l => l + "\r\n")));

    /// <summary>The next line without its CRLF.</summary>
    public async Task<string> ReadLineAsync()
    {
        while (true)
        {
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf >= 0)
            {
                var line = Encoding.UTF8.GetString(_buffer, _start, lf - _start).TrimEnd('\r');
                _start = lf + 1;
                return line;
            }

            await FillAsync();
        }
    }

    /// <summary>Reads a line and checks it starts with <paramref name="prefix"/> (case-sensitive); returns it.</summary>
    public async Task<string> ExpectAsync(string prefix)
    {
        var line = await ReadLineAsync();
        Assert.True(line.StartsWith(prefix, StringComparison.Ordinal), $"expected '{prefix}...', got '{line}'");
        return line;
    }

    public async Task<byte[]> ReadBytesAsync(int count)
    {
        while (_end - _start < count)
        {
            await FillAsync();
        }

        var bytes = _buffer.AsSpan(_start, count).ToArray();
        _start += count;
        return bytes;
    }

    /// <summary>The DATA stream as sent (dot-stuffed) up to and including CRLF.CRLF.</summary>
    public async Task<byte[]> ReadDataAsync()
    {
        var collected = new ArrayBufferWriter<byte>();
        var terminator = "\r\n.\r\n"u8.ToArray();
        while (true)
        {
            while (_end > _start)
            {
                collected.Write([_buffer[_start]]);
                _start++;
                var written = collected.WrittenSpan;
                if (written.EndsWith(terminator) || written.SequenceEqual(".\r\n"u8))
                {
                    return written.ToArray();
                }
            }

            await FillAsync();
        }
    }

    /// <summary>True when the client sends nothing for <paramref name="time"/> (it waits for a reply, lock-step).</summary>
    public async Task<bool> IsQuietAsync(TimeSpan time)
    {
        if (_end > _start)
        {
            return false;
        }

        using var cts = new CancellationTokenSource(time);
        try
        {
            await FillAsync(cts.Token);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or EndOfStreamException)
        {
            // The client went away (closed or reset) without sending anything more: it stayed quiet.
            return true;
        }
    }

    /// <summary>Waits for the client to close the connection (EOF); false if it sends something instead.</summary>
    public async Task<bool> ClosedByClientAsync()
    {
        try
        {
            await FillAsync();
            return false;
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public async Task UpgradeToTlsAsync(X509Certificate2 certificate)
    {
        Assert.True(_end == _start, "plaintext left over before the handshake");
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate });
        _stream = ssl;
    }

    public void Close()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _socket.Close();
    }

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }

    /// <summary>The greeting, an EHLO exchange offering <paramref name="keywords"/>.</summary>
    public async Task HelloAsync(params string[] keywords)
    {
        await ReplyAsync("220 mx.test ESMTP fake");
        await ExpectAsync("EHLO client.test");
        await ReplyAsync(EhloReply(keywords));
    }

    public static string[] EhloReply(params string[] keywords)
    {
        var lines = new List<string> { "mx.test greets client.test" };
        lines.AddRange(keywords);
        return lines.Select((l, i) => (i == lines.Count - 1 ? "250 " : "250-") + l).ToArray();
    }

    private async Task FillAsync(CancellationToken cancellationToken = default)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReadTimeout);
        var n = await _stream.ReadAsync(_buffer.AsMemory(_end), timeout.Token);
        if (n == 0)
        {
            throw new EndOfStreamException("the client closed the connection");
        }

        _log.Write(_buffer, _end, n);
        _end += n;
    }
}

/// <summary>Self-signed certificates made in-process for TLS tests.</summary>
internal static class TestCertificates
{
    private static readonly Lazy<X509Certificate2> Server = new(() => Create("mx.test"));

    public static X509Certificate2 MxTest => Server.Value;

    public static X509Certificate2 Create(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        // Through PKCS#12 so that the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12, "test"), "test");
    }
}
