using System.Globalization;
using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client;

public sealed class ClientTransactionTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Multi_line_greeting_and_ehlo_reply_give_the_capabilities_whatever_the_case_spacing_or_auth_form()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220-mx.test ESMTP", "220 second line");
            await peer.ExpectAsync("EHLO client.test");
            await peer.ReplyAsync("250-mx.test hello", "250-pipelining", "250-SIZE   10240000", "250-8bitmime", "250-AUTH=LOGIN",
                "250-AUTH PLAIN  CRAM-MD5", "250-STARTTLS", "250-Enhancedstatuscodes", "250-smtputf8", "250-DSN", "250-", "250 CHUNKING");
            await peer.ExpectAsync("QUIT");
            await peer.ReplyAsync("221 2.0.0 bye");
        });
        var session = await server.ConnectAsync(Options);

        var greeting = await session.ReadGreetingAsync();
        var ehlo = await session.EhloAsync();
        await session.QuitAsync();
        await server.CompletedAsync();

        Assert.Equal(220, greeting.Code);
        Assert.Equal(["mx.test ESMTP", "second line"], greeting.Lines);
        Assert.Equal(250, ehlo.Code);
        var caps = session.Capabilities;
        Assert.True(session.IsExtended);
        Assert.True(caps.Pipelining && caps.EightBitMime && caps.StartTls && caps.EnhancedStatusCodes && caps.SmtpUtf8 && caps.Chunking && caps.Dsn);
        Assert.False(caps.BinaryMime || caps.RequireTls);
        Assert.Equal(10240000, caps.MaxMessageSize);
        Assert.Equal(["CRAM-MD5", "LOGIN", "PLAIN"], caps.AuthMechanisms.Order(StringComparer.Ordinal));
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task Ehlo_refused_falls_back_to_helo_and_then_talks_lock_step_without_extensions()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 old.test SMTP");
            await peer.ExpectAsync("EHLO client.test");
            await peer.ReplyAsync("502 Command not implemented");
            await peer.ExpectAsync("HELO client.test");
            await peer.ReplyAsync("250 old.test");
            Assert.Equal("MAIL FROM:<sender@client.test>", await peer.ReadLineAsync());
            Assert.True(await peer.IsQuietAsync(Quiet), "RCPT sent before MAIL's reply without PIPELINING");
            await peer.ReplyAsync("250 ok");
            Assert.Equal("RCPT TO:<a@old.test>", await peer.ReadLineAsync());
            Assert.True(await peer.IsQuietAsync(Quiet));
            await peer.ReplyAsync("250 ok");
            Assert.Equal("DATA", await peer.ReadLineAsync());
            await peer.ReplyAsync("354 go");
            Assert.Equal("Subject: x\r\n\r\nhello\r\n.\r\n", Encoding.UTF8.GetString(await peer.ReadDataAsync()));
            await peer.ReplyAsync("250 queued");
        });
        var session = await ReadyAsync(server);

        Assert.False(session.IsExtended);
        Assert.Equal(250, session.HelloReply!.Code);
        Assert.Same(SmtpServerCapabilities.None, session.Capabilities);
        var result = await session.SendAsync(Envelope("a@old.test"), Content("Subject: x\r\n\r\nhello\r\n"));
        await server.CompletedAsync();

        Assert.True(result.AllDelivered);
        Assert.False(result.UsedChunking);
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task Lmtp_sends_lhlo_never_helo()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 lmtp.test LMTP");
            await peer.ExpectAsync("LHLO client.test");
            await peer.ReplyAsync("500 no");
            Assert.True(await peer.IsQuietAsync(Quiet), "LMTP fell back to HELO");
        });
        var session = await ReadyAsync(server, Options with { Lmtp = true });
        await server.CompletedAsync();

        Assert.Equal(500, session.HelloReply!.Code);
        Assert.False(session.IsExtended);
    }

    [Fact]
    public async Task Pipelining_sends_mail_rcpts_and_data_in_one_go_and_reads_the_replies_in_order()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING", "ENHANCEDSTATUSCODES");
            // Every command is read before any reply is written: a lock-step client would stall here.
            await peer.ExpectAsync("MAIL FROM:<sender@client.test>");
            await peer.ExpectAsync("RCPT TO:<a@mx.test>");
            await peer.ExpectAsync("RCPT TO:<b@mx.test>");
            await peer.ExpectAsync("RCPT TO:<c@mx.test>");
            Assert.Equal("DATA", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 2.1.0 sender ok", "250 2.1.5 ok", "550-5.1.1 no such user", "550 5.1.1 really not", "451 4.3.0 try later", "354 go ahead");
            Assert.Equal("hello\r\n.\r\n", Encoding.UTF8.GetString(await peer.ReadDataAsync()));
            await peer.ReplyAsync("250 2.0.0 queued as 42");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("a@mx.test", "b@mx.test", "c@mx.test"), Content("hello\r\n"));
        await server.CompletedAsync();

        Assert.Equal(250, result.MailReply!.Code);
        Assert.Equal(new EnhancedStatusCode(2, 1, 0), result.MailReply.Status);
        var (a, b, c) = (result.Recipients[0], result.Recipients[1], result.Recipients[2]);
        Assert.Equal(SmtpRecipientOutcome.Delivered, a.Outcome);
        Assert.Equal("queued as 42", a.Reply!.Lines[0]);
        Assert.Equal(SmtpRecipientOutcome.Failed, b.Outcome);
        Assert.Equal(550, b.Reply!.Code);
        Assert.Equal(["no such user", "really not"], b.Reply.Lines);
        Assert.Equal(new EnhancedStatusCode(5, 1, 1), b.Reply.Status);
        Assert.Equal(SmtpRecipientOutcome.Deferred, c.Outcome);
        Assert.Equal(451, c.RcptReply!.Code);
        Assert.True(result.ContentSent);
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task When_every_recipient_is_refused_no_content_is_sent_and_the_transaction_is_reset()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:<a@mx.test>");
            await peer.ExpectAsync("RCPT TO:<b@mx.test>");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "550 5.1.1 no a", "450 4.2.1 b busy", "554 5.5.1 no valid recipients");
            Assert.Equal("RSET", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 reset");
            Assert.True(await peer.IsQuietAsync(Quiet));
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("a@mx.test", "b@mx.test"), Content("secret body\r\n"));
        await server.CompletedAsync();

        Assert.False(result.ContentSent);
        Assert.DoesNotContain("secret body", server.Peer!.ReceivedText, StringComparison.Ordinal);
        Assert.Equal([SmtpRecipientOutcome.Failed, SmtpRecipientOutcome.Deferred], result.Recipients.Select(r => r.Outcome));
        Assert.Equal(554, result.DataReply!.Code);
        Assert.True(result.ConnectionUsable);
        Assert.True(session.IsUsable);
    }

    [Fact]
    public async Task Without_pipelining_no_data_command_follows_refused_recipients()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("8BITMIME");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("RCPT TO:<a@mx.test>");
            await peer.ReplyAsync("550 no");
            Assert.Equal("RSET", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("a@mx.test"), Content("x\r\n"));
        await server.CompletedAsync();

        Assert.Equal(SmtpRecipientOutcome.Failed, Assert.Single(result.Recipients).Outcome);
        Assert.DoesNotContain("DATA", server.Peer!.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mail_refused_fails_every_recipient_with_the_mail_reply()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync();
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ReplyAsync("553 5.7.1 sender rejected");
            Assert.True(await peer.IsQuietAsync(Quiet), "RCPT or RSET after a refused MAIL");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("a@mx.test", "b@mx.test"), Content("x\r\n"));
        await server.CompletedAsync();

        Assert.All(result.Recipients, r => Assert.Equal(SmtpRecipientOutcome.Failed, r.Outcome));
        Assert.All(result.Recipients, r => Assert.Equal(553, r.Reply!.Code));
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task Data_is_dot_stuffed_and_bare_line_ends_are_sent_as_crlf()
    {
        var body = ".\r\n..two\r\n.leading\r\nbare\nlf\rcr\r\n\r\n.\r\nlast line without end";
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "354 go");
            var data = Encoding.UTF8.GetString(await peer.ReadDataAsync());
            Assert.Equal("..\r\n...two\r\n..leading\r\nbare\r\nlf\r\ncr\r\n\r\n..\r\nlast line without end\r\n.\r\n", data);
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);

        // Trickled three bytes a read: a CR at the end of one read and its LF in the next are one line end.
        var content = SmtpMessageContent.FromStream(new TrickleStream(Encoding.UTF8.GetBytes(body), 3), BodyType.SevenBit);
        var result = await session.SendAsync(Envelope("a@mx.test"), content);
        await server.CompletedAsync();

        Assert.True(result.AllDelivered);
    }

    [Fact]
    public async Task Chunking_sends_bdat_chunks_with_the_exact_octets_and_last()
    {
        var body = "Subject: chunks\r\n\r\n.a dot line stays as it is\r\nbare\nline\r\nend";
        var expected = "Subject: chunks\r\n\r\n.a dot line stays as it is\r\nbare\r\nline\r\nend\r\n";
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING", "CHUNKING", "8BITMIME");
            await peer.ExpectAsync("MAIL FROM:<sender@client.test>");
            await peer.ExpectAsync("RCPT TO:<a@mx.test>");
            await peer.ReplyAsync("250 ok", "250 ok");
            var received = new StringBuilder();
            var chunks = 0;
            while (true)
            {
                var command = (await peer.ReadLineAsync()).Split(' ');
                Assert.Equal("BDAT", command[0]);
                var size = int.Parse(command[1], CultureInfo.InvariantCulture);
                received.Append(Encoding.UTF8.GetString(await peer.ReadBytesAsync(size)));
                chunks++;
                await peer.ReplyAsync(string.Create(CultureInfo.InvariantCulture, $"250 2.0.0 {size} octets"));
                if (command.Length == 3)
                {
                    Assert.Equal("LAST", command[2]);
                    break;
                }
            }

            Assert.Equal(expected, received.ToString());
            Assert.True(chunks >= 3, $"{chunks} chunks");
        });
        var session = await ReadyAsync(server, Options with { ChunkSize = 16 });

        var content = SmtpMessageContent.FromStream(new TrickleStream(Encoding.UTF8.GetBytes(body), 5), BodyType.SevenBit);
        var result = await session.SendAsync(Envelope("a@mx.test"), content);
        await server.CompletedAsync();

        Assert.True(result.AllDelivered);
        Assert.True(result.UsedChunking);
        Assert.DoesNotContain("DATA", server.Peer!.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_bdat_chunk_stops_the_message_and_resets()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("CHUNKING");
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ReplyAsync("250 ok");
            var command = await peer.ExpectAsync("BDAT ");
            Assert.DoesNotContain("LAST", command, StringComparison.Ordinal);
            await peer.ReadBytesAsync(int.Parse(command.Split(' ')[1], CultureInfo.InvariantCulture));
            await peer.ReplyAsync("552 5.3.4 too big after all");
            Assert.Equal("RSET", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server, Options with { ChunkSize = 8 });

        var content = SmtpMessageContent.FromStream(new TrickleStream(Encoding.UTF8.GetBytes("line one\r\nline two\r\nline three\r\n"), 10), BodyType.SevenBit);
        var result = await session.SendAsync(Envelope("a@mx.test"), content);
        await server.CompletedAsync();

        Assert.Equal(SmtpRecipientOutcome.Failed, result.Recipients[0].Outcome);
        Assert.Equal(552, result.Recipients[0].Reply!.Code);
        Assert.False(result.ContentSent);
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task Lmtp_gives_each_accepted_recipient_its_own_final_reply()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 lmtp.test LMTP");
            await peer.ExpectAsync("LHLO client.test");
            await peer.ReplyAsync(FakePeer.EhloReply("PIPELINING", "ENHANCEDSTATUSCODES"));
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:<a@lmtp.test>");
            await peer.ExpectAsync("RCPT TO:<b@lmtp.test>");
            await peer.ExpectAsync("RCPT TO:<c@lmtp.test>");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "550 5.1.1 unknown b", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 2.0.0 a delivered", "452 4.2.2 c over quota");
        });
        var session = await ReadyAsync(server, Options with { Lmtp = true });

        var result = await session.SendAsync(Envelope("a@lmtp.test", "b@lmtp.test", "c@lmtp.test"), Content("hi\r\n"));
        await server.CompletedAsync();

        Assert.Equal([SmtpRecipientOutcome.Delivered, SmtpRecipientOutcome.Failed, SmtpRecipientOutcome.Deferred], result.Recipients.Select(r => r.Outcome));
        Assert.Equal("a delivered", result.Recipients[0].Reply!.Lines[0]);
        Assert.Equal("c over quota", result.Recipients[2].Reply!.Lines[0]);
        Assert.True(result.ConnectionUsable);
    }

    [Fact]
    public async Task Lmtp_connection_lost_between_final_replies_keeps_the_delivered_recipients_in_the_partial_result()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.ReplyAsync("220 lmtp.test LMTP");
            await peer.ExpectAsync("LHLO client.test");
            await peer.ReplyAsync(FakePeer.EhloReply("PIPELINING"));
            await peer.ExpectAsync("MAIL FROM:");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("RCPT TO:");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 a delivered");
            peer.Close();
        });
        var session = await ReadyAsync(server, Options with { Lmtp = true });

        var failure = await Assert.ThrowsAsync<SmtpConnectionException>(() => session.SendAsync(Envelope("a@lmtp.test", "b@lmtp.test"), Content("hi\r\n")));
        await server.CompletedAsync();

        Assert.Equal(SmtpClientStage.EndOfData, failure.Stage);
        Assert.Equal(SmtpConnectionFailure.ConnectionClosed, failure.Failure);
        var partial = failure.PartialResult!;
        Assert.Equal([SmtpRecipientOutcome.Delivered, SmtpRecipientOutcome.Deferred], partial.Recipients.Select(r => r.Outcome));
        Assert.False(partial.ConnectionUsable);
        Assert.False(session.IsUsable);
    }

    [Fact]
    public async Task Esmtp_parameters_go_out_only_for_what_the_peer_offers()
    {
        var envelope = new SmtpEnvelope("sender@client.test",
        [
            new SmtpRecipient("a@mx.test") { Notify = DsnNotify.Success | DsnNotify.Failure, OriginalRecipient = "orig+a=x@client.test" },
            new SmtpRecipient("b@mx.test") { Notify = DsnNotify.Never },
        ])
        { Return = DsnReturn.Headers, EnvelopeId = "id 1+2" };
        string? withDsn = null;
        string? withoutDsn = null;
        await using (var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING", "DSN", "SIZE 1000000", "8BITMIME");
            withDsn = string.Join("\n", await peer.ReadLineAsync(), await peer.ReadLineAsync(), await peer.ReadLineAsync());
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 ok");
        }))
        {
            var session = await ReadyAsync(server);
            var result = await session.SendAsync(envelope, Content("Subject: é\r\n\r\nbody\r\n"));
            await server.CompletedAsync();
            Assert.True(result.DsnParametersSent);
            Assert.True(result.AllDelivered);
        }

        await using (var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            withoutDsn = string.Join("\n", await peer.ReadLineAsync(), await peer.ReadLineAsync(), await peer.ReadLineAsync());
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("250 ok", "250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 ok");
        }))
        {
            var session = await ReadyAsync(server);
            var result = await session.SendAsync(envelope, Content("Subject: plain\r\n\r\nbody\r\n"));
            await server.CompletedAsync();
            Assert.False(result.DsnParametersSent);
        }

        Assert.Equal(
            "MAIL FROM:<sender@client.test> SIZE=21 BODY=8BITMIME RET=HDRS ENVID=id+201+2B2\n"
            + "RCPT TO:<a@mx.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Ba+3Dx@client.test\n"
            + "RCPT TO:<b@mx.test> NOTIFY=NEVER",
            withDsn);
        Assert.Equal("MAIL FROM:<sender@client.test>\nRCPT TO:<a@mx.test>\nRCPT TO:<b@mx.test>", withoutDsn);
    }

    [Fact]
    public async Task The_null_reverse_path_is_sent_as_empty_brackets()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync();
            Assert.Equal("MAIL FROM:<>", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("RCPT TO:<postmaster>");
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(new SmtpEnvelope("", [new SmtpRecipient("postmaster")]), Content(""));
        await server.CompletedAsync();

        Assert.True(result.AllDelivered);
        Assert.EndsWith("DATA\r\n.\r\n", server.Peer!.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Probe_asks_mail_and_rcpt_then_resets()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            foreach (var answer in new[] { "250 2.1.5 ok", "550 5.1.1 unknown user", "450 4.2.0 greylisted" })
            {
                Assert.Equal("MAIL FROM:<>", await peer.ReadLineAsync());
                await peer.ExpectAsync("RCPT TO:<x@customer.test>");
                await peer.ReplyAsync("250 ok", answer);
                Assert.Equal("RSET", await peer.ReadLineAsync());
                await peer.ReplyAsync("250 ok");
            }

            Assert.Equal("MAIL FROM:<>", await peer.ReadLineAsync());
            await peer.ExpectAsync("RCPT TO:");
            await peer.ReplyAsync("550 5.7.1 we do not talk to you", "503 5.5.1 need MAIL");
            Assert.True(await peer.IsQuietAsync(Quiet), "RSET after a refused MAIL");
        });
        var session = await ReadyAsync(server);

        var accepted = await session.ProbeRecipientAsync("", "x@customer.test");
        var refused = await session.ProbeRecipientAsync("", "x@customer.test");
        var temporary = await session.ProbeRecipientAsync("", "x@customer.test");
        var mailRefused = await session.ProbeRecipientAsync("", "x@customer.test");
        await server.CompletedAsync();

        Assert.Equal(SmtpProbeOutcome.Accepted, accepted.Outcome);
        Assert.Equal(SmtpProbeOutcome.Refused, refused.Outcome);
        Assert.Equal("unknown user", refused.Reply.Lines[0]);
        Assert.Equal(SmtpProbeOutcome.Temporary, temporary.Outcome);
        Assert.Equal(SmtpProbeOutcome.Temporary, mailRefused.Outcome);
        Assert.Equal(550, mailRefused.Reply.Code);
        Assert.True(mailRefused.ConnectionUsable);
    }

    [Fact]
    public async Task Reset_then_a_second_message_on_the_same_connection()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            for (var i = 0; i < 2; i++)
            {
                await peer.ExpectAsync("MAIL FROM:");
                await peer.ExpectAsync("RCPT TO:");
                await peer.ExpectAsync("DATA");
                await peer.ReplyAsync("250 ok", "250 ok", "354 go");
                await peer.ReadDataAsync();
                await peer.ReplyAsync("250 queued " + i.ToString(CultureInfo.InvariantCulture));
                Assert.Equal("RSET", await peer.ReadLineAsync());
                await peer.ReplyAsync("250 ok");
            }
        });
        var session = await ReadyAsync(server);

        var first = await session.SendAsync(Envelope("a@mx.test"), Content("one\r\n"));
        var reset1 = await session.ResetAsync();
        var second = await session.SendAsync(Envelope("b@mx.test"), Content("two\r\n"));
        var reset2 = await session.ResetAsync();
        await server.CompletedAsync();

        Assert.Equal("queued 0", first.DataReply!.Lines[0]);
        Assert.Equal("queued 1", second.DataReply!.Lines[0]);
        Assert.Equal(250, reset1.Code);
        Assert.Equal(250, reset2.Code);
    }
}
