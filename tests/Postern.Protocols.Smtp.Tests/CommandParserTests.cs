using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Protocols.Smtp.Tests;

public sealed class CommandParserTests
{
    private static SmtpCommand P(string line) => SmtpCommandParser.Parse(Encoding.UTF8.GetBytes(line));

    [Theory]
    [InlineData("EHLO client.example.org", SmtpVerb.Ehlo, "client.example.org")]
    [InlineData("ehlo [192.0.2.1]", SmtpVerb.Ehlo, "[192.0.2.1]")]
    [InlineData("HELO x.test extra words", SmtpVerb.Helo, "x.test")]
    [InlineData("LHLO lmtp.test", SmtpVerb.Lhlo, "lmtp.test")]
    public void Hello_commands_keep_the_client_name(string line, SmtpVerb verb, string name)
    {
        var c = P(line);
        Assert.True(c.IsValid);
        Assert.Equal(verb, c.Verb);
        Assert.Equal(name, c.ClientName);
    }

    [Theory]
    [InlineData("MAIL FROM:<alice@example.com>", "alice@example.com")]
    [InlineData("mail from:<alice@example.com>", "alice@example.com")]
    [InlineData("MAIL FROM: <alice@example.com>", "alice@example.com")]
    [InlineData("MAIL FROM:alice@example.com", "alice@example.com")]
    [InlineData("MAIL FROM:<@relay1.test,@relay2.test:alice@example.com>", "alice@example.com")]
    [InlineData("MAIL FROM:<\"odd > name\"@example.com>", "\"odd > name\"@example.com")]
    [InlineData("MAIL FROM:<user@[192.0.2.7]>", "user@[192.0.2.7]")]
    [InlineData("MAIL FROM:<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]")]
    public void Mail_from_paths(string line, string address)
    {
        var c = P(line);
        Assert.True(c.IsValid, c.Error?.ToString());
        Assert.Equal(address, c.Path!.Address);
    }

    [Fact]
    public void The_null_reverse_path_is_allowed_in_mail_but_not_in_rcpt()
    {
        Assert.True(P("MAIL FROM:<>").Path!.IsNull);
        Assert.Equal(501, P("RCPT TO:<>").Error!.Code);
    }

    [Fact]
    public void Bare_postmaster_is_accepted_as_a_recipient()
    {
        var c = P("RCPT TO:<Postmaster>");
        Assert.True(c.Path!.IsPostmaster);
        Assert.Equal(553, P("MAIL FROM:<postmaster>").Error!.Code);
    }

    [Fact]
    public void Mail_parameters_are_parsed()
    {
        var c = P("MAIL FROM:<a@b.test> SIZE=12345 BODY=8BITMIME RET=HDRS ENVID=QQ+2Bid+3D1 AUTH=<> REQUIRETLS");
        Assert.True(c.IsValid, c.Error?.ToString());
        var p = c.MailParameters!;
        Assert.Equal(12345, p.Size);
        Assert.Equal(BodyType.EightBitMime, p.Body);
        Assert.Equal(DsnReturn.Headers, p.Return);
        Assert.Equal("QQ+id=1", p.EnvelopeId);
        Assert.Equal("<>", p.Auth);
        Assert.True(p.RequireTls);
    }

    [Fact]
    public void Rcpt_dsn_parameters_are_parsed()
    {
        var c = P("RCPT TO:<bob@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+40example.com");
        Assert.True(c.IsValid, c.Error?.ToString());
        Assert.Equal(DsnNotify.Success | DsnNotify.Delay, c.RcptParameters!.Notify);
        Assert.Equal(("rfc822", "Bob@example.com"), (c.RcptParameters.OriginalRecipientType, c.RcptParameters.OriginalRecipient));
    }

    [Fact]
    public void Smtputf8_addresses_need_the_parameter()
    {
        Assert.Equal(553, P("MAIL FROM:<jürgen@bücher.example>").Error!.Code);
        var c = P("MAIL FROM:<jürgen@bücher.example> SMTPUTF8");
        Assert.True(c.IsValid);
        Assert.True(c.Path!.IsInternational);
        Assert.True(P("RCPT TO:<ünïcode@example.com>").IsValid);
    }

    [Theory]
    [InlineData("MAIL TO:<a@b.test>", 501)]
    [InlineData("MAIL FROM:<a@b.test", 501)]
    [InlineData("MAIL FROM:<a@b.test>x", 501)]
    [InlineData("MAIL FROM:<a@b.test> SIZE=abc", 501)]
    [InlineData("MAIL FROM:<a@b.test> SIZE=1 SIZE=2", 501)]
    [InlineData("MAIL FROM:<a@b.test> BODY=9BIT", 501)]
    [InlineData("MAIL FROM:<a@b.test> FROBNICATE=1", 555)]
    [InlineData("MAIL FROM:<a..b@b.test>", 553)]
    [InlineData("MAIL FROM:<a b@b.test>", 553)]
    [InlineData("MAIL FROM:<a@-b.test>", 553)]
    [InlineData("MAIL FROM:<a@[300.1.1.1]>", 553)]
    [InlineData("MAIL FROM:<nodomain>", 553)]
    [InlineData("RCPT TO:<b@c.test> NOTIFY=NEVER,SUCCESS", 501)]
    [InlineData("RCPT TO:<b@c.test> NOTIFY=SOMETIMES", 501)]
    [InlineData("RCPT TO:<b@c.test> ORCPT=nonsense", 501)]
    [InlineData("BDAT", 501)]
    [InlineData("BDAT 10 NOTLAST", 501)]
    [InlineData("BDAT -1", 501)]
    [InlineData("DATA now", 501)]
    [InlineData("FOO bar", 500)]
    [InlineData("", 500)]
    [InlineData("EHLO", 501)]
    [InlineData("AUTH", 501)]
    public void Bad_commands_get_the_right_reply_code(string line, int code)
    {
        var c = P(line);
        Assert.False(c.IsValid);
        Assert.Equal(code, c.Error!.Code);
        Assert.NotNull(c.Error.Status);
    }

