using Postern.Delivery.Srs;

namespace Postern.Server.Smtp.Tests;

/// <summary>Bounces to SRS addresses across a rotation of the secrets, while the server runs.</summary>
public sealed class SrsRotationTests
{
    [Fact]
    public async Task After_a_rotation_keeping_one_a_bounce_to_the_previous_secret_still_returns_and_one_to_a_dropped_secret_is_refused()
    {
        SrsKeyHolder? keys = null;
        SrsKeyProvider? provider = null;
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (h, s) =>
        {
            provider = new SrsKeyProvider(h.Storage.KeyValue);
            keys = new SrsKeyHolder(provider.GetOrCreateAsync(default).GetAwaiter().GetResult());
            return s with { Srs = new SrsRewriter(new SrsOptions { Domain = "mx.example.com" }, keys) };
        });
        await server.AddStandardTenantsAsync();
        var srs = server.Services.Srs!;
        var signedWithFirst = srs.Forward("carol@origin.test").Address;

        // Rotation keeping one: the first secret verifies, the new one signs.
        await provider!.RotateAsync(keepPrevious: 1, default);
        Assert.True(await provider.RefreshAsync(keys!, default));
        var signedWithSecond = srs.Forward("dave@origin.test").Address;
        Assert.NotEqual(signedWithFirst.Split('=')[1], srs.Forward("carol@origin.test").Address.Split('=')[1]);

        await using (var client = await server.ConnectAsync())
        {
            await client.CommandAsync("EHLO bounces.remote.test");
            Assert.StartsWith("250 2.0.0", await client.SendMessageAsync(string.Empty, [signedWithFirst], "Subject: Undelivered Mail\r\n\r\nbounce"), StringComparison.Ordinal);
        }

        var bounce = Assert.Single(await server.QueuedAsync());
        Assert.Equal((string.Empty, "carol@origin.test"), (bounce.ReversePath, Assert.Single(bounce.Recipients).Address));

        // Another rotation keeping one drops the first secret: its addresses are refused, the second's still work.
        await provider.RotateAsync(keepPrevious: 1, default);
        Assert.True(await provider.RefreshAsync(keys!, default));
        await using (var client = await server.ConnectAsync())
        {
            await client.CommandAsync("EHLO bounces.remote.test");
            await client.CommandAsync("MAIL FROM:<>");
            var refused = await client.CommandAsync($"RCPT TO:<{signedWithFirst}>");
            Assert.StartsWith("550 5.1.1", refused, StringComparison.Ordinal);
            Assert.Contains("matches none of our secrets", refused, StringComparison.Ordinal);
            Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{signedWithSecond}>"), StringComparison.Ordinal);
        }

        // Nothing changed in the store: nothing to refresh.
        Assert.False(await provider.RefreshAsync(keys!, default));
    }
}
