using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Mime.Views;

namespace Postern.Mime.Tests;

public class MessageSearchTextTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(300);

    private static string Build(string text) => MessageSearchText.Build(MimeParser.Parse(Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n"))));

    private const string Mixed = """
        From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>
        To: Ann <ann@example.org>
        Cc: carl@example.net
        Bcc: bea@example.net
        Subject: =?utf-8?B?R3LDvMOfZQ==?= quarterly
        X-Mailer: Wunderbar 3
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: multipart/alternative; boundary=a

        --a
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: quoted-printable

        plainword caf=C3=A9
        --a
        Content-Type: text/html

        <html><head><style>.stylesecret{}</style></head><body><p>html<b>only</b>word</p><script>scriptsecret()</script></body></html>
        --a--
        --b
        Content-Type: application/pdf; name="=?utf-8?q?Rechnung_M=C3=A4rz.pdf?="
        Content-Transfer-Encoding: base64

        JVBERi0xLjQKYmluYXJ5c2VjcmV0
        --b
        Content-Type: message/rfc822

        Subject: nested subject line
        From: inner@example.com

        innerbodyword
        --b--

        """;

    [Fact]
    public void Headers_decoded_bodies_html_text_names_and_nested_messages_are_indexed()
    {
        var text = Build(Mixed);
        foreach (var word in (string[])["Jörg", "joerg@example.com", "ann@example.org", "carl@example.net", "bea@example.net", "Grüße quarterly", "Wunderbar 3",
                     "plainword café", "htmlonlyword", "Rechnung März.pdf", "nested subject line", "inner@example.com", "innerbodyword"])
        {
            Assert.Contains(word, text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain("stylesecret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("scriptsecret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("binarysecret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_text_is_capped()
    {
        var big = new StringBuilder("Subject: big\r\nContent-Type: text/plain\r\n\r\n");
        for (var i = 0; i < 30_000; i++)
        {
            big.Append("line ").Append(i).Append(" with some words in it for the index\r\n");
        }

        big.Append("tailword\r\n");
        var text = MessageSearchText.Build(MimeParser.Parse(Encoding.ASCII.GetBytes(big.ToString())));
        Assert.Equal(MessageSearchText.MaxChars, text.Length);
        Assert.StartsWith("Subject: big", text, StringComparison.Ordinal);
        Assert.DoesNotContain("tailword", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_multipart_without_parts_is_read_as_text()
    {
        Assert.Contains("strayword", Build("""
            Content-Type: multipart/mixed; boundary=zz

            strayword without any delimiter

            """), StringComparison.Ordinal);
    }

    [Fact]
    public void Corpus_messages_give_text_within_the_cap()
    {
        foreach (var path in Corpus.StalwartMessages())
        {
            var m = MimeParser.Parse(File.ReadAllBytes(path));
            var text = MessageSearchText.Build(m);
            Assert.True(text.Length <= MessageSearchText.MaxChars);
            if (m.Subject is { Length: > 0 } subject)
            {
                Assert.Contains(subject, text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Mutated_corpus_messages_never_make_build_throw() =>
        Check.One(Runs, Prop.ForAll(MessageSummaryTests.Mutated().ToArbitrary(), input => MessageSearchText.Build(MimeParser.Parse(input)).Length <= MessageSearchText.MaxChars));

    [Fact]
    public void Random_mime_like_input_never_makes_build_throw() =>
        Check.One(Runs, Prop.ForAll(FuzzTests.MimeLike().ToArbitrary(), input => MessageSearchText.Build(MimeParser.Parse(input)).Length <= MessageSearchText.MaxChars));
}
