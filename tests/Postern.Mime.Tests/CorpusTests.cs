namespace Postern.Mime.Tests;

public class CorpusTests
{
    [Fact]
    public void Every_corpus_message_parses_and_writes_back_byte_identical_in_LF_and_CRLF()
    {
        var before = MimeParser.InternalErrorCount;
        var count = 0;
        var failures = new List<string>();
        foreach (var path in Corpus.AllMessages())
        {
            var bytes = File.ReadAllBytes(path);
            foreach (var input in new[] { bytes, Corpus.ToCrlf(bytes) })
            {
                var m = MimeParser.Parse(input);
                var written = m.ToArray();
                if (!written.AsSpan().SequenceEqual(input))
                {
                    failures.Add(path);
                }

                Assert.Equal(input.Length, m.Root.End);
                count++;
            }
        }

        Assert.True(count > 8000, $"only {count} inputs found");
        Assert.Empty(failures);
        Assert.Equal(before, MimeParser.InternalErrorCount);
    }

    [Fact]
    public void Every_corpus_message_decodes_headers_and_bodies_without_throwing()
    {
        var before = MimeParser.InternalErrorCount;
        foreach (var path in Corpus.AllMessages())
        {
            var m = MimeParser.ParseFile(path);
            _ = m.Subject;
            _ = m.From.Count + m.To.Count + m.Cc.Count;
            _ = m.Date;
            _ = m.MessageId;
            _ = m.References;
            foreach (var e in m.Entities)
            {
                _ = e.ContentType;
                _ = e.FileName;
                _ = e.GetText();
                _ = e.GetContent();
                foreach (var h in e.Headers)
                {
                    _ = h.Value;
                }
            }
        }

        Assert.Equal(before, MimeParser.InternalErrorCount);
    }
}
