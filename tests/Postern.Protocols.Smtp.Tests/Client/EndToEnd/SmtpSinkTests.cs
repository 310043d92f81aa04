using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client.EndToEnd;

/// <summary>The client against Postfix's smtp-sink: real replies, real pipelining, fault injection per command.</summary>
[Trait("Category", "EndToEnd")]
public sealed class SmtpSinkTests
{
    private const string Body = "Subject: dots and line ends\r\n\r\n.\r\n..two dots\r\n.leading dot\r\nbare\nLF and bare\rCR\r\n.\r\nno final line end";

    /// <summary>What smtp-sink dumps for <see cref="Body"/>: unstuffed, every line end one LF, the last line ended.</summary>
    private const string Dumped = "Subject: dots and line ends\n\n.\n..two dots\n.leading dot\nbare\nLF and bare\nCR\n.\nno final line end\n";

    private static async Task<SmtpClientSession> ReadyAsync(PeerProcess peer, SmtpClientOptions? options = null)
    {
        var session = await peer.ConnectAsync(options);
        Assert.Equal(220, (await session.ReadGreetingAsync()).Code);
        await session.EhloAsync();
        return session;
    }

    [Fact]
    public async Task A_pipelined_message_arrives_unstuffed_with_the_dsn_parameters_as_sent()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var session = await ReadyAsync(sink);
        Assert.True(session.Capabilities.Pipelining && session.Capabilities.Dsn && session.Capabilities.EightBitMime);

        var envelope = new SmtpEnvelope("bounce+1@client.test",
        [
            new SmtpRecipient("a@sink.test") { Notify = DsnNotify.Failure | DsnNotify.Delay, OriginalRecipient = "A@orig.test" },
            new SmtpRecipient("b@sink.test"),
        ])
        { Return = DsnReturn.Full, EnvelopeId = "Q123=x" };
        var result = await session.SendAsync(envelope, Content(Body));
        await session.QuitAsync();

