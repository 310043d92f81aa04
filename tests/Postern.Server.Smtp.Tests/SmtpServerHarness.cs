using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Tenants;
using Postern.Mailboxes;
using Postern.Networking;
using Postern.Primitives;
using Postern.Protocols.Smtp.Session;
using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;
using Postern.Tenants;

namespace Postern.Server.Smtp.Tests;

/// <summary>
/// The SMTP server layer over the real embedded stores, listening on a free loopback port. Every accepted
/// connection runs <see cref="SmtpConnectionHandler"/> exactly as the host does (without the host's listener).
/// </summary>
internal sealed class SmtpServerHarness : IAsyncDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-smtpd-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteDirectoryStore _directory;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accepting;
    private readonly SmtpConnectionHandler _handler;
    private readonly X509Certificate2 _certificate;

    public SmtpServerHarness(SmtpListenerKind kind, SmtpPolicy? policy = null, IReadOnlyList<ISmtpCheck>? checks = null, SmtpSessionOptions? session = null,
        Func<SmtpServerHarness, SmtpServices, SmtpServices>? configure = null)
    {
        Directory.CreateDirectory(_folder);
        _directory = SqliteDirectoryStore.Open(_folder);
        Storage = EmbeddedStorage.Open(_folder);
        Admin = new DirectoryService(_directory, new PlainHasher(), new DirectoryServiceOptions { MinimumPasswordLength = 1 });
        var resolver = new RecipientResolver(_directory, new RecipientResolverOptions { ChangePollInterval = TimeSpan.Zero });
        var delivery = new LocalDeliveryService(resolver, _directory, Storage.Blobs, Storage.Mailboxes, new LocalDeliveryOptions("mx.example.com"));
        MessageLog = new MessageLogWriter(Storage.MessageLog);
        Services = new SmtpServices(resolver, delivery, Storage.Blobs, Storage.Mailboxes, Storage.Queue, MessageLog,
            new Authenticator(_directory, new PlainHasher()), TimeProvider.System)
        {
            Policy = policy ?? new SmtpPolicy { MxGreetingDelay = TimeSpan.Zero },
            Checks = checks ?? [],
        };
        if (configure is not null)
        {
            Services = configure(this, Services);
        }

        _certificate = SelfSignedCertificate.CreateOrLoad(_folder, "mx.example.com");
        _handler = new SmtpConnectionHandler(kind, session ?? new SmtpSessionOptions { Hostname = "mx.example.com" }, Services, NullLogger.Instance);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public EmbeddedStorage Storage { get; }

    public DirectoryService Admin { get; }

    public SmtpServices Services { get; }

    /// <summary>Every queued message (all pages).</summary>
    public async Task<List<Core.Storage.Queue.QueuedMessage>> QueuedAsync() => [.. (await Storage.Queue.ListAsync(new Core.Storage.Queue.QueueQuery(Limit: 1000), default)).Messages];

    public MessageLogWriter MessageLog { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>example.com (hosted) with alice (alias al@), bob, and a relay domain relay.example.net.</summary>
    public async Task AddStandardTenantsAsync()
    {
        await Admin.AddCustomerAsync("Example", null);
        await Admin.AddDomainAsync("example.com", "Example", DomainKind.Hosted, []);
        await Admin.AddAccountAsync("alice@example.com", "alice-pw", "Alice", 0);
        await Admin.AddAccountAsync("bob@example.com", "bob-pw", "Bob", 0);
        await Admin.AddAliasAsync("al@example.com", "alice@example.com");
    }

    public async Task<SmtpTestClient> ConnectAsync(bool readGreeting = true, IPAddress? from = null)
    {
        var client = new SmtpTestClient(from);
        await client.ConnectAsync(Port);
        if (readGreeting)
        {
            var greeting = await client.ReadReplyAsync();
            Assert.StartsWith("220 ", greeting, StringComparison.Ordinal);
        }

        return client;
    }

    /// <summary>Every stored copy in an account's INBOX, trace prefix included, oldest first.</summary>
    public async Task<List<string>> InboxAsync(string address)
    {
        var resolved = await Services.Resolver.ResolveAsync(EmailAddress.Parse(address));
        var accountId = resolved.AccountId!.Value;
        var inbox = await Storage.Mailboxes.GetFolderAsync(accountId, "INBOX", default);
        if (inbox is null)
        {
            return [];
        }

        var result = new List<string>();
        foreach (var message in await Storage.Mailboxes.ListMessagesAsync(accountId, inbox.FolderId, 1, long.MaxValue, null, default))
        {
            await using var blob = await Storage.Blobs.OpenReadAsync(message.Blob, default);
            using var reader = new StreamReader(blob!);
            result.Add(Encoding.UTF8.GetString(message.HeaderPrefix.Span) + await reader.ReadToEndAsync());
        }

        return result;
    }

    /// <summary>Queue recipients in any state: what would leave this server.</summary>
    public async Task<long> QueuedRecipientsAsync() => (await Storage.Queue.CountByStateAsync(default)).Values.Sum();

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
        await _handler.HandleAsync(context);
    }

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

/// <summary>A plain SMTP client for conversation tests: one reply (all its lines) per call.</summary>
internal sealed class SmtpTestClient(IPAddress? from = null) : IAsyncDisposable
{
    private readonly TcpClient _tcp = from is null ? new() : new(new IPEndPoint(from, 0));
    private Stream? _stream;
    private StreamReader? _reader;

    public async Task ConnectAsync(int port)
    {
        await _tcp.ConnectAsync(IPAddress.Loopback, port);
        SetStream(_tcp.GetStream());
    }

    /// <summary>Sends a line (CRLF added) and returns the whole reply (lines joined with \n).</summary>
    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadReplyAsync();
    }

    public async Task SendAsync(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await _stream!.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    public async Task<string> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader!.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (line is null)
            {
                return lines.Count == 0 ? "(closed)" : string.Join('\n', lines);
            }

            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return string.Join('\n', lines);
            }
        }
    }

    public async Task StartTlsAsync()
    {
        var reply = await CommandAsync("STARTTLS");
        Assert.StartsWith("220", reply, StringComparison.Ordinal);
        var tls = new SslStream(_stream!, leaveInnerStreamOpen: false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync("mx.example.com");
        SetStream(tls);
    }

    /// <summary>MAIL, RCPT..., DATA, the message, and the reply to its end.</summary>
    public async Task<string> SendMessageAsync(string from, IEnumerable<string> to, string message)
    {
        var mail = await CommandAsync($"MAIL FROM:<{from}>");
        if (!mail.StartsWith('2'))
        {
            return mail;
        }

        foreach (var rcpt in to)
        {
            await CommandAsync($"RCPT TO:<{rcpt}>");
        }

        var data = await CommandAsync("DATA");
        if (!data.StartsWith("354", StringComparison.Ordinal))
        {
            return data;
        }

        await SendAsync(message.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n.\r\n");
        return await ReadReplyAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stream is not null)
        {
            await _stream.DisposeAsync();
        }

        _tcp.Dispose();
    }

    private void SetStream(Stream stream)
    {
        _stream = stream;
        _reader = new StreamReader(stream, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: false, bufferSize: 1, leaveOpen: true);
    }
}
