using Postern.Protocols.Smtp.Session;

namespace Postern.Server.Smtp.Tests;

/// <summary>Submission: who may send as whom, and what the Received field tells.</summary>
public sealed class SubmissionTests
{
    private static SmtpSessionOptions Session => new() { Hostname = "mx.example.com" };

    private static async Task<SmtpTestClient> LoggedInAsync(SmtpServerHarness server, string user = "alice@example.com", string password = "alice-pw")
    {
        var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"\0{user}\0{password}"));
        Assert.StartsWith("235 2.7.0", await client.CommandAsync("AUTH PLAIN " + plain), StringComparison.Ordinal);
        return client;
    }

    [Theory]
    [InlineData("alice@example.com")]
    [InlineData("ALICE@EXAMPLE.COM")]
    [InlineData("al@example.com")]
    [InlineData("")]
    public async Task A_user_may_send_as_her_address_her_aliases_and_the_null_sender(string sender)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await using var client = await LoggedInAsync(server);
        var from = sender.Length == 0 ? "alice@example.com" : sender;
        var reply = await client.SendMessageAsync(sender, ["bob@example.com"], $"From: Alice <{from}>\r\nSubject: hi\r\n\r\nhello");
        Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
        Assert.Single(await server.InboxAsync("bob@example.com"));
    }

    [Theory]
    [InlineData("bob@example.com")]
    [InlineData("ceo@bank.test")]
    [InlineData("alice@example.com.evil.test")]
    public async Task Another_envelope_sender_is_refused_553_5_7_1(string sender)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await using var client = await LoggedInAsync(server);
        Assert.StartsWith("553 5.7.1", await client.CommandAsync($"MAIL FROM:<{sender}>"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("From: Bob <bob@example.com>")]
    [InlineData("From: alice@example.com, bob@example.com")]
    [InlineData("From: \"alice@example.com\" <ceo@bank.test>")]
    [InlineData("from:   Someone\r\n <boss@remote.test>")]
    [InlineData("From: undisclosed")]
    public async Task A_from_field_naming_someone_else_is_refused_553_5_7_1(string fromField)
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await using var client = await LoggedInAsync(server);
        var reply = await client.SendMessageAsync("alice@example.com", ["bob@example.com"], $"{fromField}\r\nSubject: hi\r\n\r\nhello");
        Assert.StartsWith("553 5.7.1", reply, StringComparison.Ordinal);
        Assert.Empty(await server.InboxAsync("bob@example.com"));
    }

    [Fact]
    public async Task Mail_for_other_domains_goes_to_the_queue_only_for_authenticated_users()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await using (var anonymous = await server.ConnectAsync())
        {
            await anonymous.CommandAsync("EHLO laptop.example.com");
            Assert.StartsWith("530 5.7.0", await anonymous.CommandAsync("MAIL FROM:<alice@example.com>"), StringComparison.Ordinal);
        }

        await using var client = await LoggedInAsync(server);
        var reply = await client.SendMessageAsync("alice@example.com", ["friend@remote.test"], "From: alice@example.com\r\nSubject: out\r\n\r\nhello");
        Assert.StartsWith("250 2.0.0", reply, StringComparison.Ordinal);
        Assert.Equal(1, await server.QueuedRecipientsAsync());
    }

    [Fact]
    public async Task The_received_field_names_the_tls_version_and_cipher_and_the_user_only_when_configured()
    {
        foreach (var showUser in new[] { false, true })
        {
            await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, new SmtpPolicy { ReceivedShowsAuthenticatedUser = showUser }, session: Session);
            await server.AddStandardTenantsAsync();
            await using var client = await LoggedInAsync(server);
            Assert.StartsWith("250", await client.SendMessageAsync("alice@example.com", ["bob@example.com"], "From: alice@example.com\r\nSubject: hi\r\n\r\nhello"), StringComparison.Ordinal);
            var stored = Assert.Single(await server.InboxAsync("bob@example.com"));
            Assert.Matches(@"\(using TLSv1\.[23] with cipher TLS_[A-Z0-9_]+\)", stored);
            Assert.Contains("with ESMTPSA id ", stored, StringComparison.Ordinal);
            Assert.Equal(showUser, stored.Contains("(Authenticated sender: alice@example.com)", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Unknown_users_and_wrong_passwords_get_the_same_reply()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        var wrong = await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.com\0nope"u8.ToArray()));
        var unknown = await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0nobody@example.com\0nope"u8.ToArray()));
        var authzid = await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("bob@example.com\0alice@example.com\0alice-pw"u8.ToArray()));
        Assert.StartsWith("535 5.7.8", wrong, StringComparison.Ordinal);
        Assert.Equal(wrong, unknown);
        Assert.Equal(wrong, authzid);
    }

    [Fact]
    public async Task Dsn_parameters_and_requiretls_reach_the_queue_for_remote_and_relay_domain_recipients()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session with { RequireTls = true });
        await server.AddStandardTenantsAsync();
        await server.Admin.AddDomainAsync("relay.example.net", "Example", Core.Tenants.DomainKind.Relay, ["mail.customer.test:2525"]);
        await using var client = await LoggedInAsync(server);
        Assert.Contains("REQUIRETLS", await client.CommandAsync("EHLO laptop.example.com"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("MAIL FROM:<alice@example.com> RET=HDRS ENVID=QQ+2B1 REQUIRETLS"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<friend@remote.test> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;friend+2Bold@remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<someone@relay.example.net> NOTIFY=NEVER"), StringComparison.Ordinal);
        Assert.StartsWith("354", await client.CommandAsync("DATA"), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0", await client.CommandAsync("From: alice@example.com\r\nSubject: dsn\r\n\r\nhello\r\n."), StringComparison.Ordinal);

        var queued = Assert.Single(await server.QueuedAsync());
        Assert.Equal("alice@example.com", queued.ReversePath);
        Assert.Equal("QQ+1", queued.EnvelopeId);
        Assert.Equal(Core.Storage.Queue.DsnReturn.Headers, queued.Return);
        Assert.True(queued.RequireTls);
        var trace = System.Text.Encoding.UTF8.GetString(queued.Trace.Span);
        Assert.Matches(@"^Received: from laptop\.example\.com \(localhost \[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher [A-Z0-9_]+\)\r\n\tby mx\.example\.com \(Postern\) with ESMTPSA id [0-9A-Z]+; [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} [0-9:]{8} [+-]\d{4}\r\n$", trace);
        var remote = Assert.Single(queued.Recipients, r => r.Address == "friend@remote.test");
        Assert.Equal("remote.test", remote.DestinationKey);
        Assert.Equal(Core.Storage.Queue.DsnNotify.Success | Core.Storage.Queue.DsnNotify.Delay, remote.Notify);
        Assert.Equal("rfc822;friend+old@remote.test", remote.OriginalRecipient);
        var relay = Assert.Single(queued.Recipients, r => r.Address == "someone@relay.example.net");
        Assert.Equal("relay:relay.example.net", relay.DestinationKey);
        Assert.Equal(Core.Storage.Queue.DsnNotify.Never, relay.Notify);
        Assert.Null(relay.OriginalRecipient);
    }

    [Fact]
    public async Task Requiretls_is_not_offered_before_tls_and_refused_as_a_parameter_there()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Mx, session: Session with { RequireTls = true });
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        Assert.DoesNotContain("REQUIRETLS", await client.CommandAsync("EHLO relay.remote.test"), StringComparison.Ordinal);
        Assert.StartsWith("555 5.5.4", await client.CommandAsync("MAIL FROM:<a@remote.test> REQUIRETLS"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_send_as_grant_lets_an_account_use_another_address_until_it_is_taken_back()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission, session: Session);
        await server.AddStandardTenantsAsync();
        await server.Admin.AddDomainAsync("example.org", "Example", Core.Tenants.DomainKind.Hosted, []);
        await server.Admin.SetSendAsAsync("alice@example.com", "bob@example.com", allow: true);
        await server.Admin.SetSendAsAsync("alice@example.com", "@Example.ORG", allow: true);
        Assert.Equal(["bob@example.com", "@example.org"], await server.Admin.SetSendAsAsync("alice@example.com", "bob@EXAMPLE.com", allow: true));

        await using (var client = await LoggedInAsync(server))
        {
            Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("bob@example.com", ["friend@remote.test"], "From: Bob <bob@example.com>\r\nSubject: delegated\r\n\r\nhi"), StringComparison.Ordinal);
            Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("anyone@example.org", ["friend@remote.test"], "From: anyone@example.org\r\nSubject: domain grant\r\n\r\nhi"), StringComparison.Ordinal);
            Assert.StartsWith("553 5.7.1", await client.SendMessageAsync("carol@example.com", ["friend@remote.test"], "From: carol@example.com\r\nSubject: no grant\r\n\r\nhi"), StringComparison.Ordinal);
        }

        Assert.Equal(["@example.org"], await server.Admin.SetSendAsAsync("alice@example.com", "bob@example.com", allow: false));
        await using (var client = await LoggedInAsync(server))
        {
            Assert.StartsWith("553 5.7.1", await client.SendMessageAsync("bob@example.com", ["friend@remote.test"], "From: bob@example.com\r\nSubject: revoked\r\n\r\nhi"), StringComparison.Ordinal);
        }

        await Assert.ThrowsAsync<Postern.Tenants.DirectoryValidationException>(() => server.Admin.SetSendAsAsync("alice@example.com", "not an address", allow: true));
    }

    [Fact]
    public async Task A_master_user_signs_in_for_another_user_and_sends_as_that_user_only()
    {
        await using var server = new SmtpServerHarness(SmtpListenerKind.Submission,
            new SmtpPolicy { MasterUsers = new HashSet<string>(["bob@example.com"], StringComparer.OrdinalIgnoreCase) }, session: Session);
        await server.AddStandardTenantsAsync();
        await using var client = await server.ConnectAsync();
        await client.CommandAsync("EHLO laptop.example.com");
        await client.StartTlsAsync();
        await client.CommandAsync("EHLO laptop.example.com");

        // alice is not a master user: her authorization identity must be herself.
        Assert.StartsWith("535 5.7.8", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("bob@example.com\0alice@example.com\0alice-pw"u8.ToArray())), StringComparison.Ordinal);
        Assert.StartsWith("535 5.7.8", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("nobody@example.com\0bob@example.com\0bob-pw"u8.ToArray())), StringComparison.Ordinal);
        Assert.StartsWith("535 5.7.8", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("alice@example.com\0bob@example.com\0wrong"u8.ToArray())), StringComparison.Ordinal);
        Assert.StartsWith("235 2.7.0", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("alice@example.com\0bob@example.com\0bob-pw"u8.ToArray())), StringComparison.Ordinal);
        Assert.StartsWith("250 2.0.0", await client.SendMessageAsync("alice@example.com", ["friend@remote.test"], "From: alice@example.com\r\nSubject: for alice\r\n\r\nhi"), StringComparison.Ordinal);
        Assert.StartsWith("553 5.7.1", await client.SendMessageAsync("bob@example.com", ["friend@remote.test"], "From: bob@example.com\r\nSubject: as the master\r\n\r\nhi"), StringComparison.Ordinal);
    }
}
