using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Protocols.Smtp.Tests;

public sealed class DataDecoderTests
{
    private static (string Message, DataDefects Defects, bool Done, long Consumed) Decode(string wire, long max = 1_000_000, bool oneBytePerSegment = false, bool normalize = false)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        var sequence = oneBytePerSegment ? Segments.OneBytePerSegment(bytes) : new ReadOnlySequence<byte>(bytes);
        var decoder = new DataDecoder(max, normalize);
        var output = new ArrayBufferWriter<byte>();
        var reader = new SequenceReader<byte>(sequence);
        var done = decoder.Decode(ref reader, output);
        return (Encoding.UTF8.GetString(output.WrittenSpan), decoder.Defects, done, reader.Consumed);
    }

    [Fact]
    public void Dot_stuffing_is_removed_and_the_end_marker_stops_decoding()
    {
        var (message, defects, done, consumed) = Decode("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n");
        Assert.True(done);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\n", message);
        Assert.Equal(DataDefects.None, defects);
        Assert.Equal("Subject: x\r\n\r\n..leading dot\r\n.\r\n".Length, consumed);
    }

    [Fact]
    public void An_empty_message_ends_at_once()
    {
        var (message, _, done, _) = Decode(".\r\n");
        Assert.True(done);
        Assert.Equal(string.Empty, message);
    }

    [Theory]
    [InlineData("a\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n", DataDefects.BareLineFeed)]
    [InlineData("a\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n", DataDefects.BareLineFeed)]
    [InlineData("a\r.\r\nMAIL FROM:<evil@x>\r\n.\r\n", DataDefects.BareCarriageReturn)]
    public void Smuggling_end_markers_are_content_and_flagged(string wire, DataDefects expected)
    {
        var (message, defects, done, _) = Decode(wire);
        Assert.True(done);
        Assert.True(defects.HasFlag(expected), defects.ToString());
        Assert.Contains("MAIL FROM:<evil@x>", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a\nb\r\n.\r\n", "a\r\nb\r\n", DataDefects.BareLineFeed)]
    [InlineData("a\rb\r\n.\r\n", "a\r\nb\r\n", DataDefects.BareCarriageReturn)]
    [InlineData("a\r\r\nb\r\n.\r\n", "a\r\n\r\nb\r\n", DataDefects.BareCarriageReturn)]
    [InlineData("a\n.\r\nMAIL FROM:<evil@x>\r\n.\r\n", "a\r\n.\r\nMAIL FROM:<evil@x>\r\n", DataDefects.BareLineFeed)]
    [InlineData("a\r\n.\nMAIL FROM:<evil@x>\r\n.\r\n", "a\r\n\r\nMAIL FROM:<evil@x>\r\n", DataDefects.BareLineFeed)]
    [InlineData("end\r\n\n.\n\r\n.\r\n", "end\r\n\r\n.\r\n\r\n", DataDefects.BareLineFeed)]
    public void Normalising_stores_crlf_for_bare_line_ends_but_never_ends_the_message_there(string wire, string expected, DataDefects defects)
    {
        foreach (var split in new[] { false, true })
        {
            var (message, actual, done, _) = Decode(wire, oneBytePerSegment: split, normalize: true);
            Assert.True(done);
            Assert.Equal(expected, message);
            Assert.Equal(defects, actual);
        }
    }

    [Fact]
    public void Normalised_output_never_holds_a_bare_cr_or_lf()
    {
        Check.QuickThrowOnFailure(Prop.ForAll(
            Gen.ListOf(Gen.Elements("a", ".", "\r", "\n", "\r\n", "..", "x\r\n.\r\n")).Select(parts => string.Concat(parts) + "\r\n.\r\n").ToArbitrary(),
            wire =>
            {
                var (message, _, _, _) = Decode(wire, normalize: true);
                for (var i = 0; i < message.Length; i++)
                {
                    if ((message[i] == '\r' && (i + 1 == message.Length || message[i + 1] != '\n')) || (message[i] == '\n' && (i == 0 || message[i - 1] != '\r')))
                    {
                        return false;
                    }
                }

                return true;
            }));
    }

    [Fact]
    public void Oversized_messages_are_read_to_the_end_without_being_kept()
    {
        var body = string.Concat(Enumerable.Repeat("0123456789\r\n", 100));
        var (message, defects, done, _) = Decode(body + ".\r\n", max: 50);
        Assert.True(done);
        Assert.True(defects.HasFlag(DataDefects.TooBig));
        Assert.Equal(50, message.Length);
    }

    [Fact]
    public void Long_lines_are_flagged()
    {
        Assert.True(Decode(new string('x', 1200) + "\r\n.\r\n").Defects.HasFlag(DataDefects.LongLine));
        Assert.False(Decode(new string('x', 998) + "\r\n.\r\n").Defects.HasFlag(DataDefects.LongLine));
    }

    [Fact]
    public void An_incomplete_stream_waits_at_a_line_start_that_cannot_be_judged()
    {
        var (message, _, done, consumed) = Decode("hello\r\n.");
        Assert.False(done);
        Assert.Equal("hello\r\n", message);
        Assert.Equal(7, consumed);
    }

    [Fact]
    public void Decoding_one_byte_per_segment_gives_the_same_result()
    {
        var alphabet = Gen.Elements("a", ".", "\r\n", "..", "\r", "\n", "x\r\n.", "é");
        var gen = Gen.ListOf(alphabet).Select(parts => string.Concat(parts) + "\r\n.\r\n");
        Check.QuickThrowOnFailure(Prop.ForAll(gen.ToArbitrary(), wire =>
            Decode(wire) == Decode(wire, oneBytePerSegment: true)));
    }

    [Fact]
    public void Stuffed_content_round_trips()
    {
        var lines = Gen.ListOf(Gen.Elements("", ".", "..", "a.b", ".x", "text", "Subject: hi"));
        Check.QuickThrowOnFailure(Prop.ForAll(lines.ToArbitrary(), ls =>
        {
            var original = string.Concat(ls.Select(l => l + "\r\n"));
            var stuffed = string.Concat(ls.Select(l => (l.StartsWith('.') ? "." + l : l) + "\r\n")) + ".\r\n";
            var (message, defects, done, consumed) = Decode(stuffed);
            return done && defects == DataDefects.None && message == original && consumed == Encoding.UTF8.GetByteCount(stuffed);
        }));
    }
}
