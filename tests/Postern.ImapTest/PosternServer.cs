using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Postern.Core.Tenants;
using Postern.Networking;
using Postern.Server.Imap;
using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;
using Postern.Tenants;

namespace Postern.ImapTest;

/// <summary>
/// Postern's IMAP server in-process over the embedded stores, plaintext on a free loopback port, with one test
/// account (imaptest@example.com / imaptest-pw): the same wiring as tests/Postern.Server.Imap.Tests' harness.
/// </summary>
public sealed class PosternServer : IAsyncDisposable
{
    public const string User = "imaptest@example.com";
    public const string Password = "imaptest-pw";

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-imaptest-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteDirectoryStore _directory;
    private readonly EmbeddedStorage _storage;
    private readonly DirectoryService _admin;
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly ImapConnectionHandler _handler;
    private readonly X509Certificate2 _certificate;
    private Task _accepting = Task.CompletedTask;

    private PosternServer()
    {
        Directory.CreateDirectory(_folder);
        _directory = SqliteDirectoryStore.Open(_folder);
        _storage = EmbeddedStorage.Open(_folder);
        _admin = new DirectoryService(_directory, new PlainHasher(), new DirectoryServiceOptions { MinimumPasswordLength = 1 });
        var services = new ImapServices(new Authenticator(_directory, new PlainHasher()), _directory, _storage.Mailboxes, _storage.Blobs, TimeProvider.System)
        {
            Policy = new ImapPolicy { Hostname = "imap.example.com", AllowPlaintextAuth = true },
            Preparer = new MimeMessagePreparer(),
        };
        _certificate = SelfSignedCertificate.CreateOrLoad(_folder, "imap.example.com");
        _handler = new ImapConnectionHandler(services, NullLogger.Instance);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ImapTestServer Target => new("127.0.0.1", Port, User, Password);

    /// <summary>Exceptions that escaped a session (a server bug on their own).</summary>
    public System.Collections.Concurrent.ConcurrentBag<Exception> Failures { get; } = [];

    public static async Task<PosternServer> StartAsync()
    {
        var server = new PosternServer();
        await server._admin.AddCustomerAsync("Example", null);
        await server._admin.AddDomainAsync("example.com", "Example", DomainKind.Hosted, []);
        await server._admin.AddAccountAsync(User, Password, "imaptest", 0);
        server._listener.Start();
        server._accepting = server.AcceptAsync();
        return server;
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

        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAll(sessions).WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        _storage.Dispose();
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
            Failures.Add(e);
        }
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
