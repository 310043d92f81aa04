using System.Text;

namespace Postern.Mime.Tests;

/// <summary><see cref="MimeDefect.InvalidCharsetBytes"/> and <see cref="MimeDefect.Undeclared8BitHeader"/>: recorded by a full
/// parse (<see cref="MimeParserOptions.CheckContent"/>) on the entity that holds the bytes, never by a structure parse.</summary>
public sealed class CharsetDefectTests
{
    private static readonly MimeParserOptions Full = new() { CheckContent = true };

    /// <summary>Latin-1 text as its raw bytes (each char below 256 is one byte).</summary>
    private static byte[] L(string s) => Encoding.Latin1.GetBytes(s);

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    private static List<MimeDefectRecord> Of(MimeEntity e, MimeDefect d) => e.Defects.Where(x => x.Defect == d).ToList();

    [Fact]
    public void A_raw_latin1_subject_from_an_old_mailer_is_an_undeclared_8bit_header_read_as_windows_1252()
    {
        // As sent by many 2002-era spam tools: 8-bit header bytes with no encoded words and no charset anywhere.
        var data = L(
            "Return-Path: <promo@example.net>\r\n" +
            "From: \"Soci\u00e9t\u00e9 G\u00e9n\u00e9rale\" <promo@example.net>\r\n" +
            "To: client@example.org\r\n" +
            "Subject: Votre cr\u00e9dit \u0080 100 gratuit\r\n" +
            "Date: Mon, 2 Sep 2002 10:00:00 +0200\r\n" +
            "\r\n" +
            "Cliquez ici.\r\n");
        var m = MimeParser.Parse(data, Full);

        var eightBit = Of(m.Root, MimeDefect.Undeclared8BitHeader);
        Assert.Equal(2, eightBit.Count);
        Assert.Equal(m.Headers.GetField("From")!.Value.Offset, eightBit[0].Offset);
        Assert.Equal(m.Headers.GetField("Subject")!.Value.Offset, eightBit[1].Offset);
        Assert.Equal("Votre cr\u00e9dit \u20ac 100 gratuit", m.Subject);
        Assert.Empty(Of(m.Root, MimeDefect.InvalidCharsetBytes));

        var structure = MimeParser.Parse(data);
        Assert.Empty(structure.AllDefects);
    }

