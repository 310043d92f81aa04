using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Protocols.Smtp.Client;

namespace Postern.Protocols.Smtp.Tests.Client;

public sealed class CapabilitiesAndEncoderTests
{
    private static SmtpServerCapabilities Parse(params string[] lines) =>
        SmtpServerCapabilities.Parse(new SmtpReply(250, null, ["mx.test hello", .. lines]));

    [Fact]
    public void Size_without_a_number_or_zero_means_no_fixed_limit()
    {
        Assert.True(Parse("SIZE").Size);
        Assert.Null(Parse("SIZE").MaxMessageSize);
        Assert.Null(Parse("SIZE 0").MaxMessageSize);
        Assert.Null(Parse("SIZE lots").MaxMessageSize);
        Assert.Equal(52428800, Parse("size 52428800").MaxMessageSize);
        Assert.False(Parse("PIPELINING").Size);
    }

    [Fact]
    public void Auth_in_both_forms_gives_the_union_of_mechanisms_and_the_first_line_is_not_a_keyword()
    {
        var caps = SmtpServerCapabilities.Parse(new SmtpReply(250, null, ["PIPELINING is my name", "AUTH LOGIN", "AUTH=login plain", "\tdsn\t"]));

        Assert.Equal(["LOGIN", "PLAIN"], caps.AuthMechanisms.Order(StringComparer.Ordinal));
        Assert.False(caps.Pipelining);
        Assert.True(caps.Dsn);
        Assert.True(caps.Has("dsn"));
    }

    [Fact]
    public void A_refused_hello_offers_nothing()
    {
        Assert.Same(SmtpServerCapabilities.None, SmtpServerCapabilities.Parse(new SmtpReply(502, null, ["no", "PIPELINING"])));
    }

    [Theory]
    [InlineData("", ".\r\n")]
    [InlineData("a", "a\r\n.\r\n")]
    [InlineData(".", "..\r\n.\r\n")]
    [InlineData("a\r\n.\r\n", "a\r\n..\r\n.\r\n")]
    [InlineData("\r\n.\r\n", "\r\n..\r\n.\r\n")]
    [InlineData("x\ny", "x\r\ny\r\n.\r\n")]
    [InlineData("x\ry\r", "x\r\ny\r\n.\r\n")]
    [InlineData("x\r\r\n", "x\r\n\r\n.\r\n")]
    [InlineData("\n.", "\r\n..\r\n.\r\n")]
    public void Data_encoding_stuffs_dots_and_normalises_line_ends(string input, string wire)
    {
        Assert.Equal(wire, Encode(Encoding.ASCII.GetBytes(input), dotStuff: true, step: int.MaxValue));
        Assert.Equal(wire, Encode(Encoding.ASCII.GetBytes(input), dotStuff: true, step: 1));
    }

    [Fact]
    public void Binary_content_passes_unchanged()
    {
        var bytes = new byte[] { 0, 13, 10, 13, (byte)'.', 10, 255 };
        var output = new ArrayBufferWriter<byte>();
        var encoder = new BodyEncoder(dotStuff: false, binary: true);
        encoder.Encode(bytes, output);
        encoder.Finish(output);

        Assert.Equal(bytes, output.WrittenSpan.ToArray());
    }

    [Fact]
    public void Random_content_goes_out_without_bare_line_ends_and_the_servers_decoder_gets_it_back()
    {
        var pieces = Gen.Elements("\r", "\n", "\r\n", ".", "..", ".\r\n", "a", "é", " ", "\0");
        var input = from parts in Gen.ListOf(pieces)
                    from step in Gen.Choose(1, 7)
                    select (Encoding.UTF8.GetBytes(string.Concat(parts)), step);
        Check.QuickThrowOnFailure(Prop.ForAll(input.ToArbitrary(), sample =>
        {
            var (bytes, step) = sample;
            var wire = Encoding.UTF8.GetBytes(Encode(bytes, dotStuff: true, step));
            if (!NoBareLineEnds(wire) || !wire.AsSpan().EndsWith("\r\n.\r\n"u8) && !wire.AsSpan().SequenceEqual(".\r\n"u8))
            {
                return false;
            }

            // The server side's DATA decoder (dot-unstuffing) must see exactly one message, ending at our dot.
            var decoder = new DataDecoder(long.MaxValue);
            var decoded = new ArrayBufferWriter<byte>();
            var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(wire));
            var complete = decoder.Decode(ref reader, decoded);
            var expected = Normalised(bytes);
            return complete && reader.End && decoder.Defects == DataDefects.None && decoded.WrittenSpan.SequenceEqual(expected);
        }));
    }

    private static string Encode(byte[] input, bool dotStuff, int step)
    {
        var output = new ArrayBufferWriter<byte>();
        var encoder = new BodyEncoder(dotStuff);
        for (var i = 0; i < input.Length; i += step)
        {
            encoder.Encode(input.AsSpan(i, Math.Min(step, input.Length - i)), output);
        }

        encoder.Finish(output);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    private static bool NoBareLineEnds(byte[] wire)
    {
        for (var i = 0; i < wire.Length; i++)
        {
            if (wire[i] == '\r' && (i + 1 >= wire.Length || wire[i + 1] != '\n'))
            {
                return false;
            }

            if (wire[i] == '\n' && (i == 0 || wire[i - 1] != '\r'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The reference: every CRLF, bare CR and bare LF becomes CRLF, and a last line gets its CRLF.</summary>
    private static byte[] Normalised(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input).Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n');
        if (text.Length > 0 && !text.EndsWith('\n'))
        {
            text += "\n";
        }

        return Encoding.UTF8.GetBytes(text.Replace("\n", "\r\n", StringComparison.Ordinal));
    }
}
