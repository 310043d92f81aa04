using System.Text;
using Postern.Delivery.Downgrade;
using Postern.Mime;

namespace Postern.Delivery.Tests.Downgrade;

/// <summary>8BITMIME downgrade: what is converted, what is left alone, what is refused, and that the content stays.</summary>
public sealed class EightBitDowngradeTests
{
    internal static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    internal static byte[] Latin1(string s) => Encoding.Latin1.GetBytes(s);

    /// <summary>Same tree (kinds and media types), and every leaf decodes to the same bytes.</summary>
    internal static void AssertSameContent(byte[] original, byte[] converted, string name = "")
    {
        var a = MimeParser.Parse(original).Entities.ToList();
        var b = MimeParser.Parse(converted).Entities.ToList();
        Assert.True(a.Count == b.Count, $"{name}: {a.Count} entities became {b.Count}");
        for (var i = 0; i < a.Count; i++)
        {
            Assert.True(a[i].Kind == b[i].Kind, $"{name}: entity {i} was {a[i].Kind}, is {b[i].Kind}");
            Assert.True(a[i].ContentType.MimeType == b[i].ContentType.MimeType, $"{name}: entity {i} was {a[i].ContentType.MimeType}, is {b[i].ContentType.MimeType}");
            if (a[i].Kind == MimeBodyKind.Leaf)
            {
                Assert.True(a[i].GetContent().AsSpan().SequenceEqual(b[i].GetContent()), $"{name}: entity {i} ({a[i].ContentType.MimeType}) decodes differently");
            }
        }
    }

    internal static void AssertWireClean(byte[] message, string name = "")
    {
        Assert.True(EightBitDowngrade.IsSevenBitClean(message), name + ": not 7-bit clean");
        Assert.True(Encoding.Latin1.GetString(message).Split('\n').All(l => l.TrimEnd('\r').Length <= 998), name + ": a line is too long");
    }

    private static DowngradeResult Converted(byte[] input)
    {
        var r = EightBitDowngrade.Convert(input);
        Assert.True(r.Outcome == DowngradeOutcome.Converted, r.Outcome + ": " + r.Problem);
        AssertWireClean(r.Message!);
        AssertSameContent(input, r.Message!);
        return r;
    }

    [Fact]
    public void A_7bit_message_is_returned_unchanged()
    {
        var input = Bytes("From: a@b.test\r\nSubject: plain\r\n\r\nJust ASCII.\r\n");
        var r = EightBitDowngrade.Convert(input);
        Assert.Equal(DowngradeOutcome.AlreadySevenBit, r.Outcome);
        Assert.Equal(input, r.Message);
        Assert.True(EightBitDowngrade.TryConvert(input, out var same, out var problem));
        Assert.Equal(input, same);
        Assert.Null(problem);
    }

    [Fact]
    public void Clean_parts_labelled_8bit_are_relabelled_7bit_with_their_bytes_kept()
    {
        var input = Bytes("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8BIT\r\n\r\nascii only\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: binary\r\n\r\nalso ascii\r\n--b--\r\n");
        var r = EightBitDowngrade.Convert(input);
        Assert.Equal(DowngradeOutcome.Converted, r.Outcome);
        Assert.Equal(0, r.ConvertedParts);
        EightBitDowngradeTests.AssertSameContent(input, r.Message!);
        var m = MimeParser.Parse(r.Message!);
        Assert.All(m.Entities, e => Assert.Equal("7bit", e.TransferEncoding));
        Assert.Equal("ascii only", m.Root.Children[0].GetText());

        // Without such labels a clean message is not touched at all.
        var unlabelled = Bytes("From: a@b.test\r\nSubject: about 8bit and binary\r\n\r\nThe words alone change nothing.\r\n");
        Assert.Equal(DowngradeOutcome.AlreadySevenBit, EightBitDowngrade.Convert(unlabelled).Outcome);
    }

    [Fact]
    public void An_8bit_text_part_becomes_quoted_printable_and_nothing_else_changes()
    {
        var input = Bytes("From: a@b.test\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nX-Other: kept\r\n\r\nGrüße aus Köln,\r\nbis bald — Jürgen\r\n");
        var r = Converted(input);
        Assert.Equal(1, r.ConvertedParts);
        var text = Encoding.ASCII.GetString(r.Message!);
        Assert.StartsWith("From: a@b.test\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\nX-Other: kept\r\n\r\n", text, StringComparison.Ordinal);
        Assert.Contains("Gr=C3=BC=C3=9Fe aus K=C3=B6ln,\r\n", text, StringComparison.Ordinal);
        Assert.Equal("Grüße aus Köln,\r\nbis bald — Jürgen\r\n", MimeParser.Parse(r.Message!).TextBody);
    }

