using System.Text;
using Microsoft.Data.Sqlite;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;
using Postern.Tenants;

namespace Postern.Mailboxes.Tests;

public sealed class LocalDeliveryTests : IDisposable
{
    private const string Body = "From: sender@remote.test\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nHi!\r\n";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-lda-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteDirectoryStore _directory;
    private readonly EmbeddedStorage _storage;
    private readonly DirectoryService _admin;
    private readonly RecipientResolver _resolver;
    private readonly FakeDisk _disk = new();
    private readonly LocalDeliveryService _delivery;

    public LocalDeliveryTests()
    {
        Directory.CreateDirectory(_folder);
        _directory = SqliteDirectoryStore.Open(_folder);
        _storage = EmbeddedStorage.Open(_folder);
        _admin = new DirectoryService(_directory, new PlainHasher(), new DirectoryServiceOptions { MinimumPasswordLength = 1 });
        _resolver = new RecipientResolver(_directory, new RecipientResolverOptions { ChangePollInterval = TimeSpan.Zero });
        _delivery = new LocalDeliveryService(_resolver, _directory, _storage.Blobs, _storage.Mailboxes, new LocalDeliveryOptions("mx.example.com"),
            new DiskSpaceGuard(_disk, _folder, 100 * 1024 * 1024));
    }

    public void Dispose()
    {
        _storage.Dispose();
        _directory.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    private async Task SetUpAsync()
    {
        await _admin.AddCustomerAsync("Example", null);
        await _admin.AddDomainAsync("example.com", "Example", DomainKind.Hosted, []);
        await _admin.AddAccountAsync("alice@example.com", "pw", "Alice", 0);
        await _admin.AddAccountAsync("bob@example.com", "pw", "Bob", 0);
    }

    private async Task<BlobInfo> SpoolAsync(string body = Body)
    {
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(body));
        return await _delivery.SpoolAsync(stream, stream.Length, default);
    }

    private static DeliveryEnvelope Envelope => new("sender@remote.test", "ESMTPS", "client.remote.test", System.Net.IPAddress.Parse("::ffff:192.0.2.10"), null, "QID123");

    private async Task<string> ReadStoredAsync(StoredCopy copy)
    {
        var message = await _storage.Mailboxes.GetMessageAsync(copy.AccountId, copy.FolderId, copy.Uid, default);
        Assert.NotNull(message);
        await using var blob = await _storage.Blobs.OpenReadAsync(message.Blob, default);
        using var reader = new StreamReader(blob!);
        var whole = Encoding.UTF8.GetString(message.HeaderPrefix.Span) + await reader.ReadToEndAsync();
        Assert.Equal(Encoding.UTF8.GetByteCount(whole), message.Size);
        return whole;
    }