    [Fact]
    public void Bdat_and_auth()
    {
        var b = P("BDAT 1048576 LAST");
        Assert.Equal((1048576L, true), (b.ChunkSize, b.LastChunk));
        var a = P("AUTH plain AHVzZXIAcGFzcw==");
        Assert.Equal(("PLAIN", "AHVzZXIAcGFzcw=="), (a.Mechanism, a.InitialResponse));
    }

    [Fact]
    public void Invalid_utf8_and_nul_are_refused()
    {
        Assert.Equal(501, SmtpCommandParser.Parse(new byte[] { (byte)'N', (byte)'O', (byte)'O', (byte)'P', (byte)' ', 0xC3, 0x28 }).Error!.Code);
        Assert.Equal(500, P("NOOP\0").Error!.Code);
    }

    [Fact]
    public void Replies_echo_no_control_characters()
    {
        var reply = new SmtpReply(501, new EnhancedStatusCode(5, 5, 4), "bad\r\nINJECTED");
        Assert.Equal("501 5.5.4 bad??INJECTED\r\n", reply.ToString());
        var multi = new SmtpReply(250, null, ["mx.test", "PIPELINING", "SIZE 1000"]);
        Assert.Equal("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", multi.ToString());
    }

    [Fact]
    public void Xtext_round_trips()
    {
        Check.QuickThrowOnFailure(Prop.ForAll<string>(s =>
        {
            if (s is null || s.Any(char.IsSurrogate))
            {
                return true;
            }

            var encoded = XText.Encode(s);
            return encoded.All(c => c is >= '!' and <= '~' && c != '=') && XText.TryDecode(encoded, out var back) && Encoding.Latin1.GetBytes(back).SequenceEqual(Encoding.UTF8.GetBytes(s));
        }));
    }

    [Fact]
    public void Parsing_is_total_on_random_lines()
    {
        var prefixes = Gen.Elements("MAIL FROM:", "RCPT TO:", "EHLO ", "BDAT ", "AUTH ", "", "MAIL FROM:<", "RCPT TO:<\"");
        var gen = from prefix in prefixes
                  from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))
                  select Encoding.ASCII.GetBytes(prefix).Concat(bytes).ToArray();
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), line =>
        {
            var c = SmtpCommandParser.Parse(line);
            return c.IsValid || c.Error!.Code >= 500;
        }));
    }

    [Fact]
    public void Every_prefix_of_a_line_needs_more_data_and_consumes_nothing()
    {
        var bytes = Encoding.ASCII.GetBytes("MAIL FROM:<a@b.test>\r\n");
        for (var n = 0; n < bytes.Length; n++)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, n));
            Assert.Equal(LineStatus.NeedMoreData, SmtpCommandParser.TryReadLine(ref reader, 512, out _));
            Assert.Equal(0, reader.Consumed);
        }

        var full = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref full, 512, out var line));
        Assert.Equal("MAIL FROM:<a@b.test>", Encoding.ASCII.GetString(line.ToArray()));
        Assert.Equal(bytes.Length, full.Consumed);
    }

    [Fact]
    public void Lines_split_one_byte_per_segment_parse_the_same()
    {
        var bytes = Encoding.ASCII.GetBytes("RCPT TO:<bob@example.com> NOTIFY=FAILURE\r\nNOOP\r\n");
        var sequence = Segments.OneBytePerSegment(bytes);
        var reader = new SequenceReader<byte>(sequence);
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref reader, 512, out var first));
        Assert.Equal("bob@example.com", SmtpCommandParser.Parse(first).Path!.Address);
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref reader, 512, out var second));
        Assert.Equal(SmtpVerb.Noop, SmtpCommandParser.Parse(second).Verb);
    }

    [Fact]
    public void Too_long_lines_are_consumed_and_reported_once()
    {
        var bytes = Encoding.ASCII.GetBytes(new string('A', 600) + "\r\nNOOP\r\n");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));
        Assert.Equal(LineStatus.TooLong, SmtpCommandParser.TryReadLine(ref reader, 512, out _));
        Assert.Equal(LineStatus.Line, SmtpCommandParser.TryReadLine(ref reader, 512, out var next));
        Assert.Equal(SmtpVerb.Noop, SmtpCommandParser.Parse(next).Verb);

        var endless = new SequenceReader<byte>(new ReadOnlySequence<byte>(new byte[5000]));
        Assert.Equal(LineStatus.TooLong, SmtpCommandParser.TryReadLine(ref endless, 512, out _));
        Assert.True(endless.End);
    }
}

internal static class Segments
{
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