    [Fact]
    public void A_missing_transfer_encoding_and_mime_version_are_added()
    {
        var input = Latin1("From: a@b.test\r\nSubject: old mailer\r\n\r\nCaf\u00e9 cr\u00e8me\r\n");
        var r = Converted(input);
        var m = MimeParser.Parse(r.Message!);
        Assert.Equal("quoted-printable", m.Root.TransferEncoding);
        Assert.Equal("1.0", m.Headers["MIME-Version"]);
        Assert.Equal(Latin1("Caf\u00e9 cr\u00e8me\r\n"), m.Root.GetContent());
    }

    private const string Multipart =
        "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
        "Preamble.\r\n" +
        "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nÄrger mit Übergrößen\r\n" +
        "--XX\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSeven bit, left alone.\r\n" +
        "--XX\r\nContent-Type: application/octet-stream; name=blob.bin\r\nContent-Transfer-Encoding: binary\r\n\r\n\u0001\u00ff\u00fe binary \u0000 junk\r\n" +
        "--XX\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n" +
        "--XX--\r\nEpilogue.\r\n";

    [Fact]
    public void In_a_multipart_8bit_leaves_are_reencoded_and_clean_ones_keep_their_bytes()
    {
        var input = Latin1(Multipart.Replace("Ärger mit Übergrößen", Encoding.Latin1.GetString(Bytes("Ärger mit Übergrößen")), StringComparison.Ordinal));
        var r = Converted(input);
        Assert.Equal(2, r.ConvertedParts);
        var m = MimeParser.Parse(r.Message!);
        Assert.Equal("7bit", m.Root.TransferEncoding);
        var parts = m.Root.Children;
        Assert.Equal("quoted-printable", parts[0].TransferEncoding);
        Assert.Equal("Ärger mit Übergrößen", parts[0].GetText());
        Assert.Equal(MimeParser.Parse(input).Root.Children[1].RawEntity.ToArray(), parts[1].RawEntity.ToArray());
        Assert.Equal("base64", parts[2].TransferEncoding);
        Assert.Equal(MimeParser.Parse(input).Root.Children[3].RawEntity.ToArray(), parts[3].RawEntity.ToArray());
        Assert.Equal("Preamble.", Encoding.ASCII.GetString(m.Root.Preamble.Span).Trim());
    }

