using System.Globalization;
using Postern.Delivery.Verification;

namespace Postern.Server.Smtp.Tests.EndToEnd;

/// <summary>
/// Recipient verification by RCPT probe against a customer's server we did not write (aiosmtpd), through our
/// SMTP server: what the sender sees at RCPT, and the connections the customer's server sees.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class RecipientProbeEndToEndTests
{
    private const string Known = "known@relay.example.net";

    private static RecipientProbeOptions Options => new()
    {
        LocalHostname = "mx.example.com",
        ConnectTimeout = TimeSpan.FromSeconds(3),
        ProbeTimeout = TimeSpan.FromSeconds(10),
        NegativeCacheTime = TimeSpan.FromHours(1),
        PositiveCacheTime = TimeSpan.FromDays(1),
    };

    private static SmtpServerHarness Server(TimeProvider? clock = null, RecipientProbeOptions? options = null)
    {
        var o = options ?? Options;
        return new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with
        {
            RecipientVerifier = new ProbingRecipientVerifier(new RecipientVerifier(new SmtpRecipientProbe(o), o, clock)),
        });
    }

    private static async Task<SmtpTestClient> TransactionAsync(SmtpServerHarness server)
    {
        var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<sender@remote.test>"), StringComparison.Ordinal);
        return client;
    }

    [Fact]
    public async Task A_known_address_is_accepted_and_an_unknown_one_refused_550_5_1_1_as_the_customers_server_says()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: false, Known);
        await using var server = Server();
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", customer.RelayHost);
        await using var client = await TransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{Known}>"), StringComparison.Ordinal);
        var refused = await client.CommandAsync("RCPT TO:<nobody@relay.example.net>");
        Assert.StartsWith("550 5.1.1", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("virtual mailbox table", refused, StringComparison.Ordinal);

        // The probe used the null sender and never sent a message.
        await customer.WaitForRecipientsAsync(2);
        Assert.Equal(["RCPT known@relay.example.net tls=False from=<>", "RCPT nobody@relay.example.net tls=False from=<>"], customer.Recipients);
    }

    [Fact]
    public async Task A_customers_server_that_is_down_gets_450_not_550()
    {
        await using var server = Server();
        var closed = "127.0.0.1:" + CustomerMailServer.ClosedPort().ToString(CultureInfo.InvariantCulture);
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", closed);
        await using var client = await TransactionAsync(server);

        Assert.StartsWith("450 4.4.1", await client.CommandAsync("RCPT TO:<anyone@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("450 4.4.1", await client.CommandAsync("RCPT TO:<anyone-else@relay.example.net>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_4xx_from_the_customers_server_is_passed_on_as_try_later()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: false, Known);
        await using var server = Server();
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", customer.RelayHost);
        await using var client = await TransactionAsync(server);
        Assert.StartsWith("450 4.3.0", await client.CommandAsync("RCPT TO:<busy@relay.example.net>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_second_question_is_answered_from_the_cache_without_a_new_connection()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: false, Known);
        await using var server = Server();
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", customer.RelayHost);
        for (var session = 0; session < 2; session++)
        {
            await using var client = await TransactionAsync(server);
            Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{Known}>"), StringComparison.Ordinal);
            Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<nobody@relay.example.net>"), StringComparison.Ordinal);
        }

        await customer.WaitForRecipientsAsync(2);
        Assert.Equal(2, customer.Connections);
        Assert.Equal(2, customer.Recipients.Count);
    }

    [Fact]
    public async Task After_the_negative_lifetime_the_customers_server_is_asked_again()
    {
        var clock = new SettableClock();
        await using var customer = await CustomerMailServer.StartAsync(tls: false, Known);
        await using var server = Server(clock);
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", customer.RelayHost);
        await using var client = await TransactionAsync(server);

        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<nobody@relay.example.net>"), StringComparison.Ordinal);
        clock.Advance(TimeSpan.FromMinutes(59));
        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<nobody@relay.example.net>"), StringComparison.Ordinal);
        await customer.WaitForRecipientsAsync(1);
        Assert.Equal(1, customer.Connections);

        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<nobody@relay.example.net>"), StringComparison.Ordinal);
        await customer.WaitForRecipientsAsync(2);
        Assert.Equal(2, customer.Connections);
    }

    [Fact]
    public async Task When_the_first_server_is_down_the_next_by_priority_is_asked()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: false, Known);
        await using var server = Server();
        var closed = "127.0.0.1:" + CustomerMailServer.ClosedPort().ToString(CultureInfo.InvariantCulture) + "/5";
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", closed, customer.RelayHost + "/20");
        await using var client = await TransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{Known}>"), StringComparison.Ordinal);
        await customer.WaitForRecipientsAsync(1);
        Assert.Equal(1, customer.Connections);
    }

    [Fact]
    public async Task A_server_offering_starttls_is_asked_over_tls_whatever_its_certificate()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: true, Known);
        await using var server = Server();
        await RelayRecipientVerificationTests.AddRelayDomainAsync(server, "probe", customer.RelayHost);
        await using var client = await TransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync($"RCPT TO:<{Known}>"), StringComparison.Ordinal);
        await customer.WaitForRecipientsAsync(1);
        Assert.Contains("tls=True", Assert.Single(customer.Recipients), StringComparison.Ordinal);
        Assert.Equal(1, customer.Connections);
    }

    /// <summary>A clock for the cache lifetimes only (the connections keep real time).</summary>
    private sealed class SettableClock : TimeProvider
    {
        private TimeSpan _offset;

        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + _offset;

        public void Advance(TimeSpan by) => _offset += by;
    }
}
