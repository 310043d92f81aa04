using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Server.Smtp.Tests;

/// <summary>
/// What a sender sees at RCPT for addresses of a relay domain that Postern does not list, per the domain's
/// recipient verification setting (accept-all, listed, probe), with a verifier the test controls.
/// </summary>
public sealed class RelayRecipientVerificationTests
{
    public const string RelayDomain = "relay.example.net";

    /// <summary>The standard tenants plus the relay domain (its mail server: 192.0.2.25) in the given mode.</summary>
    internal static async Task AddRelayDomainAsync(SmtpServerHarness server, string mode, params string[] relayHosts)
    {
        await server.AddStandardTenantsAsync();
        await server.Admin.AddDomainAsync(RelayDomain, "Example", DomainKind.Relay, relayHosts.Length == 0 ? ["192.0.2.25:25"] : relayHosts);
        await server.Admin.SetDomainSettingsAsync(RelayDomain, $$"""{"{{DeliverySettings.RecipientVerification}}":"{{mode}}"}""");
    }

    private static async Task<SmtpTestClient> StartTransactionAsync(SmtpServerHarness server)
    {
        var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<sender@remote.test>"), StringComparison.Ordinal);
        return client;
    }

    [Fact]
    public async Task Accept_all_takes_any_address_of_the_relay_domain_and_queues_it_for_the_customers_server()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await AddRelayDomainAsync(server, "accept-all");
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO client.remote.test");
        Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("sender@remote.test", ["anyone@relay.example.net"], "Subject: x\r\n\r\nx"), StringComparison.Ordinal);
        var queued = Assert.Single(await server.QueuedAsync());
        Assert.Equal("anyone@relay.example.net", Assert.Single(queued.Recipients).Address);
    }

    [Fact]
    public async Task Listed_refuses_addresses_postern_does_not_know_with_550_5_1_1_but_always_takes_postmaster()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await AddRelayDomainAsync(server, "listed");
        await server.Admin.AddListAsync("team@relay.example.net", "Team", ListPostingPolicy.Anyone);
        await server.Admin.AddListMemberAsync("team@relay.example.net", "alice@example.com", server.Services.Resolver);
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<stranger@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<Postmaster@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<team@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listed_in_a_domain_that_is_hosted_and_relayed_takes_its_accounts_and_refuses_the_rest()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await server.AddStandardTenantsAsync();
        await server.Admin.AddDomainAsync("both.example.org", "Example", DomainKind.Hosted | DomainKind.Relay, ["192.0.2.25:25"]);
        await server.Admin.SetDomainSettingsAsync("both.example.org", """{"recipientVerification":"listed"}""");
        await server.Admin.AddAccountAsync("carol@both.example.org", "pw", "Carol", 0);
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<carol@both.example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<carol+news@both.example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<dave@both.example.org>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_answers_as_the_customers_server_did_without_quoting_it()
    {
        var verifier = new FakeVerifier
        {
            ["known@relay.example.net"] = new(RecipientCheck.Exists, "accepted"),
            ["gone@relay.example.net"] = new(RecipientCheck.DoesNotExist, "550 5.1.1 <gone@relay.example.net>: secret-internal-table lookup failed"),
        };
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with { RecipientVerifier = verifier });
        await AddRelayDomainAsync(server, "probe");
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<known@relay.example.net>"), StringComparison.Ordinal);
        var refused = await client.CommandAsync("RCPT TO:<gone@relay.example.net>");
        Assert.StartsWith("550 5.1.1", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-internal-table", refused, StringComparison.Ordinal);
        Assert.Equal(["known@relay.example.net", "gone@relay.example.net"], verifier.Asked);
    }

    [Theory]
    [InlineData(true, "450 4.4.1")]
    [InlineData(false, "450 4.3.0")]
    public async Task Probe_answers_try_later_never_550_when_the_customers_server_cannot_say(bool unreachable, string expected)
    {
        var verifier = new FakeVerifier { ["someone@relay.example.net"] = new(RecipientCheck.Unavailable, "connection refused", Unreachable: unreachable) };
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with { RecipientVerifier = verifier });
        await AddRelayDomainAsync(server, "probe");
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith(expected, await client.CommandAsync("RCPT TO:<someone@relay.example.net>"), StringComparison.Ordinal);

        // The transaction goes on for the other recipients.
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<alice@example.com>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_never_asks_about_postmaster_or_addresses_postern_lists()
    {
        var verifier = new FakeVerifier();
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with { RecipientVerifier = verifier });
        await AddRelayDomainAsync(server, "probe");
        await server.Admin.AddListAsync("team@relay.example.net", "Team", ListPostingPolicy.Anyone);
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<postmaster@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<team@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<bob@example.com>"), StringComparison.Ordinal);
        Assert.Empty(verifier.Asked);
    }

    [Fact]
    public async Task Probe_without_a_verifier_configured_accepts_like_accept_all()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx);
        await AddRelayDomainAsync(server, "probe");
        await using var client = await StartTransactionAsync(server);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<anyone@relay.example.net>"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_mode_is_per_domain()
    {
        var verifier = new FakeVerifier();
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, configure: (_, s) => s with { RecipientVerifier = verifier });
        await AddRelayDomainAsync(server, "listed");
        await server.Admin.AddDomainAsync("open.example.net", "Example", DomainKind.Relay, ["192.0.2.26:25"]);
        await using var client = await StartTransactionAsync(server);

        Assert.StartsWith("550 5.1.1", await client.CommandAsync("RCPT TO:<x@relay.example.net>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<x@open.example.net>"), StringComparison.Ordinal);
        Assert.Empty(verifier.Asked);
    }

    private sealed class FakeVerifier : IRecipientVerifier, System.Collections.IEnumerable
    {
        private readonly Dictionary<string, RecipientCheckResult> _answers = new(StringComparer.OrdinalIgnoreCase);

        public List<string> Asked { get; } = [];

        public RecipientCheckResult this[string address]
        {
            set => _answers[address] = value;
        }

        public ValueTask<RecipientCheckResult> VerifyAsync(MailDomain domain, EmailAddress recipient, CancellationToken cancellationToken)
        {
            lock (Asked)
            {
                Asked.Add(recipient.ToString());
            }

            return ValueTask.FromResult(_answers.TryGetValue(recipient.ToString(), out var answer) ? answer : new RecipientCheckResult(RecipientCheck.Exists, "default"));
        }

        public System.Collections.IEnumerator GetEnumerator() => _answers.GetEnumerator();
    }
}
