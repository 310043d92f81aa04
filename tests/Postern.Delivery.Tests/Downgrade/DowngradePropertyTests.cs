using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Delivery.Downgrade;
using Postern.Delivery.Tests.Dsn;
using Postern.Mime;
using Postern.Mime.Codecs;
using Xunit.Abstractions;

namespace Postern.Delivery.Tests.Downgrade;

/// <summary>The encoders give back every input exactly; random and real messages are either converted with their
/// content intact or refused with a reason, and the converter never throws.</summary>
public sealed class DowngradePropertyTests(ITestOutputHelper output)
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static readonly Gen<byte[]> TextLike =
        Gen.Elements("a", "é", "\r\n", "\n", "\r", " ", "\t", "=", "-", "--b", ".", "From ", "\0", "\u00ff", new string('x', 80), "😀")
            .ArrayOf()
            .SelectMany(parts => Gen.Elements(true, false).Select(latin1 => latin1 ? Encoding.Latin1.GetBytes(string.Concat(parts).Replace("😀", "?", StringComparison.Ordinal)) : Encoding.UTF8.GetBytes(string.Concat(parts))));

    private static void AssertEncodedLines(byte[] encoded, bool crlf)
    {
        Assert.True(System.Text.Ascii.IsValid(encoded));
        var text = Encoding.ASCII.GetString(encoded);
        if (crlf)
        {
            Assert.DoesNotContain("\n", text.Replace("\r\n", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
            Assert.DoesNotContain("\r", text.Replace("\r\n", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
        }
        else
        {
            Assert.DoesNotContain('\r', text);
        }

        foreach (var line in text.Split('\n'))
        {
            var l = line.TrimEnd('\r');
            Assert.True(l.Length <= 76, l);
            Assert.False(l.StartsWith('-'), l);
            Assert.False(l.EndsWith(' ') || l.EndsWith('\t'), "trailing white space: " + l);
        }
    }

    [Fact]
    public void Quoted_printable_decodes_to_exactly_the_input()
    {
        Check.One(Runs, Prop.ForAll(Arb.From(TextLike), Arb.From(Gen.Elements(true, false)), (input, crlf) =>
        {
            var encoded = SevenBitEncoder.QuotedPrintable(input, crlf);
            AssertEncodedLines(encoded, crlf);
            Assert.Equal(input, QuotedPrintableDecoder.Decode(encoded));
        }));
    }

    [Fact]
    public void Quoted_printable_of_random_bytes_decodes_to_the_input()
    {
        Check.One(Runs, Prop.ForAll<byte[]>(input =>
        {
            var encoded = SevenBitEncoder.QuotedPrintable(input);
            AssertEncodedLines(encoded, crlf: true);
            Assert.Equal(input, QuotedPrintableDecoder.Decode(encoded));
        }));
    }

    [Fact]
    public void Base64_decodes_to_the_input_in_76_character_lines()
    {
        Check.One(Runs, Prop.ForAll<byte[]>(input =>
        {
            var encoded = SevenBitEncoder.Base64(input);
            Assert.All(Encoding.ASCII.GetString(encoded).Split("\r\n"), l => Assert.True(l.Length <= 76));
            Assert.Equal(input, Base64Decoder.Decode(encoded));
            Assert.Equal(Convert.ToBase64String(input), Encoding.ASCII.GetString(encoded).Replace("\r\n", string.Empty, StringComparison.Ordinal));
        }));
    }

    private static readonly string[] MimeTokens =
    [
        "\r\n", "\n", " ", ":", ";", "--b", "--b--", "--c\r\n", "\r\n\r\n", "\n\n", "é", "\u00ff", "\0", "=", "=E9", new string('y', 600),
        "Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: multipart/alternative; boundary=c\n", "Content-Type: message/rfc822\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n", "Content-Type: application/octet-stream\r\n", "Content-Type: text/html\n",
        "Content-Transfer-Encoding: 8bit\r\n", "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\n",
        "Content-Transfer-Encoding: binary\r\n", "Content-Transfer-Encoding: x-weird\r\n", "MIME-Version: 1.0\r\n", "Subject: x\r\n", "From: a@b\r\n",
    ];

    internal static readonly Gen<byte[]> MimeLike =
        Gen.Elements(MimeTokens).ArrayOf().Select(parts => Encoding.UTF8.GetBytes(string.Concat(parts)));

    /// <summary>What every result must satisfy, whatever the input.</summary>
    internal static void AssertSound(byte[] input, DowngradeResult r, string name = "")
    {
        if (r.Succeeded)
        {
            Assert.NotNull(r.Message);
            EightBitDowngradeTests.AssertWireClean(r.Message!, name);
            EightBitDowngradeTests.AssertSameContent(input, r.Message!, name);
            Assert.Null(r.Problem);
            if (r.Outcome == DowngradeOutcome.AlreadySevenBit)
            {
                Assert.Equal(input, r.Message);
            }
        }
        else
        {
            Assert.Null(r.Message);
            Assert.StartsWith("cannot convert:", r.Problem, StringComparison.Ordinal);
            Assert.DoesNotContain("internal error", r.Problem, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Random_mime_like_messages_are_converted_soundly_or_refused()
    {
        var converted = 0;
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1500), Prop.ForAll(Arb.From(MimeLike), input =>
        {
            var r = EightBitDowngrade.Convert(input);
            AssertSound(input, r);
            converted += r.Outcome == DowngradeOutcome.Converted ? 1 : 0;
        }));

        Assert.True(converted > 100, "converted " + converted);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        Check.One(Runs, Prop.ForAll<byte[]>(input => AssertSound(input, EightBitDowngrade.Convert(input))));
    }

    [Fact]
    public void Mutated_8bit_messages_are_converted_soundly_or_refused()
    {
        var seeds = RealEightBitMessages().Take(40).Select(File.ReadAllBytes).ToList();
        Assert.NotEmpty(seeds);
        var random = new Random(99);
        for (var i = 0; i < 1500; i++)
        {
            var input = DsnPropertyTests.Mutate(seeds[i % seeds.Count], random);
            AssertSound(input, EightBitDowngrade.Convert(input), "mutation " + i);
        }
    }

    /// <summary>Corpus messages with 8-bit bytes anywhere.</summary>
    internal static IEnumerable<string> RealEightBitMessages() =>
        SharedCorpus.SpamAssassinMessages().Concat(SharedCorpus.StalwartMessages())
            .Where(f => !EightBitDowngrade.IsSevenBitClean(File.ReadAllBytes(f)));

    [Fact]
    public void Real_8bit_messages_from_the_corpus_are_converted_with_their_content_or_refused_for_their_headers()
    {
        var outcomes = new Dictionary<DowngradeOutcome, int>();
        foreach (var file in RealEightBitMessages())
        {
            var input = File.ReadAllBytes(file);
            var r = EightBitDowngrade.Convert(input);
            AssertSound(input, r, Path.GetFileName(file));
            outcomes[r.Outcome] = outcomes.GetValueOrDefault(r.Outcome) + 1;
            if (r.Outcome != DowngradeOutcome.Converted)
            {
                continue;
            }

            // Where the parser reads the part as text, the text is the same too.
            var before = MimeParser.Parse(input).Entities.ToList();
            var after = MimeParser.Parse(r.Message!).Entities.ToList();
            for (var i = 0; i < before.Count; i++)
            {
                Assert.Equal(before[i].GetText(), after[i].GetText());
            }
        }

        var summary = string.Join(", ", outcomes.Select(o => o.Key + "=" + o.Value));
        output.WriteLine("corpus 8-bit messages: " + summary);
        Assert.True(outcomes.GetValueOrDefault(DowngradeOutcome.Converted) >= 100, summary);
        Assert.True(outcomes.GetValueOrDefault(DowngradeOutcome.EightBitHeader) > 0, summary);
        Assert.False(outcomes.ContainsKey(DowngradeOutcome.AlreadySevenBit), summary);
    }
}
