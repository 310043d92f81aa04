using Postern.Delivery.Srs;
using Postern.Storage.Sqlite.KeyValue;

namespace Postern.Delivery.Tests;

/// <summary>A rewriter whose secrets change under it: a rotation in the store reaches it through the holder.</summary>
public sealed class SrsKeyHolderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-srs-holder-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteKeyValueStore _store;

    public SrsKeyHolderTests() => _store = SqliteKeyValueStore.Open(_folder);

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_rotation_elsewhere_reaches_the_running_rewriter_on_refresh()
    {
        var clock = new ManualClock();
        var provider = new SrsKeyProvider(_store);
        var holder = new SrsKeyHolder(await provider.GetOrCreateAsync(default));
        var rewriter = new SrsRewriter(Srs.Options, holder, clock);
        var before = rewriter.Forward("h@example.org").Address;

        // Another process (postern srs rotate) changes the store: nothing changes until the refresh.
        await new SrsKeyProvider(_store).RotateAsync(keepPrevious: 0, default);
        Assert.Equal(before, rewriter.Forward("h@example.org").Address);
        Assert.True(await provider.RefreshAsync(holder, default));

        var after = rewriter.Forward("h@example.org").Address;
        Assert.NotEqual(before, after);
        Assert.True(rewriter.Reverse(after).IsValid);
        Assert.Equal(SrsReverseStatus.BadHash, rewriter.Reverse(before).Status);
        Assert.Contains("no longer kept", rewriter.Reverse(before).Reason, StringComparison.Ordinal);
        Assert.Same(holder.Current, rewriter.Keys);
    }

    [Fact]
    public async Task Nothing_stored_and_unchanged_secrets_leave_the_holder_as_it_is()
    {
        var provider = new SrsKeyProvider(_store);
        var holder = new SrsKeyHolder(new SrsKeyRing(["in-force"]));
        Assert.Null(await provider.GetAsync(default));
        Assert.False(await provider.RefreshAsync(holder, default));
        Assert.Equal(["in-force"], holder.Current.Secrets);

        await provider.AddSecretAsync("in-force", useForSigning: true, default);
        var ring = holder.Current;
        Assert.False(await provider.RefreshAsync(holder, default));
        Assert.Same(ring, holder.Current);
    }
}
