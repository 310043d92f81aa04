using System.Text;
using Postern.Protocols.Smtp.Client;
using static Postern.Protocols.Smtp.Tests.Client.ClientTestSupport;

namespace Postern.Protocols.Smtp.Tests.Client.EndToEnd;

/// <summary>BDAT into Postfix's smtpd (a real CHUNKING implementation); the message comes out at an smtp-sink behind it.</summary>
[Trait("Category", "EndToEnd")]
public sealed class PostfixChunkingTests
{
    [Fact]
    public async Task A_message_in_several_bdat_chunks_reaches_postfix_intact_with_its_dsn_parameters()
    {
        // All the header fields Postfix would otherwise add (Date, From), so that it adds only its Received.
        var text = new StringBuilder("Subject: chunked\r\nMessage-ID: <chunks@client.test>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nFrom: <sender@client.test>\r\nTo: <someone@far.test>\r\n\r\n");
        for (var i = 0; i < 3000; i++)
        {
            text.Append(i % 5 == 0 ? ".dot " : "line ").Append(i).Append(i % 11 == 0 ? "\n" : "\r\n");
        }

        text.Append(".\r\nlast line, no end");
        await using var relay = await PostfixRelay.StartAsync();
        await using var session = await relay.ConnectAsync(Options with { ChunkSize = 8192 });
        var commands = new List<string>();
        session.Transcript = commands.Add;
        await session.ReadGreetingAsync();
        await session.EhloAsync();
        Assert.True(session.Capabilities.Chunking, session.HelloReply!.ToString());

        var envelope = new SmtpEnvelope("sender@client.test", [new SmtpRecipient("someone@far.test") { Notify = DsnNotify.Failure, OriginalRecipient = "someone@orig.test" }])
        { EnvelopeId = "ENV-1" };
        // Small chunks: the 40-odd KB message goes out in several BDATs.
        var result = await session.SendAsync(envelope, SmtpMessageContent.FromStream(new MemoryStream(Encoding.ASCII.GetBytes(text.ToString())), BodyType.SevenBit));
        await session.QuitAsync();

        Assert.True(result.AllDelivered, result.DataReply?.ToString());
        Assert.True(result.UsedChunking);
        Assert.True(commands.Count(c => c.StartsWith("C: BDAT ", StringComparison.Ordinal)) >= 4, string.Join("\n", commands));
        Assert.Single(commands, c => c.StartsWith("C: BDAT ", StringComparison.Ordinal) && c.EndsWith(" LAST", StringComparison.Ordinal));
        var dump = Assert.Single(await relay.Sink.DumpsAsync(1));
        Assert.Contains("ENVID=ENV-1", dump.MailArgs, StringComparison.Ordinal);
        // Postfix passes the DSN parameters on (in its own order).
        var rcpt = Assert.Single(dump.RcptArgs);
        Assert.StartsWith("<someone@far.test> ", rcpt, StringComparison.Ordinal);
        Assert.Contains("NOTIFY=FAILURE", rcpt, StringComparison.Ordinal);
        Assert.Contains("ORCPT=rfc822;someone@orig.test", rcpt, StringComparison.Ordinal);
        // Postfix adds its Received header on top; everything after it is ours, line for line.
        var ours = text.ToString().Replace("\r\n", "\n", StringComparison.Ordinal) + "\n";
        Assert.True(dump.Message.EndsWith(ours, StringComparison.Ordinal), dump.Message[..Math.Min(600, dump.Message.Length)]);
        Assert.StartsWith("Received: from client.test", dump.Message, StringComparison.Ordinal);
    }
}
