using System.Text.Json;
using Postern.Protocols.Smtp.Tests.Client.EndToEnd;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// The gateway's core job with the real binary: swaks hands a message to Postern's MX listener, Postern relays it to
/// the customer's server (Postfix's smtp-sink on loopback); when that server is down the mail waits, and
/// <c>postern queue retry</c> sends it once the server is back.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class RelayDeliveryEndToEndTests : IDisposable
{
    private readonly SmtpTestBed _bed = new();

    public void Dispose() => _bed.Dispose();

    private async Task AddRelayDomainAsync(int port)
    {
        var (code, stdout, stderr) = await PosternProcess.RunAsync("domain", "add", "customer.test", "--customer", "Example", "--relay-host", "127.0.0.1:" + SmtpTestBed.Invariant(port), "--data", _bed.DataPath);
        Assert.True(code == 0, stdout + stderr);
    }

    private async Task<string> SendAsync(PosternProcess server, string subject)
    {
        var (code, output) = await SmtpTestBed.RunToolAsync("/usr/bin/swaks", ["--server", "127.0.0.1:" + SmtpTestBed.Port(server, "smtp"), "--from", "sender@remote.test",
            "--to", "bob@customer.test", "--header", "Subject: " + subject, "--body", "For the customer's own server."]);
        Assert.True(code == 0, output);
        return System.Text.RegularExpressions.Regex.Match(output, "queued as ([0-9A-Z]{12})").Groups[1].Value;
    }

    [Fact]
    public async Task Mail_for_a_relay_domain_reaches_the_customers_server_and_leaves_the_queue()
    {
        await using var sink = await SmtpSink.StartAsync();
        await _bed.SetUpDirectoryAsync();
        await AddRelayDomainAsync(sink.Port);
        var server = await _bed.StartServerAsync("--set", "Delivery:Enabled=true");

        var queueId = await SendAsync(server, "relayed by the gateway");
        var dump = Assert.Single(await sink.DumpsAsync(1));

        Assert.Equal("<sender@remote.test>", dump.MailArgs.Split(' ')[0]);
        Assert.Equal("<bob@customer.test>", dump.RcptArgs.Single().Split(' ')[0]);
        Assert.Equal("mx.example.test", dump.HeloArgs);
        Assert.Contains("by mx.example.test (Postern) with ESMTP id " + queueId, dump.Message, StringComparison.Ordinal);
        Assert.Contains("Subject: relayed by the gateway", dump.Message, StringComparison.Ordinal);
        await WaitForEmptyQueueAsync();
        using (var handler = new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true })
        using (var http = new HttpClient(handler))
        {
            var metrics = await http.GetStringAsync(new Uri($"https://127.0.0.1:{SmtpTestBed.Port(server, "https")}/metrics"));
            Assert.Contains("postern_delivery_recipients_total{result=\"delivered\"} 1", metrics, StringComparison.Ordinal);
        }

        await SmtpTestBed.StopAsync(server);
    }

    [Fact]
    public async Task Mail_waits_while_the_customers_server_is_down_and_goes_out_once_after_queue_retry()
    {
        var port = PeerProcess.FreePort();
        await _bed.SetUpDirectoryAsync();
        await AddRelayDomainAsync(port);
        var server = await _bed.StartServerAsync("--set", "Delivery:Enabled=true", "--set", "Delivery:DestinationBackoff=00:00:01", "--set", "Delivery:MaxDestinationBackoff=00:00:01");

        var smtpId = await SendAsync(server, "while the server was down");
        var queueId = await WaitForAsync(async () =>
        {
            var (code, stdout, _) = await PosternProcess.RunAsync("queue", "list", "--json", "--data", _bed.DataPath);
            using var json = JsonDocument.Parse(stdout);
            var messages = json.RootElement.GetProperty("messages");
            return code == 0 && messages.GetArrayLength() == 1 ? messages[0].GetProperty("queueId").GetString() : null;
        });
        Assert.Equal(smtpId, queueId); // the id the client was told is the one the queue commands know
        var last = string.Empty;
        var shown = await WaitForAsync(async () =>
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync("queue", "show", queueId, "--json", "--data", _bed.DataPath);
            last = stdout + stderr + server.Stdout + server.Stderr;
            return code == 0 && stdout.Contains("connection refused", StringComparison.Ordinal) ? stdout : null;
        }, () => last);
        Assert.Contains("deferred", shown, StringComparison.Ordinal);

        await using var sink = await SmtpSink.StartOnPortAsync(port);
        var (retry, retryOut, retryErr) = await PosternProcess.RunAsync("queue", "retry", "--domain", "customer.test", "--data", _bed.DataPath);
        Assert.True(retry == 0, retryOut + retryErr);
        var dump = Assert.Single(await sink.DumpsAsync(1));
        Assert.Contains("Subject: while the server was down", dump.Message, StringComparison.Ordinal);
        await WaitForEmptyQueueAsync();
        Assert.Single(await sink.DumpsAsync(1)); // once, not again
        await SmtpTestBed.StopAsync(server);
    }

    private async Task WaitForEmptyQueueAsync() => await WaitForAsync(async () =>
    {
        var (code, stdout, _) = await PosternProcess.RunAsync("queue", "list", "--json", "--data", _bed.DataPath);
        using var json = JsonDocument.Parse(stdout);
        return code == 0 && json.RootElement.GetProperty("messages").GetArrayLength() == 0 ? stdout : null;
    });

    private static async Task<string> WaitForAsync(Func<Task<string?>> probe, Func<string>? explain = null)
    {
        for (var i = 0; i < 60; i++)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            await Task.Delay(500);
        }

        throw new Xunit.Sdk.XunitException("timed out: " + explain?.Invoke());
    }
}