    [Fact]
    public void Utf8_header_fields_are_rfc6532_and_not_a_defect()
    {
        var data = U(
            "From: J\u00fcrgen M\u00fcller <j\u00fcrgen@b\u00fccher.example>\r\n" +
            "To: \u4f50\u85e4 <sato@example.jp>\r\n" +
            "Subject: Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u65e5\u672c\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "Viele Gr\u00fc\u00dfe\r\n");
        var m = MimeParser.Parse(data, Full);
        Assert.Empty(m.AllDefects);
        Assert.Equal("Gr\u00fc\u00dfe aus K\u00f6ln \u2013 \u65e5\u672c", m.Subject);
    }

    [Fact]
    public void Latin1_bytes_in_a_part_declared_utf8_are_invalid_charset_bytes_on_that_part()
    {
        byte[] data =
        [
            .. L(
                "From: a@example.com\r\n" +
                "Subject: menu\r\n" +
                "MIME-Version: 1.0\r\n" +
                "Content-Type: multipart/alternative; boundary=\"alt\"\r\n" +
                "\r\n" +
                "--alt\r\n" +
                "Content-Type: text/plain; charset=\"utf-8\"\r\n" +
                "Content-Transfer-Encoding: 8bit\r\n" +
                "\r\n" +
                "Caf\u00e9 cr\u00e8me, 2,50 \u0080\r\n" +
                "--alt\r\n" +
                "Content-Type: text/html; charset=utf-8\r\n" +
                "Content-Transfer-Encoding: quoted-printable\r\n" +
                "\r\n" +
                "<p>Caf=C3=A9 cr=C3=A8me</p>\r\n" +
                "--alt--\r\n"),
        ];
        var m = MimeParser.Parse(data, Full);
        var plain = m.Root.Children[0];
        var html = m.Root.Children[1];

        var bad = Assert.Single(Of(plain, MimeDefect.InvalidCharsetBytes));
        Assert.Equal(plain.BodyStart, bad.Offset);
        Assert.Contains("\uFFFD", plain.GetText(), StringComparison.Ordinal);
        Assert.Empty(html.Defects);
        Assert.Empty(m.Root.Defects);
        Assert.NotNull(plain.GetText(out var d));
        Assert.Equal(MimeDefect.InvalidCharsetBytes, d);
        Assert.Equal("<p>Caf\u00e9 cr\u00e8me</p>", html.GetText(out var d2));
        Assert.Equal(MimeDefect.None, d2);
    }

    [Fact]
    public void An_encoded_word_whose_bytes_are_not_its_charset_is_invalid_charset_bytes_at_the_field()
    {
        // "Réunion" encoded in Latin-1 but labelled UTF-8, next to a good word: a classic broken mailer.
        var badWord = "=?UTF-8?B?" + Convert.ToBase64String(L("R\u00e9union")) + "?=";
        var goodWord = "=?utf-8?q?=C3=A0_midi?=";
        var data = L(
            "From: =?utf-8?q?Andr=C3=A9?= <andre@example.fr>\r\n" +
            "To: team@example.fr\r\n" +
            "Subject: " + badWord + " " + goodWord + "\r\n" +
            "\r\n" +
            "Ordre du jour.\r\n");
        var m = MimeParser.Parse(data, Full);
        var bad = Assert.Single(Of(m.Root, MimeDefect.InvalidCharsetBytes));
        Assert.Equal(m.Headers.GetField("Subject")!.Value.Offset, bad.Offset);
        Assert.Equal("R\uFFFDunion\u00e0 midi", m.Subject);
        Assert.Empty(Of(m.Root, MimeDefect.Undeclared8BitHeader));
    }

    [Fact]
    public void Eight_bit_text_declared_us_ascii_is_invalid_but_undeclared_8bit_text_is_not()
    {
        var declared = L(
            "Subject: a\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nna\u00efve r\u00e9sum\u00e9\r\n");
        var undeclared = L(
            "Subject: a\r\nContent-Type: text/plain\r\n\r\nna\u00efve r\u00e9sum\u00e9\r\n");
        var m1 = MimeParser.Parse(declared, Full);
        var m2 = MimeParser.Parse(undeclared, Full);
        Assert.Single(Of(m1.Root, MimeDefect.InvalidCharsetBytes));
        Assert.Equal("na\u00efve r\u00e9sum\u00e9\r\n", m1.Root.GetText());
        Assert.Empty(m2.AllDefects);
    }

    [Fact]
    public void A_legacy_code_page_sequence_that_cannot_be_decoded_is_invalid_charset_bytes()
    {
        // Shift_JIS: 0x82 0xA0 is HIRAGANA A; 0x81 followed by a control byte is no character.
        byte[] body = [0x82, 0xA0, 0x81, 0x0A];
        byte[] data = [.. L("Subject: jp\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\n"), .. body];
        var m = MimeParser.Parse(data, Full);
        Assert.Single(Of(m.Root, MimeDefect.InvalidCharsetBytes));
        Assert.StartsWith("\u3042", m.Root.GetText(), StringComparison.Ordinal);

        byte[] good = [.. L("Subject: jp\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\n"), 0x82, 0xA0, 0x0A];
        Assert.Empty(MimeParser.Parse(good, Full).AllDefects);
    }

    [Fact]
    public void Corpus_messages_with_broken_utf8_get_the_defect_and_clean_ones_do_not()
    {
        // Stalwart's thirdparty/002 carries invalid UTF-8 in parts declared utf-8 (see docs/mime.md).
        var broken = MimeParser.Parse(File.ReadAllBytes(Path.Combine(Corpus.StalwartEml, "thirdparty", "002.eml")), Full);
        Assert.Contains(broken.AllDefects, d => d.Defect == MimeDefect.InvalidCharsetBytes);

        var clean = 0;
        foreach (var path in Corpus.StalwartMessages())
        {
            var m = MimeParser.Parse(File.ReadAllBytes(path), Full);
            foreach (var e in m.Entities)
            {
                foreach (var d in e.Defects.Where(d => d.Defect is MimeDefect.InvalidCharsetBytes or MimeDefect.Undeclared8BitHeader))
                {
                    Assert.InRange(d.Offset, e.Start, e.End);
                }
            }

            clean += m.AllDefects.Any(d => d.Defect == MimeDefect.InvalidCharsetBytes) ? 0 : 1;
        }

        Assert.True(clean > 40, $"{clean} stalwart messages without the defect");
    }
}
