using System.Net;
using System.Text;
using Postern.Core.Storage.Queue;
using Postern.Delivery.Dsn;
using Postern.Delivery.Engine;
using Postern.Protocols.Smtp.Tests.Client.EndToEnd;
using DsnNotify = Postern.Core.Storage.Queue.DsnNotify;

namespace Postern.Delivery.Tests.Engine;

/// <summary>DSNs, the 8-bit downgrade, REQUIRETLS and the queue lifetime, against smtp-sink.</summary>
[Trait("Category", "EndToEnd")]
public sealed class DeliveryNotificationTests
{
    /// <summary>The sender's domain (sender.test) has its MX at the given sink.</summary>
    private static EngineHarness WithSenderMx(SmtpSink senderSink, Func<DeliveryOptions, DeliveryOptions>? configure = null)
    {
        var h = EngineHarness.Create(o => (configure?.Invoke(o) ?? o) with { MxPortOverride = senderSink.Port });
        h.Dns.SetMx("sender.test", (10, "mx.sender.test"));
        h.Dns.SetA("mx.sender.test", IPAddress.Loopback);
        return h;
    }

    private static DeliveryReport ParseDsn(SinkDump dump)
    {
        var text = dump.Message[(dump.Message.IndexOf('\n', StringComparison.Ordinal) + 1)..].Replace("\n", "\r\n", StringComparison.Ordinal);
        Assert.True(DeliveryStatusParser.TryParseMessage(Encoding.UTF8.GetBytes(text), out var report), text);
        return report!;
    }

