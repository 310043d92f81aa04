using Postern.Core.Storage.Mailboxes;

namespace Postern.Server.Imap.Tests;

public sealed class FolderIndexCacheTests : IAsyncLifetime
{
    private ImapServerHarness _server = null!;

    public async Task InitializeAsync()
    {
        _server = new ImapServerHarness();
        await _server.AddStandardTenantsAsync();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<(long Account, Folder Inbox)> InboxAsync(string user = "alice@example.com")
    {
        var account = (await _server.Resolver.ResolveAsync(Postern.Primitives.EmailAddress.Parse(user))).AccountId!.Value;
        return (account, (await _server.Storage.Mailboxes.GetFolderAsync(account, "INBOX", default))!);
    }

    private static string Describe(IEnumerable<FlagState> states) =>
        string.Join(";", states.Select(s => $"{s.Uid}:{(int)s.Flags}:{string.Join(',', s.Keywords)}:{s.ModSeq}"));

    [Fact]
    public async Task Each_use_brings_the_index_up_to_date_with_what_other_writers_did()
    {
        for (var i = 0; i < 5; i++)
        {
            await _server.DeliverAsync("alice@example.com", $"Subject: m{i}\r\n\r\nbody\r\n");
        }

        var (account, inbox) = await InboxAsync();
        var store = _server.Storage.Mailboxes;
        var cache = new FolderIndexCache(store);
        var first = await cache.GetAsync(account, inbox.FolderId, default);
        Assert.Equal([1L, 2, 3, 4, 5], first!.States.Select(s => s.Uid));
        Assert.Same(first, await cache.GetAsync(account, inbox.FolderId, default));

        await store.StoreFlagsAsync(account, inbox.FolderId, [2, 4], new FlagChange(FlagChangeMode.Add, MessageFlags.Seen, ["$Work"]), null, default);
        await store.ExpungeAsync(account, inbox.FolderId, [3], onlyDeleted: false, default);
        await _server.DeliverAsync("alice@example.com", "Subject: m5\r\n\r\nbody\r\n");

        var updated = await cache.GetAsync(account, inbox.FolderId, default);
        Assert.NotSame(first, updated);
        Assert.Equal(Describe(await store.ListFlagsAsync(account, inbox.FolderId, null, default)), Describe(updated!.States));
        Assert.Equal([1L, 2, 4, 5, 6], updated.States.Select(s => s.Uid));
        Assert.Equal([4L, 5], updated.Range(3, 5).Select(s => s.Uid));
        Assert.Null(updated.Find(3));
    }

    [Fact]
    public async Task Another_accounts_folder_is_not_served_and_the_cap_evicts_the_least_recently_used()
    {
        await _server.DeliverAsync("alice@example.com", "Subject: a\r\n\r\nbody\r\n");
        await _server.DeliverAsync("bob@example.com", "Subject: b\r\n\r\nbody\r\n");
        var (alice, aliceInbox) = await InboxAsync();
        var (bob, bobInbox) = await InboxAsync("bob@example.com");
        var cache = new FolderIndexCache(_server.Storage.Mailboxes, maxMessages: 1);

        Assert.Null(await cache.GetAsync(bob, aliceInbox.FolderId, default));
        var a = await cache.GetAsync(alice, aliceInbox.FolderId, default);
        Assert.NotNull(await cache.GetAsync(bob, bobInbox.FolderId, default));

        // alice's index was evicted to make room: the next use reads the folder again
        Assert.NotSame(a, await cache.GetAsync(alice, aliceInbox.FolderId, default));
    }
}
