using System.Text;
using static Postern.Dns.Tests.Wire;

namespace Postern.Dns.Tests;

/// <summary>Bad answers give an error, never an exception.</summary>
public class CodecMalformedTests
{
    private static readonly byte[] OneAnswerHeader = Hex("00 01  80 00  00 00  00 01  00 00  00 00");

    public static TheoryData<string, byte[], string> Cases() => new()
    {
        { "empty", [], "header" },
        { "short header", Hex("00 01 80 00 00"), "header" },
        // The question name at offset 12 is a pointer to itself.
        { "self pointer", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  c0 0c  00 01 00 01")), "forward or loops" },
        // A label then a pointer back to the label: a loop.
        { "label then pointer to itself", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  01 61 c0 0c  00 01 00 01")), "forward or loops" },
        // Pointer to offset 0x3fff, far past the end.
        { "pointer out of range", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  ff ff  00 01 00 01")), "out of range" },
        // Pointer to offset 16, which lies after the pointer itself.
        { "forward pointer", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  c0 10  00 01 00 01  00")), "forward" },
        { "pointer cut in half", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  c0")), "past the end" },
        { "label type 01 (length 64)", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  40"), new byte[64], Hex("00 00 01 00 01")), "reserved label type" },
        { "label type 10", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  80 00 00 01 00 01")), "reserved label type" },
        { "name longer than 255", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00"), Label63(), Label63(), Label63(), Label63(), Hex("00  00 01 00 01")), "255" },
        { "name without end", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00  03 61 62 63")), "past the end" },
        { "question truncated", Concat(Hex("00 01  80 00  00 01  00 00  00 00  00 00"), Name("a"), Hex("00 01")), "truncated" },
        { "more answers than data", Concat(Hex("00 01  80 00  00 00  00 05  00 00  00 00"), Name("a"), Hex("00 01 00 01 00 00 00 01 00 04 7f 00 00 01")), "answer record 2" },
        { "record header truncated", Concat(OneAnswerHeader, Name("a"), Hex("00 01 00 01 00")), "truncated" },
        { "RDATA past the end", Concat(OneAnswerHeader, Name("a"), Hex("00 01 00 01 00 00 00 01 00 04 7f 00")), "past the end" },
        { "A with 5 bytes", Concat(OneAnswerHeader, Name("a"), Hex("00 01 00 01 00 00 00 01 00 05 7f 00 00 01 01")), "4 bytes" },
        { "AAAA with 4 bytes", Concat(OneAnswerHeader, Name("a"), Hex("00 1c 00 01 00 00 00 01 00 04 7f 00 00 01")), "16 bytes" },
        { "MX name crosses RDATA end", Concat(OneAnswerHeader, Name("a"), Hex("00 0f 00 01 00 00 00 01 00 04 00 0a 03 61"), Hex("62 63 00")), "past the end" },
        { "MX RDATA longer than its name", Concat(OneAnswerHeader, Name("a"), Hex("00 0f 00 01 00 00 00 01 00 05 00 0a 00 00 00")), "does not match" },
        { "TXT string past RDATA", Concat(OneAnswerHeader, Name("a"), Hex("00 10 00 01 00 00 00 01 00 03 05 61 62")), "TXT" },
        { "SOA too short", Concat(OneAnswerHeader, Name("a"), Hex("00 06 00 01 00 00 00 01 00 06 00 00 00 00 00 01")), "SOA" },
        { "TLSA too short", Concat(OneAnswerHeader, Name("a"), Hex("00 34 00 01 00 00 00 01 00 02 03 01")), "TLSA" },
        { "SRV too short", Concat(OneAnswerHeader, Name("a"), Hex("00 21 00 01 00 00 00 01 00 03 00 01 00")), "SRV" },
        { "pointer chain too long", PointerChain(300), "compression pointers" },
        { "name over 255 through pointers", LongNameThroughPointers(), "255" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Malformed_message_gives_an_error(string label, byte[] data, string expectedError)
    {
        var ok = DnsMessageCodec.TryParse(data, out var message, out var error);

        Assert.False(ok, label);
        Assert.Null(message);
        Assert.Contains(expectedError, error, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Truncated_message_with_TC_keeps_its_header_and_question()
    {
        // TC=1, says 3 answers but carries one and a half.
        var data = Concat(Hex("00 09  82 00  00 01  00 03  00 00  00 00"), Name("a"), Hex("00 01 00 01"),
            Hex("c0 0c 00 01 00 01 00 00 00 01 00 04 7f 00 00 01"), Hex("c0 0c 00 01"));

        Assert.True(DnsMessageCodec.TryParse(data, out var m, out _));

        Assert.True(m.IsTruncated);
        Assert.Equal("a", m.Questions[0].Name);
        Assert.Single(m.Answers);
    }

    [Fact]
    public void Trailing_bytes_after_the_counted_records_are_ignored()
    {
        var data = Concat(Hex("00 09  80 00  00 01  00 00  00 00  00 00"), Name("a"), Hex("00 01 00 01  de ad be ef"));

        Assert.True(DnsMessageCodec.TryParse(data, out var m, out _));
        Assert.Equal("a", m.Questions[0].Name);
    }

    private static byte[] Label63() => Concat([63], Encoding.ASCII.GetBytes(new string('x', 63)));

    /// <summary>
    /// Answer 1 owns "a" and carries in its RDATA a run of pointers, each to the one before (all backwards, so
    /// legal one by one); answer 2's owner name points at the last of them.
    /// </summary>
    private static byte[] PointerChain(int pointers)
    {
        var data = new List<byte>(Hex("00 01  80 00  00 00  00 02  00 00  00 00  01 61 00  ff 00 00 01 00 00 00 01"));
        data.Add((byte)((pointers * 2) >> 8));
        data.Add((byte)(pointers * 2));
        var previous = 12;
        for (var i = 0; i < pointers; i++)
        {
            var at = data.Count;
            data.Add((byte)(0xc0 | (previous >> 8)));
            data.Add((byte)previous);
            previous = at;
        }

        data.Add((byte)(0xc0 | (previous >> 8)));
        data.Add((byte)previous);
        data.AddRange(Hex("00 01 00 01 00 00 00 01 00 04 7f 00 00 01"));
        return [.. data];
    }

    /// <summary>Four 63-byte labels, each ending in a pointer to the one before: 4 × 64 + 1 > 255 bytes.</summary>
    private static byte[] LongNameThroughPointers()
    {
        var data = new List<byte>(Hex("00 01  80 00  00 00  00 05  00 00  00 00"));
        var previous = -1;
        for (var i = 0; i < 5; i++)
        {
            var at = data.Count;
            data.AddRange(Label63());
            if (previous < 0)
            {
                data.Add(0);
            }
            else
            {
                data.Add((byte)(0xc0 | (previous >> 8)));
                data.Add((byte)previous);
            }

            data.AddRange(Hex("00 01 00 01 00 00 00 01 00 04 7f 00 00 01"));
            previous = at;
        }

        return [.. data];
    }
}
