using System.Text;

namespace Postern.Mime.Tests;

public sealed class ContentDefectTests
{
    private const string Message =
        "From: a@example.com\r\n" +
        "Subject: defects\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n" +
        "\r\n" +
        "--b\r\n" +
        "Content-Type: text/plain; charset=x-no-such-charset\r\n" +
        "\r\n" +
        "hello\r\n" +
        "--b\r\n" +
        "Content-Type: application/octet-stream\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "\r\n" +
        "SGVsbG8*gd29ybGQ=!!\r\n" +
        "--b\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: quoted-printable\r\n" +
        "\r\n" +
        "bad escape =ZZ here\r\n" +
        "--b\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "\r\n" +
        "clean\r\n" +
        "--b--\r\n";

    [Fact]
    public void A_full_parse_lists_what_decoding_tolerated_on_each_entity()
    {
        var message = MimeParser.Parse(Encoding.ASCII.GetBytes(Message), new MimeParserOptions { CheckContent = true });
        var leaves = message.Entities.Where(e => e.Kind == MimeBodyKind.Leaf).ToList();
        Assert.Equal(4, leaves.Count);
        Assert.Contains(leaves[0].Defects, d => d.Defect == MimeDefect.UnknownCharset);
        Assert.Contains(leaves[1].Defects, d => d.Defect == MimeDefect.InvalidBase64);
        Assert.Contains(leaves[2].Defects, d => d.Defect == MimeDefect.InvalidQuotedPrintable);
        Assert.Empty(leaves[3].Defects);
        Assert.All(leaves.SelectMany(l => l.Defects), d => Assert.InRange(d.Offset, 0, Message.Length));
    }

    [Fact]
    public void A_structure_parse_decodes_nothing_and_records_no_content_defects()
    {
        var message = MimeParser.Parse(Encoding.ASCII.GetBytes(Message));
        Assert.DoesNotContain(message.AllDefects, d => d.Defect is MimeDefect.UnknownCharset or MimeDefect.InvalidBase64 or MimeDefect.InvalidQuotedPrintable);
    }
}
