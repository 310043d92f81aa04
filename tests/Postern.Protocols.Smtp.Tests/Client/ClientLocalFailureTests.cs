using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client;

/// <summary>Messages the peer cannot take as they are: refused before anything is sent, with the codes a DSN quotes.</summary>
public sealed class ClientLocalFailureTests
{
    /// <summary>Runs one SendAsync against a peer offering <paramref name="keywords"/> that expects nothing but QUIT.</summary>
    private static async Task<SmtpTransactionResult> RefusedLocallyAsync(SmtpEnvelope envelope, SmtpMessageContent content, params string[] keywords)
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync(keywords);
            Assert.Equal("QUIT", await peer.ReadLineAsync());
            await peer.ReplyAsync("221 bye");
        });
        var session = await ReadyAsync(server);
        var result = await session.SendAsync(envelope, content);
        await session.QuitAsync();
        await server.CompletedAsync();
        Assert.True(result.ConnectionUsable);
        Assert.False(result.ContentSent);
        return result;
    }

    [Fact]
    public async Task A_message_over_the_peers_size_limit_fails_permanently_with_5_3_4()
    {
        var result = await RefusedLocallyAsync(Envelope("a@mx.test"), Content(new string('x', 200) + "\r\n"), "SIZE 100", "PIPELINING");

        Assert.Equal(SmtpLocalFailure.MessageTooBig, result.LocalFailure);
        Assert.Equal(552, result.LocalReply!.Code);
        Assert.Equal(new EnhancedStatusCode(5, 3, 4), result.LocalReply.Status);
        Assert.Equal(SmtpRecipientOutcome.Failed, result.Recipients[0].Outcome);
        Assert.True(result.Recipients[0].RefusedLocally);
    }

    [Fact]
    public async Task A_message_needing_smtputf8_to_a_peer_without_it_fails_permanently_with_5_6_7()
    {
        var flagged = await RefusedLocallyAsync(Envelope("a@mx.test") with { RequiresSmtpUtf8 = true }, Content("Subject: x\r\n\r\ny\r\n"), "8BITMIME");
        var utf8Local = await RefusedLocallyAsync(Envelope("jörg@mx.test"), Content("x\r\n"), "8BITMIME");

        foreach (var result in new[] { flagged, utf8Local })
        {
            Assert.Equal(SmtpLocalFailure.SmtpUtf8Unsupported, result.LocalFailure);
            Assert.Equal(new EnhancedStatusCode(5, 6, 7), result.LocalReply!.Status);
            Assert.True(result.LocalReply.IsPermanentFailure);
            Assert.All(result.Recipients, r => Assert.Equal(SmtpRecipientOutcome.Failed, r.Outcome));
        }
    }

    [Fact]
    public async Task Eight_bit_content_to_a_peer_without_8bitmime_is_refused_with_a_code_the_caller_downgrades_on()
    {
        var result = await RefusedLocallyAsync(Envelope("a@mx.test"), Content("Subject: Grüße\r\n\r\nü\r\n"), "PIPELINING");

        Assert.Equal(SmtpLocalFailure.EightBitUnsupported, result.LocalFailure);
        Assert.Equal(new EnhancedStatusCode(5, 6, 3), result.LocalReply!.Status);
    }

    [Fact]
    public async Task Binary_content_without_binarymime_and_chunking_is_refused()
    {
        var result = await RefusedLocallyAsync(Envelope("a@mx.test"), Content("x\r\n", BodyType.BinaryMime), "8BITMIME", "BINARYMIME");

        Assert.Equal(SmtpLocalFailure.BinaryUnsupported, result.LocalFailure);
    }

    [Fact]
    public async Task Requiretls_is_never_sent_in_the_clear_nor_to_a_peer_without_requiretls()
    {
        var result = await RefusedLocallyAsync(Envelope("a@mx.test") with { RequireTls = true }, Content("x\r\n"), "REQUIRETLS", "PIPELINING");

        Assert.Equal(SmtpLocalFailure.RequireTlsUnavailable, result.LocalFailure);
        Assert.Equal(550, result.LocalReply!.Code);
        Assert.Equal(new EnhancedStatusCode(5, 7, 30), result.LocalReply.Status);
        Assert.Contains("not encrypted", result.LocalReply.Lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sender_address_that_would_break_the_command_line_is_not_sent()
    {
        var result = await RefusedLocallyAsync(new SmtpEnvelope("a@b.test> RCPT TO:<victim@x.test", [new SmtpRecipient("a@mx.test")]), Content("x\r\n"));

        Assert.Equal(SmtpLocalFailure.InvalidSender, result.LocalFailure);
        Assert.Equal(new EnhancedStatusCode(5, 1, 7), result.LocalReply!.Status);
    }

    [Fact]
    public async Task A_recipient_with_a_line_break_is_refused_alone_and_the_others_are_sent()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("PIPELINING");
            await peer.ExpectAsync("MAIL FROM:");
            Assert.Equal("RCPT TO:<good@mx.test>", await peer.ReadLineAsync());
            Assert.Equal("DATA", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok", "250 ok", "354 go");
            await peer.ReadDataAsync();
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("bad@mx.test\r\nRSET", "good@mx.test", "sp ace@mx.test"), Content("x\r\n"));
        await server.CompletedAsync();

        Assert.Equal([SmtpRecipientOutcome.Failed, SmtpRecipientOutcome.Delivered, SmtpRecipientOutcome.Failed], result.Recipients.Select(r => r.Outcome));
        Assert.True(result.Recipients[0].RefusedLocally);
        Assert.Equal(new EnhancedStatusCode(5, 1, 3), result.Recipients[0].Reply!.Status);
        Assert.DoesNotContain("RSET", server.Peer!.ReceivedText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Utf8_addresses_go_out_with_smtputf8_when_offered_and_idn_domains_as_a_labels_when_not()
    {
        string? offered = null;
        string? notOffered = null;
        foreach (var smtpUtf8 in new[] { true, false })
        {
            await using var server = ScriptedSmtpServer.Start(async peer =>
            {
                await peer.HelloAsync(smtpUtf8 ? ["PIPELINING", "8BITMIME", "SMTPUTF8"] : ["PIPELINING", "8BITMIME"]);
                var lines = string.Join("\n", await peer.ReadLineAsync(), await peer.ReadLineAsync());
                await peer.ExpectAsync("DATA");
                await peer.ReplyAsync("250 ok", "250 ok", "354 go");
                await peer.ReadDataAsync();
                await peer.ReplyAsync("250 ok");
                if (smtpUtf8)
                {
                    offered = lines;
                }
                else
                {
                    notOffered = lines;
                }
            });
            var session = await ReadyAsync(server);
            var result = await session.SendAsync(new SmtpEnvelope("sender@bücher.test", [new SmtpRecipient("a@münchen.test")]), Content("x\r\n"));
            await server.CompletedAsync();
            Assert.True(result.AllDelivered);
        }

        Assert.Equal("MAIL FROM:<sender@bücher.test> SMTPUTF8\nRCPT TO:<a@münchen.test>", offered);
        Assert.Equal("MAIL FROM:<sender@xn--bcher-kva.test>\nRCPT TO:<a@xn--mnchen-3ya.test>", notOffered);
    }

    [Fact]
    public async Task Requiretls_and_smtputf8_go_out_as_parameters_when_possible()
    {
        await using var server = ScriptedSmtpServer.Start(async peer =>
        {
            await peer.HelloAsync("SMTPUTF8", "8BITMIME");
            Assert.Equal("MAIL FROM:<sender@client.test> BODY=8BITMIME SMTPUTF8", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok");
            Assert.Equal("RCPT TO:<ü@mx.test>", await peer.ReadLineAsync());
            await peer.ReplyAsync("250 ok");
            await peer.ExpectAsync("DATA");
            await peer.ReplyAsync("354 go");
            Assert.Equal("Subject: ü\r\n\r\n.\r\n", Encoding.UTF8.GetString(await peer.ReadDataAsync()));
            await peer.ReplyAsync("250 ok");
        });
        var session = await ReadyAsync(server);

        var result = await session.SendAsync(Envelope("ü@mx.test"), Content("Subject: ü\r\n\r\n"));
        await server.CompletedAsync();

        Assert.True(result.AllDelivered);
    }
}
