using System.IO.Compression;
using System.Text;
using Postern.Mime.Headers;
using Postern.Mime.Views;
using Postern.Mime.Writing;

namespace Postern.Mime.Tests;

public class ViewTests
{
    private static MimeMessage Build(Action<MessageBuilder> configure)
    {
        var b = new MessageBuilder { Date = DateTimeOffset.UnixEpoch, Random = new Random(1) };
        b.From.Add(new MailboxAddress(null, "a@example.com"));
        configure(b);
        return b.Build();
    }

    [Fact]
    public void Plain_text_comes_from_HTML_through_a_real_parser()
    {
        var m = Build(b => b.HtmlBody = "<html><head><title>T</title><style>p{color:red}</style><script>var x='<p>no</p>';</script></head>" +
            "<body><p>Hello&nbsp;<b>world</b> &amp; friends</p><div>second<br>line</div><!-- hidden --></body></html>");
        Assert.Equal("Hello world & friends\nsecond\nline", MessageContent.GetPlainText(m));
    }

    [Fact]
    public void Plain_text_prefers_one_alternative_and_skips_attachments()
    {
        var m = Build(b =>
        {
            b.TextBody = "plain version";
            b.HtmlBody = "<p>html version</p>";
            b.Attachments.Add(new MimeAttachment("notes.txt", "text/plain", "attached text"u8.ToArray()));
        });
        Assert.Equal("html version", MessageContent.GetPlainText(m));
    }

    [Fact]
    public void Urls_are_found_in_attributes_and_text_and_deobfuscated()
    {
        var m = Build(b =>
        {
            b.TextBody = "see hxxp://evil[.]example/path, or www.plain.example. Mail mailto:x@example.com";
            b.HtmlBody = "<a href=\"https://%65vil.EXAMPLE/login?a=1&amp;b=2\">click</a><img src=\"http://img.example/p.gif\"> text https://in-text.example/x)";
        });
        var urls = MessageContent.GetUrls(m);
        Assert.Contains("https://evil.example/login?a=1&b=2", urls);
        Assert.Contains("http://img.example/p.gif", urls);
        Assert.Contains("https://in-text.example/x", urls);
        Assert.DoesNotContain("http://evil.example/path", urls); // the plain alternative is not read when HTML exists
        var plainOnly = Build(b => b.TextBody = "see hxxp://evil[.]example/path, or www.plain.example. Mail mailto:x@example.com");
        Assert.Equal(["http://evil.example/path", "http://www.plain.example", "mailto:x@example.com"], MessageContent.GetUrls(plainOnly));
    }

    [Fact]
    public void Attachments_report_true_type_by_magic_bytes_and_zip_entry_names()
    {
        using var zipStream = new MemoryStream();
        using (var zip = new ZipArchive(zipStream, ZipArchiveMode.Create, leaveOpen: true))
        {
            using (var e1 = zip.CreateEntry("invoice.pdf.exe").Open())
            {
                e1.Write("MZ"u8);
            }

            using var e2 = zip.CreateEntry("docs/readme.txt").Open();
            e2.Write("hi"u8);
        }

        var m = Build(b =>
        {
            b.TextBody = "see attached";
            b.Attachments.Add(new MimeAttachment("invoice.pdf", "application/pdf", zipStream.ToArray()));
            b.Attachments.Add(new MimeAttachment("photo.jpg", "image/jpeg", new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0, 0 }));
            b.Attachments.Add(new MimeAttachment("real.pdf", "application/pdf", "%PDF-1.7\n"u8.ToArray()));
            b.ForwardedMessages.Add("Subject: fwd\r\n\r\nx\r\n"u8.ToArray());
        });
        var atts = MessageContent.GetAttachments(m);
        Assert.Equal(4, atts.Count);
        Assert.Equal(("invoice.pdf", "application/pdf", "application/zip"), (atts[0].FileName, atts[0].DeclaredType, atts[0].DetectedType));
        Assert.Equal(["invoice.pdf.exe", "docs/readme.txt"], atts[0].ArchiveEntries);
        Assert.Equal(zipStream.Length, atts[0].Size);
        Assert.Equal("image/png", atts[1].DetectedType);
        Assert.Equal("application/pdf", atts[2].DetectedType);
        Assert.Equal("message/rfc822", atts[3].DetectedType);
    }

    [Fact]
    public void A_corrupt_zip_gives_no_entries_and_no_exception()
    {
        var m = Build(b => b.Attachments.Add(new MimeAttachment("x.zip", "application/zip", "PK\u0003\u0004garbage"u8.ToArray())));
        var att = MessageContent.GetAttachments(m).Single();
        Assert.Equal("application/zip", att.DetectedType);
        Assert.Empty(att.ArchiveEntries);
    }

    [Fact]
    public void Views_work_on_every_corpus_message()
    {
        var withText = 0;
        foreach (var path in Corpus.StalwartMessages().Concat(Corpus.SpamAssassinMessages().Where((_, i) => i % 10 == 0)))
        {
            var m = MimeParser.ParseFile(path);
            if (MessageContent.GetPlainText(m).Length > 0)
            {
                withText++;
            }

            _ = MessageContent.GetUrls(m);
            _ = MessageContent.GetAttachments(m);
        }

        Assert.True(withText > 400, $"only {withText} messages had text");
    }

    [Fact]
    public void Html_is_decoded_with_its_charset_before_parsing()
    {
        var raw = Encoding.Latin1.GetBytes("Content-Type: text/html; charset=iso-8859-1\r\n\r\n<p>caf\u00e9</p>");
        Assert.Equal("café", MessageContent.GetPlainText(MimeParser.Parse(raw)));
        Assert.Equal(string.Empty, HeaderText.DecodeUnstructured([]));
    }
}