    [Fact]
    public async Task Notify_success_to_a_server_without_dsn_gets_the_sender_a_relayed_report()
    {
        await using var customer = await SmtpSink.StartAsync("-N");
        await using var senderSink = await SmtpSink.StartAsync();
        await using var h = WithSenderMx(senderSink);
        h.Directory.AddRelay("customer.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("with receipt"), DsnNotify.Success | DsnNotify.Failure);

        h.Engine.Start();
        var dsn = Assert.Single(await senderSink.DumpsAsync(1));

        Assert.Single(await customer.DumpsAsync(1));
        Assert.Equal("<>", dsn.MailArgs.Split(' ')[0]);
        var recipient = Assert.Single(ParseDsn(dsn).Status.Recipients);
        Assert.Equal(DsnAction.Relayed, recipient.Action);
        Assert.Equal(2, recipient.Status!.Value.Class);
    }

    [Fact]
    public async Task A_delay_warning_goes_out_once_and_mail_that_outlives_its_lifetime_bounces()
    {
        await using var customer = await SmtpSink.StartAsync("-r", "rcpt");
        await using var senderSink = await SmtpSink.StartAsync();
        await using var h = WithSenderMx(senderSink, o => o with { DelayWarningAfter = TimeSpan.FromMilliseconds(1), FirstRetryInterval = TimeSpan.FromMilliseconds(200), MaxRetryInterval = TimeSpan.FromMilliseconds(400), QueueLifetime = TimeSpan.FromSeconds(3) });
        h.Directory.AddRelay("customer.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        var id = await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test", EngineHarness.Message("slow"));

        h.Engine.Start();
        await EngineHarness.WaitUntilAsync(async () => await h.Queue.GetAsync(id, CancellationToken.None) is null, "the lifetime to run out", 30);
        var dsns = (await senderSink.DumpsAsync(2)).Select(ParseDsn).Select(r => r.Status.Recipients.Single()).ToList();

        Assert.Equal([DsnAction.Delayed, DsnAction.Failed], dsns.Select(d => d.Action!.Value).OrderBy(a => a == DsnAction.Failed));
        Assert.True(h.Results.Count(r => r.Outcome == AttemptOutcome.Deferred) >= 2, "retried more than once before giving up");
        Assert.Equal(4, dsns.Single(d => d.Action == DsnAction.Failed).Status!.Value.Class); // the last temporary status, as the reason it ended
    }

    [Fact]
    public async Task Eight_bit_mail_for_a_server_without_8bitmime_is_converted_and_signed_after_the_conversion()
    {
        await using var customer = await SmtpSink.StartAsync("-8");
        var signer = new RecordingSigner();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        await h.EnqueueAsync("alice@sender.test", "bob@customer.test", "relay:customer.test",
            "From: alice@sender.test\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n");
        var engine = new DeliveryEngine(new DeliveryEngineServices(h.Queue, h.Storage.Blobs, h.Router, h.Agent, new Bounces.BounceSender(h.Queue, h.Storage.Blobs, new Bounces.BounceOptions { ReportingMta = "gateway.test" })) { Signer = signer }, h.Options);
        await using (engine)
        {
            engine.Start();
            var dump = Assert.Single(await customer.DumpsAsync(1));

            Assert.Contains("Content-Transfer-Encoding: quoted-printable", dump.Message, StringComparison.Ordinal);
            Assert.Contains("Gr=C3=BC=C3=9Fe aus K=C3=B6ln", dump.Message, StringComparison.Ordinal);
            Assert.Contains("X-Test-Signature: 7bit", dump.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("BODY=8BITMIME", dump.MailArgs, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_requiretls_message_is_never_sent_to_a_server_without_tls()
    {
        await using var customer = await SmtpSink.StartAsync();
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        var id = await h.EnqueueAsync("alice@sender.test", [new NewQueueRecipient("bob@customer.test", "relay:customer.test")], EngineHarness.Message("tls only"), requireTls: true);

        h.Engine.Start();
        await h.WaitForResultsAsync(1, "the attempt");

        Assert.Equal(RecipientState.Deferred, (await h.Queue.GetAsync(id, CancellationToken.None))!.Recipients.Single().State);
        Assert.Empty(await customer.DumpsAsync(0));
    }

    [Fact]
    public async Task An_smtputf8_message_for_a_server_without_smtputf8_bounces_with_an_rfc_6533_report()
    {
        await using var customer = await SmtpSink.StartAsync(); // smtp-sink does not offer SMTPUTF8
        await using var h = EngineHarness.Create();
        h.Directory.AddRelay("customer.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        h.Directory.AddRelay("sender.test", new Core.Tenants.RelayHost("127.0.0.1", customer.Port));
        h.Directory.Set("sender.test", d => d with { Settings = d.Settings with { Hold = true } }); // the DSN waits where the test can read it
        await h.EnqueueAsync("alice@sender.test", [new NewQueueRecipient("jörg@customer.test", "relay:customer.test")],
            "From: alice@sender.test\r\nTo: jörg@customer.test\r\nSubject: Grüße\r\n\r\nHallo\r\n", smtpUtf8: true);

        h.Engine.Start();
        QueuedMessage? dsn = null;
        await EngineHarness.WaitUntilAsync(async () =>
        {
            dsn = (await h.Queue.ListAsync(new QueueQuery(Limit: 10), CancellationToken.None)).Messages.SingleOrDefault(m => m.ReversePath.Length == 0);
            return dsn is not null;
        }, "the DSN in the queue");

        Assert.Empty(await customer.DumpsAsync(0));
        await using var stream = (await h.Storage.Blobs.OpenReadAsync(dsn!.Blob, CancellationToken.None))!;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        var text = Encoding.UTF8.GetString(copy.ToArray());
        Assert.Contains("message/global-delivery-status", text, StringComparison.Ordinal);
        Assert.True(DeliveryStatusParser.TryParseMessage(copy.ToArray(), out var report), text);
        var recipient = Assert.Single(report!.Status.Recipients);
        Assert.Equal((DsnAction.Failed, new Protocols.Smtp.EnhancedStatusCode(5, 6, 7)), (recipient.Action!.Value, recipient.Status!.Value));
        Assert.Equal("alice@sender.test", dsn.Recipients.Single().Address);
    }

    /// <summary>Stands in for DKIM signing: marks whether it saw 7-bit or 8-bit content.</summary>
    private sealed class RecordingSigner : IOutboundMessageSigner
    {
        public ValueTask<ReadOnlyMemory<byte>> SignAsync(QueuedMessage message, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            var mark = Encoding.ASCII.GetBytes($"X-Test-Signature: {(Postern.Delivery.Downgrade.EightBitDowngrade.IsSevenBitClean(content.Span) ? "7bit" : "8bit")}\r\n");
            return ValueTask.FromResult<ReadOnlyMemory<byte>>(mark.Concat(content.ToArray()).ToArray());
        }
    }
}
