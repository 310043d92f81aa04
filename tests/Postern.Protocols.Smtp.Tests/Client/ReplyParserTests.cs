using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client;

public sealed class ReplyParserTests
{
    private static readonly SmtpReplyLimits Limits = new() { MaxLineLength = 128, MaxLines = 8 };

    public static TheoryData<string, int, string?, string[]> Valid => new()
    {
        { "220 mx.test ESMTP\r\n", 220, null, ["mx.test ESMTP"] },
        { "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 250, null, ["mx.test", "PIPELINING", "SIZE 100"] },
        { "550 5.1.1 <a@b> no such user\r\n", 550, "5.1.1", ["<a@b> no such user"] },
        { "451-4.3.0 first\r\n451-4.3.0 second\r\n451 4.3.0 third\r\n", 451, "4.3.0", ["first", "second", "third"] },
        { "250\r\n", 250, null, [""] },
        { "250 \r\n", 250, null, [""] },
        { "354 End data with <CR><LF>.<CR><LF>\n", 354, null, ["End data with <CR><LF>.<CR><LF>"] },
        { "250-\r\n250 \r\n", 250, null, ["", ""] },
        // A status of another class than the code is text, not a status.
        { "250 5.0.0 odd\r\n", 250, null, ["5.0.0 odd"] },
        { "250 2.0.0\r\n", 250, "2.0.0", [""] },
        { "421 bad\u0001byte\r\n", 421, null, ["bad?byte"] },
    };

    [Theory]
    [MemberData(nameof(Valid))]
    public void Parses_a_whole_reply_and_consumes_exactly_it(string wire, int code, string? status, string[] lines)
    {
        var bytes = Encoding.UTF8.GetBytes(wire + "220 next\r\n");
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes));

        Assert.Equal(ReplyParseStatus.Reply, SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out _));

        Assert.Equal(code, reply!.Code);
        Assert.Equal(status, reply.Status?.ToString());
        Assert.Equal(lines, reply.Lines);
        Assert.Equal(Encoding.UTF8.GetByteCount(wire), reader.Consumed);
        Assert.Equal(ReplyParseStatus.Reply, SmtpReplyParser.TryParse(ref reader, Limits, out var next, out _));
        Assert.Equal(220, next!.Code);
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void Every_prefix_needs_more_data_and_consumes_nothing(string wire, int code, string? status, string[] lines)
    {
        _ = (code, status, lines);
        var bytes = Encoding.UTF8.GetBytes(wire);
        for (var length = 0; length < bytes.Length; length++)
        {
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(bytes, 0, length));
            Assert.Equal(ReplyParseStatus.NeedMoreData, SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out _));
            Assert.Null(reply);
            Assert.Equal(0, reader.Consumed);
        }
    }

    [Theory]
    [MemberData(nameof(Valid))]
    public void One_byte_per_segment_parses_the_same(string wire, int code, string? status, string[] lines)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        var reader = new SequenceReader<byte>(Segments.OneBytePerSegment(bytes));

        Assert.Equal(ReplyParseStatus.Reply, SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out _));

        Assert.Equal(code, reply!.Code);
        Assert.Equal(status, reply.Status?.ToString());
        Assert.Equal(lines, reply.Lines);
        Assert.True(reader.End);
    }

    [Theory]
    [InlineData("HTTP/1.1 400 Bad Request\r\n")]
    [InlineData("25 short\r\n")]
    [InlineData("2500 long code\r\n")]
    [InlineData("250_text\r\n")]
    [InlineData("650 out of range\r\n")]
    [InlineData("260 out of range\r\n")]
    [InlineData("250-a\r\n550 b\r\n")]
    [InlineData("\r\n")]
    public void Rejects_what_is_not_a_reply(string wire)
    {
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(wire)));

        Assert.Equal(ReplyParseStatus.Malformed, SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out var error));

        Assert.Null(reply);
        Assert.NotNull(error);
        Assert.Equal(0, reader.Consumed);
    }

    [Fact]
    public void A_line_over_the_limit_is_refused_before_its_end_arrives_and_so_are_too_many_lines()
    {
        var partial = Encoding.ASCII.GetBytes("250-" + new string('x', 200));
        var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(partial));
        Assert.Equal(ReplyParseStatus.Malformed, SmtpReplyParser.TryParse(ref reader, Limits, out _, out var error));
        Assert.Contains("longer than 128", error, StringComparison.Ordinal);

        var many = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("250-x\r\n", 9)));
        reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(many));
        Assert.Equal(ReplyParseStatus.Malformed, SmtpReplyParser.TryParse(ref reader, Limits, out _, out error));
        Assert.Contains("more than 8 lines", error, StringComparison.Ordinal);

        var eight = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("250-x\r\n", 7)) + "250 x\r\n");
        reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(eight));
        Assert.Equal(ReplyParseStatus.Reply, SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out _));
        Assert.Equal(8, reply!.Lines.Count);
    }

    [Fact]
    public void Random_bytes_never_throw_and_never_leave_more_than_the_limits_waiting()
    {
        var fragments = Gen.Elements("250", "250-", "250 ", "550 5.1.1 ", "2.0.0 ", "\r\n", "\n", "\r", "-", " ", "x", "421", "9", "\u00ff");
        var noise = Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i)).Select(b => Encoding.Latin1.GetString(b));
        var input = Gen.ListOf(Gen.OneOf(fragments, noise)).Select(parts => Encoding.Latin1.GetBytes(string.Concat(parts)));
        Check.QuickThrowOnFailure(Prop.ForAll(input.ToArbitrary(), bytes =>
        {
            var sequence = bytes.Length % 2 == 0 ? new ReadOnlySequence<byte>(bytes) : Segments.OneBytePerSegment(bytes);
            var reader = new SequenceReader<byte>(sequence);
            while (true)
            {
                var before = reader.Consumed;
                var status = SmtpReplyParser.TryParse(ref reader, Limits, out var reply, out var error);
                switch (status)
                {
                    case ReplyParseStatus.Reply:
                        if (reply is null || reader.Consumed <= before || reply.Lines.Count > Limits.MaxLines || reply.Code is < 200 or > 559)
                        {
                            return false;
                        }

                        continue;
                    case ReplyParseStatus.Malformed:
                        return error is not null && reader.Consumed == before;
                    default:
                        // Waiting only for a reply that can still fit the limits.
                        return reader.Consumed == before && reader.Remaining <= (long)Limits.MaxLines * Limits.MaxLineLength;
                }
            }
        }));
    }

    [Fact]
    public void Replies_written_by_the_server_side_parse_back_to_the_same_reply()
    {
        var text = Gen.Elements("ok", "no such user", "Grüße", "", "a b  c", "<a@b.test>");
        var reply = from code in Gen.Elements(220, 250, 334, 354, 421, 451, 550, 554)
                    from enhanced in Gen.Elements(true, false)
                    from lines in Gen.NonEmptyListOf(text)
                    select new SmtpReply(code, enhanced && code is not (334 or 354) ? new EnhancedStatusCode(code / 100, 1, 5) : null, lines.Take(8).ToList());
        Check.QuickThrowOnFailure(Prop.ForAll(reply.ToArbitrary(), original =>
        {
            var reader = new SequenceReader<byte>(Segments.OneBytePerSegment(original.ToBytes()));
            return SmtpReplyParser.TryParse(ref reader, Limits, out var parsed, out _) == ReplyParseStatus.Reply
                && parsed!.Code == original.Code
                && parsed.Status == original.Status
                && parsed.Lines.SequenceEqual(original.Lines)
                && reader.End;
        }));
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
