using System.Text;
using Postern.Delivery.Srs;
using Postern.Storage.Sqlite.KeyValue;

namespace Postern.Delivery.Tests;

public sealed class SrsKeyProviderTests : IDisposable
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-srs-" + Guid.NewGuid().ToString("N"));
    private readonly SqliteKeyValueStore _store;

    public SrsKeyProviderTests() => _store = SqliteKeyValueStore.Open(_folder);

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task The_secret_is_created_once_and_shared()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => new SrsKeyProvider(_store).GetOrCreateAsync(Ct))));
        var secret = Assert.Single(results[0].Secrets);
        Assert.All(results, r => Assert.Equal(secret, Assert.Single(r.Secrets)));
        Assert.Equal(32, Convert.FromBase64String(secret).Length);

        using var reopened = SqliteKeyValueStore.Open(_folder);
        Assert.Equal(secret, Assert.Single((await new SrsKeyProvider(reopened).GetOrCreateAsync(Ct)).Secrets));
    }

    [Fact]
    public async Task Rotation_puts_a_new_signer_first_and_keeps_the_old_for_verification()
    {
        var provider = new SrsKeyProvider(_store);
        var first = await provider.GetOrCreateAsync(Ct);
        var clock = new ManualClock();
        var oldAddress = new SrsRewriter(Srs.Options, first, clock).Forward("h@example.org").Address;

        var rotated = await provider.RotateAsync(keepPrevious: 1, Ct);
        Assert.Equal(2, rotated.Secrets.Count);
        Assert.Equal(first.Secrets[0], rotated.Secrets[1]);
        Assert.True(new SrsRewriter(Srs.Options, rotated, clock).Reverse(oldAddress).IsValid);

        var again = await provider.RotateAsync(keepPrevious: 1, Ct);
        Assert.Equal(rotated.Secrets[0], again.Secrets[1]);
        Assert.Equal(SrsReverseStatus.BadHash, new SrsRewriter(Srs.Options, again, clock).Reverse(oldAddress).Status);
        Assert.Equal(again.Secrets, (await provider.GetOrCreateAsync(Ct)).Secrets);
    }

    [Fact]
    public async Task An_existing_postsrsd_secret_can_be_imported()
    {
        var provider = new SrsKeyProvider(_store);
        var own = await provider.GetOrCreateAsync(Ct);
        var verifying = await provider.AddSecretAsync("the-old-postsrsd-secret", useForSigning: false, Ct);
        Assert.Equal([own.Secrets[0], "the-old-postsrsd-secret"], verifying.Secrets);
        var signing = await provider.AddSecretAsync("the-old-postsrsd-secret", useForSigning: true, Ct);
        Assert.Equal(["the-old-postsrsd-secret", own.Secrets[0]], signing.Secrets);

        var stored = await _store.GetAsync(SrsKeyProvider.StoreKey, Ct);
        Assert.Equal("the-old-postsrsd-secret\n" + own.Secrets[0], Encoding.UTF8.GetString(stored!.Value.Span));
    }
}
