namespace Postern.Server.Smtp.Tests;

/// <summary>
/// No open relay, ever: an unauthenticated client may send only to our own domains. Each row is a trick
/// relay testers (and spammers) have used against real MTAs; every one must be refused at RCPT, and
/// nothing may ever reach the delivery queue.
/// </summary>
public sealed class RelayControlTests
{
    public static TheoryData<string> RelayAttempts => new()
    {
        "victim@remote.test",
        "VICTIM@REMOTE.TEST",
        "victim%remote.test@example.com",
        "victim%remote.test@[127.0.0.1]",
        "remote.test!victim@example.com",
        "remote.test!victim",
        "@example.com:victim@remote.test",
        "@example.com,@mx.example.com:victim@remote.test",
        "\"victim@remote.test\"@example.com",
        "\"victim%remote.test\"@example.com",
        "victim@remote.test.",
        "victim@example.com.remote.test",
        "victim@EXAMPLE.COM.remote.test",
        "victim@remote.test@example.com",
        "victim@[127.0.0.1]",
        "victim@[192.0.2.1]",
        "victim@[IPv6:::1]",
        "victim@127.0.0.1",
        "victim@localhost",
        "victim@exаmple.com",
        "victim@xn--exmple-4nf.com",
        "victim@example.com%remote.test",
        "victim@remote.test%example.com",
        "victim@.example.com",
        "victim@example..com",
        "victim@remote.test:25",
        "postmaster@remote.test",
        "victim@remote.test>\r\nRCPT TO:<other@remote.test",
        "victim@remote.test?example.com",
    };

    [Theory]
    [MemberData(nameof(RelayAttempts))]
    public async Task An_unauthenticated_client_cannot_relay(string recipient)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        Assert.StartsWith("250", await client.CommandAsync("EHLO client.remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<spammer@remote.test>"), StringComparison.Ordinal);
        var reply = await client.CommandAsync($"RCPT TO:<{recipient}>");
        Assert.Matches("^5[0-9][0-9] 5\\.[0-9]\\.[0-9]+ ", reply);

        // The client goes on as if it had been accepted: the message must go nowhere.
        var data = await client.CommandAsync("DATA");
        Assert.StartsWith("5", data, StringComparison.Ordinal);
        Assert.Equal(0, await server.QueuedRecipientsAsync());
    }

    [Fact]
    public async Task A_failed_login_or_starttls_does_not_open_the_relay()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, new SmtpPolicy { AuthOnMx = true, MxGreetingDelay = TimeSpan.Zero });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        await client.StartTlsAsync();
        var ehlo = await client.CommandAsync("EHLO client.remote.test");
        Assert.Contains("AUTH PLAIN LOGIN", ehlo, StringComparison.Ordinal);
        var plain = Convert.ToBase64String("\0alice@example.com\0wrong"u8.ToArray());
        Assert.StartsWith("535 5.7.8", await client.CommandAsync("AUTH PLAIN " + plain), StringComparison.Ordinal);
        await client.CommandAsync("MAIL FROM:<alice@example.com>");
        Assert.StartsWith("554 5.7.1", await client.CommandAsync("RCPT TO:<victim@remote.test>"), StringComparison.Ordinal);
        Assert.Equal(0, await server.QueuedRecipientsAsync());
    }

    [Fact]
    public async Task Our_own_domains_are_accepted_whatever_their_case()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        var reply = await client.SendMessageAsync("someone@remote.test", ["ALICE@Example.COM", "al@example.com"], "Subject: hi\r\n\r\nhello");
        Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
        Assert.Equal(2, (await server.InboxAsync("alice@example.com")).Count);
        Assert.Equal(0, await server.QueuedRecipientsAsync());
    }

    [Fact]
    public async Task The_mx_listener_does_not_offer_auth_unless_configured()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        await client.StartTlsAsync();
        Assert.DoesNotContain("AUTH", await client.CommandAsync("EHLO client.remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("502 5.5.1", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.com\0alice-pw"u8.ToArray())), StringComparison.Ordinal);
    }
}
