using System.Text;
using Postern.Core.Storage.KeyValue;

namespace Postern.Storage.Conformance.Mail;

/// <summary>What every <see cref="IKeyValueStore"/> must do.</summary>
public abstract class KeyValueStoreContract : StorageContract
{
    private IKeyValueStore Kv => Storage.KeyValue;

    [Fact]
    public async Task A_value_is_readable_until_it_expires_and_purge_removes_it()
    {
        var expires = Time.GetUtcNow() + TimeSpan.FromMinutes(10);
        await Kv.SetAsync("verify:b@example.net", "250"u8.ToArray(), expires, Ct);
        await Kv.SetAsync("srs:key", "secret"u8.ToArray(), null, Ct);

        var live = await Kv.GetAsync("verify:b@example.net", Ct);
        Assert.Equal("250"u8.ToArray(), live!.Value.ToArray());
        Assert.Equal(expires, live.ExpiresAt);

        Time.Advance(TimeSpan.FromMinutes(10));
        Assert.Null(await Kv.GetAsync("verify:b@example.net", Ct));
        Assert.Equal(1, await Kv.PurgeExpiredAsync(Ct));
        Assert.Equal(0, await Kv.PurgeExpiredAsync(Ct));
        Assert.Equal("secret"u8.ToArray(), (await Kv.GetAsync("srs:key", Ct))!.Value.ToArray());
    }

    [Fact]
    public async Task A_counter_keeps_its_window_and_starts_again_after_it()
    {
        var window = Time.GetUtcNow() + TimeSpan.FromMinutes(1);
        Assert.Equal(1, await Kv.IncrementAsync("auth-fail:192.0.2.1", 1, window, Ct));
        Time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(3, await Kv.IncrementAsync("auth-fail:192.0.2.1", 2, Time.GetUtcNow() + TimeSpan.FromMinutes(1), Ct));
        Assert.Equal(window, (await Kv.GetAsync("auth-fail:192.0.2.1", Ct))!.ExpiresAt);

        Time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, await Kv.IncrementAsync("auth-fail:192.0.2.1", 1, Time.GetUtcNow() + TimeSpan.FromMinutes(1), Ct));
    }

    [Fact]
    public async Task Concurrent_increments_are_all_counted()
    {
        await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() => Kv.IncrementAsync("rate:client", 1, null, Ct))));

        Assert.Equal("40", Encoding.ASCII.GetString((await Kv.GetAsync("rate:client", Ct))!.Value.Span));
    }

    [Fact]
    public async Task Incrementing_a_value_that_is_not_a_counter_fails()
    {
        await Kv.SetAsync("name", "not a number"u8.ToArray(), null, Ct);

        await Assert.ThrowsAsync<InvalidOperationException>(() => Kv.IncrementAsync("name", 1, null, Ct));
    }

    [Fact]
    public async Task Compare_and_set_writes_only_over_the_expected_version()
    {
        Assert.True(await Kv.CompareAndSetAsync("lock", 0, "a"u8.ToArray(), null, Ct));
        Assert.False(await Kv.CompareAndSetAsync("lock", 0, "b"u8.ToArray(), null, Ct));
        var current = await Kv.GetAsync("lock", Ct);

        Assert.False(await Kv.CompareAndSetAsync("lock", current!.Version + 1, "c"u8.ToArray(), null, Ct));
        Assert.True(await Kv.CompareAndSetAsync("lock", current.Version, "d"u8.ToArray(), null, Ct));
        var after = await Kv.GetAsync("lock", Ct);
        Assert.Equal("d"u8.ToArray(), after!.Value.ToArray());
        Assert.True(after.Version > current.Version);
    }

    [Fact]
    public async Task Compare_and_set_treats_an_expired_key_as_absent()
    {
        await Kv.SetAsync("lease", "old"u8.ToArray(), Time.GetUtcNow() + TimeSpan.FromSeconds(5), Ct);
        Assert.False(await Kv.CompareAndSetAsync("lease", 0, "new"u8.ToArray(), null, Ct));

        Time.Advance(TimeSpan.FromSeconds(5));

        Assert.True(await Kv.CompareAndSetAsync("lease", 0, "new"u8.ToArray(), null, Ct));
        Assert.Equal("new"u8.ToArray(), (await Kv.GetAsync("lease", Ct))!.Value.ToArray());
    }

    [Fact]
    public async Task Delete_removes_a_key()
    {
        await Kv.SetAsync("k", "v"u8.ToArray(), null, Ct);

        Assert.True(await Kv.DeleteAsync("k", Ct));
        Assert.False(await Kv.DeleteAsync("k", Ct));
        Assert.Null(await Kv.GetAsync("k", Ct));
    }
}