        Assert.True(result.AllDelivered, string.Join("; ", result.Recipients.Select(r => r.Reply?.ToString())));
        Assert.True(result.DsnParametersSent);
        var dump = Assert.Single(await sink.DumpsAsync(1));
        Assert.Equal("client.test", dump.HeloArgs);
        Assert.Equal("<bounce+1@client.test> RET=FULL ENVID=Q123+3Dx", dump.MailArgs);
        Assert.Equal(["<a@sink.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;A@orig.test", "<b@sink.test>"], dump.RcptArgs);
        Assert.Equal(Dumped, dump.Message);
    }

    [Fact]
    public async Task Without_8bitmime_and_dsn_the_message_goes_out_plain_and_8_bit_content_is_held_back()
    {
        await using var sink = await SmtpSink.StartAsync("-8", "-N");
        await using var session = await ReadyAsync(sink);
        Assert.False(session.Capabilities.EightBitMime);

        var eightBit = await session.SendAsync(Envelope("a@sink.test"), Content("Subject: Grüße\r\n\r\nÄ\r\n"));
        var sevenBit = await session.SendAsync(Envelope("a@sink.test") with { Return = DsnReturn.Headers },
            Content("Subject: plain\r\n\r\nascii\r\n"));
        await session.QuitAsync();

        Assert.Equal(SmtpLocalFailure.EightBitUnsupported, eightBit.LocalFailure);
        Assert.True(sevenBit.AllDelivered);
        Assert.False(sevenBit.DsnParametersSent);
        var dump = Assert.Single(await sink.DumpsAsync(1));
        Assert.Equal("<sender@client.test>", dump.MailArgs);
        Assert.Equal("Subject: plain\n\nascii\n", dump.Message);
    }

    [Fact]
    public async Task Soft_rejected_recipients_defer_and_no_data_is_sent()
    {
        // -r implies -p: no PIPELINING, so this also runs the lock-step path against a real server.
        await using var sink = await SmtpSink.StartAsync("-r", "RCPT");
        await using var session = await ReadyAsync(sink);
        Assert.False(session.Capabilities.Pipelining);

        var result = await session.SendAsync(Envelope("a@sink.test", "b@sink.test"), Content(Body));
        var probe = await session.ProbeRecipientAsync("", "a@sink.test");
        await session.QuitAsync();

        Assert.All(result.Recipients, r => Assert.Equal(SmtpRecipientOutcome.Deferred, r.Outcome));
        Assert.All(result.Recipients, r => Assert.Equal(450, r.Reply!.Code));
        Assert.False(result.ContentSent);
        Assert.True(result.ConnectionUsable);
        Assert.Equal(SmtpProbeOutcome.Temporary, probe.Outcome);
        Assert.Empty(await sink.DumpsAsync(0));
    }

    [Fact]
    public async Task A_hard_rejected_mail_fails_every_recipient()
    {
        await using var sink = await SmtpSink.StartAsync("-f", "MAIL");
        await using var session = await ReadyAsync(sink);

        var result = await session.SendAsync(Envelope("a@sink.test", "b@sink.test"), Content(Body));

        Assert.All(result.Recipients, r => Assert.Equal(SmtpRecipientOutcome.Failed, r.Outcome));
        Assert.Equal(500, result.MailReply!.Code);
        Assert.Equal(new EnhancedStatusCode(5, 3, 0), result.MailReply.Status);
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task A_hard_rejected_end_of_data_is_a_permanent_failure_and_a_probe_sees_an_accepted_recipient()
    {
        await using var sink = await SmtpSink.StartAsync("-f", ".");
        await using var session = await ReadyAsync(sink);

        var probe = await session.ProbeRecipientAsync("", "someone@sink.test");
        var result = await session.SendAsync(Envelope("a@sink.test"), Content(Body));
        await session.QuitAsync();

        Assert.Equal(SmtpProbeOutcome.Accepted, probe.Outcome);
        Assert.True(probe.ConnectionUsable);
        Assert.Equal(SmtpRecipientOutcome.Failed, result.Recipients[0].Outcome);
        Assert.True(result.ContentSent);
        Assert.Equal(500, result.DataReply!.Code);
    }

    [Fact]
    public async Task A_disconnect_after_data_is_a_connection_failure_in_the_data_stage()
    {
        await using var sink = await SmtpSink.StartAsync("-q", "DATA");
        await using var session = await ReadyAsync(sink);

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.SendAsync(Envelope("a@sink.test"), Content(Body)));

        Assert.Equal(SmtpClientStage.Data, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.ConnectionClosed, failure.Failure);
        Assert.Equal(SmtpRecipientOutcome.Deferred, failure.PartialResult!.Recipients[0].Outcome);
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task A_421_to_rcpt_defers_and_ends_the_session()
    {
        await using var sink = await SmtpSink.StartAsync("-Q", "RCPT");
        await using var session = await ReadyAsync(sink);

        var result = await session.SendAsync(Envelope("a@sink.test", "b@sink.test"), Content(Body));
        await session.QuitAsync();

        Assert.All(result.Recipients, r => Assert.Equal(SmtpRecipientOutcome.Deferred, r.Outcome));
        Assert.Equal(421, result.Recipients[0].Reply!.Code);
        Assert.False(result.ConnectionUsable);
    }

    [Fact]
    public async Task A_slow_data_reply_times_out_in_the_data_stage()
    {
        // -p: no PIPELINING, so the delay is on DATA's own reply (pipelined, smtp-sink holds all replies of the batch).
        await using var sink = await SmtpSink.StartAsync("-p", "-w", "3");
        await using var session = await ReadyAsync(sink, Options with { DataInitiationTimeout = TimeSpan.FromMilliseconds(500) });

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.SendAsync(Envelope("a@sink.test"), Content(Body)));

        Assert.Equal(SmtpClientStage.Data, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.Timeout, failure.Failure);
    }

    [Fact]
    public async Task Without_esmtp_the_client_falls_back_to_helo()
    {
        await using var sink = await SmtpSink.StartAsync("-e");
        await using var session = await ReadyAsync(sink);

        var result = await session.SendAsync(Envelope("a@sink.test"), Content(Body));
        await session.QuitAsync();

        Assert.False(session.IsExtended);
        Assert.True(result.AllDelivered);
        Assert.Equal(Dumped, Assert.Single(await sink.DumpsAsync(1)).Message);
    }

    [Fact]
    public async Task Lmtp_gets_one_final_reply_per_recipient()
    {
        await using var sink = await SmtpSink.StartAsync("-L");
        await using var session = await ReadyAsync(sink, Options with { Lmtp = true });

        var result = await session.SendAsync(Envelope("a@sink.test", "b@sink.test", "c@sink.test"), Content(Body));
        await session.QuitAsync();

        Assert.True(session.IsExtended);
        Assert.True(result.AllDelivered);
        Assert.All(result.Recipients, r => Assert.Equal(new EnhancedStatusCode(2, 2, 0), r.Reply!.Status));
        Assert.Equal(Dumped, Assert.Single(await sink.DumpsAsync(1)).Message);
    }

    [Fact]
    public async Task One_connection_carries_several_messages()
    {
        await using var sink = await SmtpSink.StartAsync();
        await using var session = await ReadyAsync(sink);

        for (var i = 0; i < 3; i++)
        {
            var result = await session.SendAsync(Envelope($"r{i}@sink.test"), Content($"Subject: {i}\r\n\r\nmessage {i}\r\n"));
            Assert.True(result.AllDelivered);
            Assert.True(result.ConnectionUsable);
            Assert.Equal(250, (await session.ResetAsync()).Code);
        }

        await session.QuitAsync();
        var dumps = await sink.DumpsAsync(3);
        Assert.Equal(["<r0@sink.test>", "<r1@sink.test>", "<r2@sink.test>"], dumps.SelectMany(d => d.RcptArgs).Order(StringComparer.Ordinal));
        Assert.All(dumps, d => Assert.StartsWith("Subject: ", d.Message, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_large_message_streams_through_unchanged()
    {
        var text = new StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; i < 40_000; i++)
        {
            text.Append(i % 7 == 0 ? "." : string.Empty).Append("line ").Append(i).Append("\r\n");
        }

        await using var sink = await SmtpSink.StartAsync();
        await using var session = await ReadyAsync(sink);
        var bytes = Encoding.ASCII.GetBytes(text.ToString());
        var result = await session.SendAsync(Envelope("a@sink.test"), SmtpMessageContent.FromStream(new MemoryStream(bytes), BodyType.SevenBit));
        await session.QuitAsync();

        Assert.True(result.AllDelivered);
        Assert.Equal(text.ToString().Replace("\r\n", "\n", StringComparison.Ordinal), Assert.Single(await sink.DumpsAsync(1)).Message);
    }
}
