using System.Globalization;
using Postern.Host.Embedded;
using Postern.Server.Smtp.Tests.EndToEnd;

namespace Postern.Host.Tests.Smtp;

/// <summary>swaks through the real <c>postern</c> server to relay domains whose recipients are verified with the customer's server (aiosmtpd).</summary>
[Trait("Category", "EndToEnd")]
public sealed class RecipientVerificationEndToEndTests : IDisposable
{
    private readonly SmtpTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    [Fact]
    public async Task Swaks_gets_250_for_an_address_the_customers_server_knows_550_for_one_it_does_not_and_450_when_it_is_down()
    {
        await using var customer = await CustomerMailServer.StartAsync(tls: false, "known@relay.example.net");
        var closed = "127.0.0.1:" + CustomerMailServer.ClosedPort().ToString(CultureInfo.InvariantCulture);
        foreach (var args in new[]
        {
            new[] { "customer", "add", "Gateway" },
            ["domain", "add", "relay.example.net", "--customer", "Gateway", "--kind", "relay", "--relay-host", customer.RelayHost],
            ["domain", "add", "down.example.net", "--customer", "Gateway", "--kind", "relay", "--relay-host", closed],
        })
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync([.. args, "--data", _bed.DataPath]);
            Assert.True(code == 0, string.Join(' ', args) + ": " + stdout + stderr);
        }

        using (var backend = EmbeddedBackend.Open(DataFolder.Prepare(_bed.DataPath)))
        {
            var directory = new Tenants.DirectoryService(backend.Directory, new PasswordHasherAdapter(Passwords.PasswordHasher.Default));
            foreach (var domain in new[] { "relay.example.net", "down.example.net" })
            {
                await directory.SetDomainSettingsAsync(domain, """{"recipientVerification":"probe"}""");
            }
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var server = await _bed.StartServerAsync("--set", "RecipientVerification:ConnectTimeout=00:00:03", "--set", "RecipientVerification:ProbeTimeout=00:00:10");
        var smtp = "127.0.0.1:" + SmtpTestBed.Port(server, "smtp");

        var known = await SmtpTestBed.SwaksAsync("--server", smtp, "--from", "sender@remote.test", "--to", "known@relay.example.net", "--header", "Subject: verified");
        Assert.True(known.Code == 0, known.Output);
        Assert.Matches(@"250 2\.0\.0 OK queued as [0-9A-Z]{12}", known.Output);

        var unknown = await SmtpTestBed.SwaksAsync("--server", smtp, "--from", "sender@remote.test", "--to", "nobody@relay.example.net");
        Assert.Contains("<** 550 5.1.1", unknown.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("virtual mailbox table", unknown.Output, StringComparison.Ordinal);

        var down = await SmtpTestBed.SwaksAsync("--server", smtp, "--from", "sender@remote.test", "--to", "anyone@down.example.net");
        Assert.Contains("<** 450 4.4.1", down.Output, StringComparison.Ordinal);

        // The known address was asked about once: the second message is accepted from the cache.
        var again = await SmtpTestBed.SwaksAsync("--server", smtp, "--from", "sender@remote.test", "--to", "known@relay.example.net");
        Assert.True(again.Code == 0, again.Output);
        await customer.WaitForRecipientsAsync(2);
        Assert.Equal(2, customer.Connections);
        await SmtpTestBed.StopAsync(server);
    }
}
