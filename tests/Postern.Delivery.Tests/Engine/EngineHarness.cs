using System.Collections.Concurrent;
using System.Text;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Bounces;
using Postern.Delivery.Engine;
using Postern.Delivery.Tests.TlsPolicy;
using Postern.Delivery.TlsPolicy;
using Postern.Storage.Sqlite;

namespace Postern.Delivery.Tests.Engine;

/// <summary>Our own domains for the engine, set by the test.</summary>
internal sealed class FakeDirectory : IDeliveryDirectory
{
    public ConcurrentDictionary<string, OwnDomain> Domains { get; } = new(StringComparer.OrdinalIgnoreCase);

    public void AddRelay(string name, params RelayHost[] hosts) =>
        Domains[name] = new OwnDomain(name, false, true, hosts, DomainDeliverySettings.Default);

    public void Set(string name, Func<OwnDomain, OwnDomain> change) => Domains[name] = change(Domains[name]);

    public ValueTask<OwnDomain?> FindDomainAsync(string domain, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Domains.TryGetValue(domain, out var d) ? d : null);
}

/// <summary>A real queue (SQLite in a temporary folder), a fake DNS, our directory and the engine under test.</summary>
internal sealed class EngineHarness : IAsyncDisposable
{
    private EngineHarness(string folder, EmbeddedStorage storage, FakeDns dns, FakeDirectory directory, DeliveryOptions options, MtaStsCache? mtaSts, MtaStsTestingReporter? reporter)
    {
        Folder = folder;
        Storage = storage;
        Dns = dns;
        Directory = directory;
        Options = options;
        Router = new DeliveryRouter(options, dns, directory, new Random(7));
        MtaSts = mtaSts;
        Agent = new SmtpDeliveryAgent(options, Router, dns, mtaSts, reporter);
        Engine = new DeliveryEngine(
            new DeliveryEngineServices(storage.Queue, storage.Blobs, Router, Agent, new BounceSender(storage.Queue, storage.Blobs, new BounceOptions { ReportingMta = options.Hostname })),
            options);
        Engine.Recorded += a => Results.Enqueue(a);
    }

    public string Folder { get; }

    public EmbeddedStorage Storage { get; }

    public FakeDns Dns { get; }

    public FakeDirectory Directory { get; }

    public DeliveryOptions Options { get; }

    /// <summary>The MTA-STS cache the agent consults (owned by the harness), or null when MTA-STS is off.</summary>
    public MtaStsCache? MtaSts { get; }

    public DeliveryRouter Router { get; }

    public SmtpDeliveryAgent Agent { get; }

    public DeliveryEngine Engine { get; }

    public ConcurrentQueue<RecipientAttempt> Results { get; } = new();

    public IQueueStore Queue => Storage.Queue;

    /// <summary>
    /// A harness; with <paramref name="mtaSts"/> MTA-STS is on for MX delivery (the harness disposes the cache), and
    /// <paramref name="reporter"/> receives what MTA-STS testing policies would have refused.
    /// </summary>
    public static EngineHarness Create(Func<DeliveryOptions, DeliveryOptions>? configure = null, MtaStsCache? mtaSts = null, MtaStsTestingReporter? reporter = null)
    {
        var folder = Path.Combine(Path.GetTempPath(), "postern-engine-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(folder);
        var options = new DeliveryOptions
        {
            Hostname = "gateway.test",
            FirstRetryInterval = TimeSpan.FromSeconds(30),
            DestinationBackoff = TimeSpan.FromSeconds(30),
            PollInterval = TimeSpan.FromMilliseconds(50),
            ConnectionIdleTime = TimeSpan.FromSeconds(2),
            MtaSts = mtaSts is not null,
            Client = new Protocols.Smtp.Client.SmtpClientOptions { ConnectTimeout = TimeSpan.FromSeconds(5), GreetingTimeout = TimeSpan.FromSeconds(20), CommandTimeout = TimeSpan.FromSeconds(20) },
        };
        options = configure?.Invoke(options) ?? options;
        return new EngineHarness(folder, EmbeddedStorage.Open(folder), new FakeDns(), new FakeDirectory(), options, mtaSts, reporter);
    }

    public static string Message(string subject, string from = "alice@sender.test", string body = "Hello.") =>
        $"From: {from}\r\nTo: someone@example.test\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@sender.test>\r\n\r\n{body}\r\n";

    public async Task<string> EnqueueAsync(string sender, IEnumerable<NewQueueRecipient> recipients, string content, bool requireTls = false, DsnReturn ret = DsnReturn.Unspecified, bool smtpUtf8 = false)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(content));
        var blob = await Storage.Blobs.WriteAsync(stream, CancellationToken.None);
        return await Queue.EnqueueAsync(new NewQueuedMessage(sender, [.. recipients], blob.Id, blob.Length, RequireTls: requireTls, Return: ret, SmtpUtf8: smtpUtf8)
        {
            Trace = Encoding.ASCII.GetBytes("Received: from client.test by gateway.test with ESMTP; Mon, 7 Dec 2026 01:00:00 +0000\r\n"),
        }, CancellationToken.None);
    }

    public Task<string> EnqueueAsync(string sender, string recipient, string destination, string content, DsnNotify notify = DsnNotify.None) =>
        EnqueueAsync(sender, [new NewQueueRecipient(recipient, destination, notify)], content);

    /// <summary>Polls until the condition holds (events, not sleeps, decide: the condition reads the store or the results).</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException("timed out waiting for " + what);
            }

            await Task.Delay(50);
        }
    }

    public Task WaitForResultsAsync(int count, string what, int seconds = 30) =>
        WaitUntilAsync(() => Task.FromResult(Results.Count >= count), what, seconds);

    public async Task<int> QueuedAsync() => (await Queue.ListAsync(new QueueQuery(Limit: 1000), CancellationToken.None)).Messages.Count;

    public async ValueTask DisposeAsync()
    {
        await Engine.DisposeAsync();
        await Agent.DisposeAsync();
        MtaSts?.Dispose();
        Storage.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