    [Fact]
    public void A_nested_message_is_converted_inside_and_relabelled_7bit()
    {
        var inner = "From: inner@b.test\r\nSubject: inner\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n" +
            "--in\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nnaïve café\r\n--in\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>naïve café</p>\r\n--in--\r\n";
        var input = Bytes("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
            "--out\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + inner + "\r\n--out--\r\n");
        var r = Converted(input);
        Assert.Equal(2, r.ConvertedParts);
        var m = MimeParser.Parse(r.Message!);
        var attached = m.Root.Children[1];
        Assert.Equal(MimeBodyKind.Message, attached.Kind);
        Assert.Equal("7bit", attached.TransferEncoding);
        var alternatives = attached.Message!.Children;
        Assert.Equal("naïve café", alternatives[0].GetText());
        Assert.Equal("<p>naïve café</p>", alternatives[1].GetText());
        Assert.All(alternatives, a => Assert.Equal("quoted-printable", a.TransferEncoding));
    }

    [Theory]
    [InlineData("Subject: Caf\u00e9\r\n", "Subject")]
    [InlineData("From: J\u00fcrgen <j@b.test>\r\n", "From")]
    public void Raw_8bit_in_a_header_cannot_be_converted(string field, string name)
    {
        foreach (var input in new[] { Latin1("To: x@y.test\r\n" + field + "\r\nbody \u00e9\r\n"), Bytes("To: x@y.test\r\n" + field + "\r\nbody é\r\n") })
        {
            var r = EightBitDowngrade.Convert(input);
            Assert.Equal(DowngradeOutcome.EightBitHeader, r.Outcome);
            Assert.False(r.Succeeded);
            Assert.Null(r.Message);
            Assert.Contains("cannot convert: 8-bit header", r.Problem, StringComparison.Ordinal);
            Assert.Contains("'" + name + "'", r.Problem, StringComparison.Ordinal);
            Assert.Equal("5.6.3", r.Status.ToString());
            Assert.False(EightBitDowngrade.TryConvert(input, out var none, out var problem));
            Assert.Empty(none);
            Assert.Equal(r.Problem, problem);
        }
    }

    [Fact]
    public void A_header_in_a_nested_part_counts_too()
    {
        var input = Latin1("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; name=\"r\u00e9sum\u00e9.txt\"\r\n\r\n\u00e9\r\n--b--\r\n");
        Assert.Equal(DowngradeOutcome.EightBitHeader, EightBitDowngrade.Convert(input).Outcome);
    }

    [Fact]
    public void Over_long_lines_are_encoded_even_in_7bit_text()
    {
        var input = Bytes("From: a@b.test\r\nContent-Type: text/plain\r\n\r\n" + new string('a', 2500) + "\r\nshort\r\n");
        var r = Converted(input);
        Assert.Equal("quoted-printable", MimeParser.Parse(r.Message!).Root.TransferEncoding);
    }

    [Fact]
    public void A_header_line_over_998_octets_is_refused()
    {
        var input = Bytes("From: a@b.test\r\nX-Long: " + new string('h', 1200) + "\r\n\r\nbody é\r\n");
        var r = EightBitDowngrade.Convert(input);
        Assert.Equal(DowngradeOutcome.HeaderLineTooLong, r.Outcome);
        Assert.Contains("X-Long", r.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Bare_cr_and_lf_inside_a_crlf_body_decode_back_exactly()
    {
        var input = Bytes("From: a@b.test\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nline one é\nline two\rline three  \r\n- dash\r\n=equals\t\r\n");
        var r = Converted(input);
        var text = Encoding.ASCII.GetString(r.Message!);
        Assert.Contains("=0A", text, StringComparison.Ordinal);
        Assert.Contains("=0D", text, StringComparison.Ordinal);
        Assert.Contains("\r\n=2D dash", text, StringComparison.Ordinal);
        Assert.Contains("=3Dequals=09\r\n", text, StringComparison.Ordinal);
        Assert.Contains("three =20\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_lf_only_message_keeps_its_line_ends()
    {
        var input = Bytes("From: a@b.test\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nzwölf\nBoxkämpfer\n");
        var r = Converted(input);
        Assert.DoesNotContain((byte)'\r', r.Message!);
    }

    [Fact]
    public void Quoted_printable_or_base64_with_stray_8bit_bytes_are_encoded_again()
    {
        var input = Latin1("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
            "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak caf\u00e9 =E9\r\n" +
            "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBE\u00ffRi0x\r\n" +
            "--b--\r\n");
        var r = Converted(input);
        Assert.Equal(2, r.ConvertedParts);
        var parts = MimeParser.Parse(r.Message!).Root.Children;
        Assert.Equal(Latin1("softbreak caf\u00e9 \u00e9"), parts[0].GetContent());
        Assert.Equal("quoted-printable", parts[0].TransferEncoding);
        Assert.Equal("base64", parts[1].TransferEncoding);
        Assert.Equal(Convert.FromBase64String("JVBERi0x"), parts[1].GetContent());
    }

    [Fact]
    public void An_unknown_transfer_encoding_with_8bit_data_is_taken_as_raw_bytes()
    {
        var input = Latin1("From: a@b.test\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 7bits\r\n\r\nd\u00e9j\u00e0 vu\r\n");
        var r = Converted(input);
        var m = MimeParser.Parse(r.Message!);
        Assert.Equal("quoted-printable", m.Root.TransferEncoding);
        Assert.Equal(Latin1("d\u00e9j\u00e0 vu\r\n"), m.Root.GetContent());
    }

    [Fact]
    public void Eight_bit_filler_outside_the_parts_is_masked()
    {
        var input = Latin1("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\nPr\u00e9amble\r\n--b\r\n\r\nok\r\n--b--\r\n\u00c9pilogue\r\n");
        var r = Converted(input);
        var text = Encoding.ASCII.GetString(r.Message!);
        Assert.Contains("Pr?amble", text, StringComparison.Ordinal);
        Assert.Contains("?pilogue", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_multipart_whose_boundary_never_appears_is_refused_not_masked()
    {
        var input = Bytes("From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=nothere\r\n\r\nAll the text é is here.\r\n");
        Assert.Equal(DowngradeOutcome.Unconvertible, EightBitDowngrade.Convert(input).Outcome);
    }
}
