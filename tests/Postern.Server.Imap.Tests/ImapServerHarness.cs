using System.IO.Compression;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Core.Tenants;
using Postern.Mailboxes;
using Postern.Networking;
using Postern.Primitives;
using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;
using Postern.Tenants;

namespace Postern.Server.Imap.Tests;

/// <summary>
/// The IMAP server layer over the real embedded stores, on a free loopback port: every connection runs
/// <see cref="ImapConnectionHandler"/> as the host does. Local delivery is there too, for "new mail arrives" cases.
/// </summary>
internal sealed class ImapServerHarness : IAsyncDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-imapd-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteDirectoryStore _directory;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accepting;
    private readonly ImapConnectionHandler _handler;
    private readonly X509Certificate2 _certificate;

    public ImapServerHarness(ImapPolicy? policy = null, Func<ImapServerHarness, ImapServices, ImapServices>? configure = null)
    {
        Directory.CreateDirectory(_folder);
        _directory = SqliteDirectoryStore.Open(_folder);
        Storage = EmbeddedStorage.Open(_folder);
        Admin = new DirectoryService(_directory, new PlainHasher(), new DirectoryServiceOptions { MinimumPasswordLength = 1 });
        Resolver = new RecipientResolver(_directory, new RecipientResolverOptions { ChangePollInterval = TimeSpan.Zero });
        MessageLog = new Core.Storage.MessageLog.MessageLogWriter(Storage.MessageLog, gatherDelay: TimeSpan.Zero);
        Delivery = new LocalDeliveryService(Resolver, _directory, Storage.Blobs, Storage.Mailboxes, new LocalDeliveryOptions("mx.example.com"));
        Services = new ImapServices(new Authenticator(_directory, new PlainHasher()), _directory, Storage.Mailboxes, Storage.Blobs, TimeProvider.System)
        {
            Policy = policy ?? new ImapPolicy { Hostname = "imap.example.com", AllowPlaintextAuth = true },
            Preparer = new MimeMessagePreparer(),
        };
        if (configure is not null)
        {
            Services = configure(this, Services);
        }

        _certificate = SelfSignedCertificate.CreateOrLoad(_folder, "imap.example.com");
        _handler = new ImapConnectionHandler(Services, NullLogger.Instance);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public EmbeddedStorage Storage { get; }

    public DirectoryService Admin { get; }

    public RecipientResolver Resolver { get; }

    public LocalDeliveryService Delivery { get; }

    public ImapServices Services { get; }

    public Core.Storage.MessageLog.MessageLogWriter MessageLog { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>example.com with alice and bob (passwords alice-pw, bob-pw).</summary>
    public async Task AddStandardTenantsAsync()
    {
        await Admin.AddCustomerAsync("Example", null);
        await Admin.AddDomainAsync("example.com", "Example", DomainKind.Hosted, []);
        await Admin.AddAccountAsync("alice@example.com", "alice-pw", "Alice", 0);
        await Admin.AddAccountAsync("bob@example.com", "bob-pw", "Bob", 0);
    }

    /// <summary>Delivers a message to a local recipient as SMTP would.</summary>
    public async Task DeliverAsync(string recipient, string message)
    {
        var bytes = Encoding.UTF8.GetBytes(message.ReplaceLineEndings("\r\n"));
        var blob = await Delivery.SpoolAsync(new MemoryStream(bytes), bytes.Length, default);
        var result = await Delivery.DeliverAsync(blob, new DeliveryEnvelope("sender@example.org", "ESMTP", "client.example.org", IPAddress.Loopback, null, "TEST"), EmailAddress.Parse(recipient), default);
        Assert.Equal(LocalDeliveryStatus.Delivered, result.Status);
    }

    public async Task<ImapTestClient> ConnectAsync()
    {
        var client = new ImapTestClient();
        await client.ConnectAsync(Port);
        var greeting = await client.ReadLineAsync();
        Assert.StartsWith("* OK ", greeting, StringComparison.Ordinal);
        return client;
    }

    /// <summary>A connection logged in as the given user.</summary>
    public async Task<ImapTestClient> LoginAsync(string user = "alice@example.com", string password = "alice-pw")
    {
        var client = await ConnectAsync();
        var reply = await client.CommandAsync($"LOGIN {user} {password}");
        Assert.True(reply.Ok, reply.Text);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(_sessions.ToArray()).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        await MessageLog.DisposeAsync();
        Storage.Dispose();
        _directory.Dispose();
        _certificate.Dispose();
        SqliteConnection.ClearAllPools();
        _stop.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var socket = await _listener.AcceptSocketAsync(_stop.Token);
            lock (_sessions)
            {
                _sessions.Add(RunAsync(socket));
            }
        }
    }

    private async Task RunAsync(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: true);
        await using var context = ConnectionContext.Create(stream, (IPEndPoint)socket.LocalEndPoint!, (IPEndPoint)socket.RemoteEndPoint!,
            new Selector(_certificate), _stop.Token, _stop.Token);
        try
        {
            await _handler.HandleAsync(context);
        }
        catch (Exception e)
        {
            // Nothing may escape a session: the test that provoked it fails.
            Failures.Add(e);
        }
    }

    /// <summary>Exceptions that escaped a session.</summary>
    public System.Collections.Concurrent.ConcurrentBag<Exception> Failures { get; } = [];

    private sealed class Selector(X509Certificate2 certificate) : ICertificateSelector
    {
        public X509Certificate2? SelectCertificate(string? serverName) => certificate;
    }

    private sealed class PlainHasher : IPasswordHasher
    {
        public string Hash(string password) => "{PLAIN}" + password;

        public PasswordCheck Verify(string storedHash, string password) => storedHash == "{PLAIN}" + password ? PasswordCheck.Match : PasswordCheck.Mismatch;

        public bool IsWellFormed(string storedHash, out string? error)
        {
            error = null;
            return true;
        }
    }
}