    [Fact]
    public async Task A_message_lands_in_the_inbox_with_its_trace_header_fields()
    {
        await SetUpAsync();
        var blob = await SpoolAsync();
        var result = await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("Alice@Example.com"), default);
        Assert.Equal(LocalDeliveryStatus.Delivered, result.Status);
        var copy = Assert.Single(result.Copies);
        var folder = await _storage.Mailboxes.GetFolderAsync(copy.AccountId, copy.FolderId, default);
        Assert.Equal("INBOX", folder!.Name);
        var text = await ReadStoredAsync(copy);
        Assert.StartsWith("Return-Path: <sender@remote.test>\r\nDelivered-To: alice@example.com\r\nReceived: from client.remote.test ([192.0.2.10])\r\n\tby mx.example.com (Postern) with ESMTPS id QID123\r\n\tfor <Alice@example.com>; ", text, StringComparison.Ordinal);
        Assert.EndsWith("\r\n" + Body, text, StringComparison.Ordinal);
        Assert.Matches(@"; [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n", text);
    }

    [Fact]
    public async Task A_list_shares_one_blob_and_each_mailbox_gets_one_copy()
    {
        await SetUpAsync();
        await _admin.AddAliasAsync("a@example.com", "alice@example.com");
        await _admin.AddListAsync("team@example.com", null, ListPostingPolicy.Anyone);
        foreach (var member in new[] { "alice@example.com", "a@example.com", "bob@example.com", "partner@elsewhere.test" })
        {
            await _admin.AddListMemberAsync("team@example.com", member, _resolver);
        }

        var blob = await SpoolAsync();
        var result = await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("team@example.com"), default);
        Assert.Equal(LocalDeliveryStatus.Delivered, result.Status);
        Assert.Equal(2, result.Copies.Count);
        Assert.Equal("partner@elsewhere.test", Assert.Single(result.Remote).ToString());
        var stored = new List<string>();
        foreach (var copy in result.Copies)
        {
            stored.Add(await ReadStoredAsync(copy));
            var message = await _storage.Mailboxes.GetMessageAsync(copy.AccountId, copy.FolderId, copy.Uid, default);
            Assert.Equal(blob.Id, message!.Blob);
        }

        Assert.Contains(stored, s => s.Contains("Delivered-To: alice@example.com\r\n", StringComparison.Ordinal));
        Assert.Contains(stored, s => s.Contains("Delivered-To: bob@example.com\r\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Unknown_foreign_and_disabled_recipients_are_told_apart()
    {
        await SetUpAsync();
        await _admin.SetDisabledAsync("bob@example.com", true);
        var blob = await SpoolAsync();
        Assert.Equal(LocalDeliveryStatus.UnknownRecipient, (await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("nobody@example.com"), default)).Status);
        Assert.Equal(LocalDeliveryStatus.NotLocal, (await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("someone@elsewhere.test"), default)).Status);
        Assert.Equal(LocalDeliveryStatus.AccountDisabled, (await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("bob@example.com"), default)).Status);
    }

    [Fact]
    public async Task Account_and_domain_quotas_refuse_without_storing()
    {
        await SetUpAsync();
        await _admin.SetQuotaAsync("alice@example.com", 1);
        var big = await SpoolAsync(Body + new string('x', 1024 * 1024));
        var refused = await _delivery.DeliverAsync(big, Envelope, EmailAddress.Parse("alice@example.com"), default);
        Assert.Equal(LocalDeliveryStatus.OverQuota, refused.Status);
        Assert.Empty(refused.Copies);
        var (alice, _) = await _admin.RequireAccountAsync("alice@example.com");
        Assert.Equal(0, (await _storage.Mailboxes.GetAccountUsageAsync(alice.Id, default)).Messages);

        var small = await SpoolAsync();
        Assert.Equal(LocalDeliveryStatus.Delivered, (await _delivery.DeliverAsync(small, Envelope, EmailAddress.Parse("alice@example.com"), default)).Status);

        await _admin.SetDomainQuotaAsync("example.com", 1);
        Assert.Equal(LocalDeliveryStatus.OverQuota, (await _delivery.DeliverAsync(big, Envelope, EmailAddress.Parse("bob@example.com"), default)).Status);
    }

    [Fact]
    public async Task Below_the_free_space_floor_new_mail_is_refused_temporarily()
    {
        await SetUpAsync();
        var blob = await SpoolAsync();
        _disk.Available = 10 * 1024 * 1024;
        Assert.Equal(LocalDeliveryStatus.StorageFull, (await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("alice@example.com"), default)).Status);
        await Assert.ThrowsAsync<StoreFullException>(() => SpoolAsync());
        _disk.Available = long.MaxValue / 2;
        Assert.Equal(LocalDeliveryStatus.Delivered, (await _delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse("alice@example.com"), default)).Status);
    }

    [Fact]
    public async Task Forwarding_without_a_copy_stores_nothing_locally()
    {
        await SetUpAsync();
        await _admin.SetForwardAsync("bob@example.com", ["bob@home.test"], keepCopy: false);
        var result = await _delivery.DeliverAsync(await SpoolAsync(), Envelope, EmailAddress.Parse("bob@example.com"), default);
        Assert.Equal(LocalDeliveryStatus.Delivered, result.Status);
        Assert.Empty(result.Copies);
        Assert.Equal("bob@home.test", Assert.Single(result.Remote).ToString());
    }

    private const string HtmlBody = "From: =?utf-8?q?J=C3=B6rg?= <joerg@remote.test>\r\nTo: alice@example.com, bob@example.com\r\n" +
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <m1@remote.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
        "<html><body><p>Meet at the <b>lighthouse</b> tonight</p></body></html>\r\n";

    [Fact]
    public async Task Delivered_mail_is_searchable_by_its_html_text_and_carries_a_summary()
    {
        await SetUpAsync();
        var counting = new CountingBlobs(_storage.Blobs);
        var delivery = new LocalDeliveryService(_resolver, _directory, counting, _storage.Mailboxes, new LocalDeliveryOptions("mx.example.com"));
        var blob = await SpoolAsync(HtmlBody);
        var copies = new List<StoredCopy>();
        foreach (var rcpt in new[] { "alice@example.com", "bob@example.com" })
        {
            var result = await delivery.DeliverAsync(blob, Envelope, EmailAddress.Parse(rcpt), default);
            copies.Add(Assert.Single(result.Copies));
        }

        Assert.Equal(1, counting.Opens);
        foreach (var copy in copies)
        {
            Assert.Equal([copy.Uid], await _storage.Mailboxes.SearchTextAsync(copy.AccountId, copy.FolderId, "lighthouse", default));
            Assert.Equal([copy.Uid], await _storage.Mailboxes.SearchTextAsync(copy.AccountId, copy.FolderId, "Jörg", default));
            Assert.Empty((await _storage.Mailboxes.SearchTextAsync(copy.AccountId, copy.FolderId, "<b>", default))!);
            var stored = await _storage.Mailboxes.GetMessageAsync(copy.AccountId, copy.FolderId, copy.Uid, default);
            var summary = Postern.Mime.Views.MessageSummary.FromJson(stored!.Summary);
            Assert.NotNull(summary);
            Assert.Equal("Grüße", summary.Subject);
            Assert.Equal("m1@remote.test", summary.MessageId);
            Assert.Equal(new Postern.Mime.Views.SummaryAddress("joerg", "remote.test", "Jörg"), summary.FirstFrom);
            Assert.StartsWith("(\"text\" \"html\" (\"CHARSET\" \"utf-8\")", summary.BodyStructure, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Messages_over_the_index_limit_are_delivered_without_an_index()
    {
        await SetUpAsync();
        var delivery = new LocalDeliveryService(_resolver, _directory, _storage.Blobs, _storage.Mailboxes, new LocalDeliveryOptions("mx.example.com") { MaxIndexedBytes = 100 });
        var result = await delivery.DeliverAsync(await SpoolAsync(HtmlBody), Envelope, EmailAddress.Parse("alice@example.com"), default);
        var copy = Assert.Single(result.Copies);
        Assert.Null((await _storage.Mailboxes.GetMessageAsync(copy.AccountId, copy.FolderId, copy.Uid, default))!.Summary);

        // not indexed, so the index cannot rule it out: a search always reads it
        Assert.Equal([copy.Uid], await _storage.Mailboxes.SearchTextAsync(copy.AccountId, copy.FolderId, "lighthouse", default));
    }

    [Fact]
    public void Dates_are_rfc_5322()
    {
        var when = new DateTimeOffset(2026, 3, 8, 4, 5, 6, TimeSpan.FromMinutes(-150));
        Assert.Equal("Sun, 08 Mar 2026 04:05:06 -0230", LocalDeliveryService.Rfc5322Date(when));
    }

    /// <summary>Counts how often message bodies are opened.</summary>
    private sealed class CountingBlobs(IBlobStore inner) : IBlobStore
    {
        public int Opens { get; private set; }

        public Task<BlobInfo> WriteAsync(Stream content, CancellationToken cancellationToken) => inner.WriteAsync(content, cancellationToken);

        public Task<Stream?> OpenReadAsync(BlobId id, CancellationToken cancellationToken)
        {
            Opens++;
            return inner.OpenReadAsync(id, cancellationToken);
        }

        public Task<Stream?> OpenReadAsync(BlobId id, long offset, long? length, CancellationToken cancellationToken)
        {
            Opens++;
            return inner.OpenReadAsync(id, offset, length, cancellationToken);
        }

        public Task<long?> GetLengthAsync(BlobId id, CancellationToken cancellationToken) => inner.GetLengthAsync(id, cancellationToken);

        public Task<bool> ExistsAsync(BlobId id, CancellationToken cancellationToken) => inner.ExistsAsync(id, cancellationToken);

        public Task<bool> DeleteAsync(BlobId id, CancellationToken cancellationToken) => inner.DeleteAsync(id, cancellationToken);

        public Task<BlobCollectionResult> CollectGarbageAsync(DateTimeOffset now, TimeSpan gracePeriod, CancellationToken cancellationToken) =>
            inner.CollectGarbageAsync(now, gracePeriod, cancellationToken);
    }

    private sealed class FakeDisk : IDiskSpaceProbe
    {
        public long Available { get; set; } = long.MaxValue / 2;

        public long GetAvailableBytes(string path) => Available;
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