/// <summary>The untagged lines and the tagged status line of one command.</summary>
internal sealed record ImapReply(IReadOnlyList<string> Untagged, string Status)
{
    public bool Ok => Status.Split(' ', 3)[1] == "OK";

    public string Kind => Status.Split(' ', 3)[1];

    public string Text => string.Join("\n", Untagged.Append(Status));

    public bool Has(string pattern) => Untagged.Any(l => Regex.IsMatch(l, pattern, RegexOptions.IgnoreCase));

    public string Line(string pattern) => Untagged.First(l => Regex.IsMatch(l, pattern, RegexOptions.IgnoreCase));
}

/// <summary>A raw IMAP client for conversation tests: literals in responses are read and inlined.</summary>
internal sealed class ImapTestClient : IAsyncDisposable
{
    private readonly TcpClient _tcp = new();
    private Stream _stream = Stream.Null;
    private Stream _read = Stream.Null;
    private int _tag;

    public async Task ConnectAsync(int port)
    {
        await _tcp.ConnectAsync(IPAddress.Loopback, port);
        _stream = _tcp.GetStream();
        _read = _stream;
    }

    public async Task StartTlsAsync()
    {
        var ssl = new SslStream(_stream, false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync("imap.example.com");
        _stream = ssl;
        _read = ssl;
    }

    /// <summary>Switches to raw deflate both ways (after COMPRESS DEFLATE was answered OK).</summary>
    public void StartDeflate()
    {
        var inner = _stream;
        _read = new DeflateStream(inner, CompressionMode.Decompress, leaveOpen: true);
        _stream = new FlushingDeflate(new DeflateStream(inner, CompressionLevel.Fastest, leaveOpen: true), _read);
    }

    public async Task SendAsync(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public async Task SendBytesAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public string NextTag() => "a" + (++_tag).ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Sends a command (tag added) and reads until its tagged response.</summary>
    public async Task<ImapReply> CommandAsync(string command)
    {
        var tag = NextTag();
        await SendAsync(tag + " " + command + "\r\n");
        return await ReadReplyAsync(tag);
    }

    public async Task<ImapReply> ReadReplyAsync(string tag)
    {
        var untagged = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync();
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                return new ImapReply(untagged, line);
            }

            untagged.Add(line);
        }
    }

    /// <summary>One response line, with any literals it carries inlined (as their text).</summary>
    public async Task<string> ReadLineAsync()
    {
        var sb = new StringBuilder();
        while (true)
        {
            var line = await ReadRawLineAsync();
            sb.Append(line);
            var m = Regex.Match(line, @"~?\{(\d+)\}$");
            if (!m.Success)
            {
                return sb.ToString();
            }

            var n = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            var buffer = new byte[n];
            await _read.ReadExactlyAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            sb.Append("\r\n").Append(Encoding.UTF8.GetString(buffer));
        }
    }

    private async Task<string> ReadRawLineAsync()
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var n = await _read.ReadAsync(one).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
            if (n == 0)
            {
                throw new EndOfStreamException("The server closed the connection. Received: " + Encoding.UTF8.GetString(bytes.ToArray()));
            }

            if (one[0] == '\n' && bytes.Count > 0 && bytes[^1] == '\r')
            {
                bytes.RemoveAt(bytes.Count - 1);
                return Encoding.UTF8.GetString(bytes.ToArray());
            }

            bytes.Add(one[0]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }

    /// <summary>A write stream that sync-flushes the deflater on every flush (RFC 4978 needs each command to go out whole).</summary>
    private sealed class FlushingDeflate(DeflateStream deflate, Stream read) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush() => deflate.Flush();

        public override Task FlushAsync(CancellationToken cancellationToken) => deflate.FlushAsync(cancellationToken);

        public override int Read(byte[] buffer, int offset, int count) => read.Read(buffer, offset, count);

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => deflate.Write(buffer, offset, count);

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => deflate.WriteAsync(buffer, cancellationToken);
    }
}
