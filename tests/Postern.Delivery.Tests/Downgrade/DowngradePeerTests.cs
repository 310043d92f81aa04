using System.Text;
using System.Text.Json;
using Postern.Delivery.Downgrade;
using Postern.Delivery.Tests.Dsn;

namespace Postern.Delivery.Tests.Downgrade;

/// <summary>Python's email package decodes every leaf of a converted message to the same bytes (and, for text, the
/// same string) as the leaf of the original, and sees the converted message as 7-bit.</summary>
[Trait("Category", "EndToEnd")]
public sealed class DowngradePeerTests
{
    private const string Script = """
        import sys, json, email
        from email import policy

        def leaves(path):
            with open(path, 'rb') as f:
                m = email.message_from_bytes(f.read(), policy=policy.default)
            out = []
            for p in m.walk():
                if p.is_multipart() or p.get_content_maintype() == 'message' and isinstance(p.get_payload(), list):
                    continue
                content = p.get_payload(decode=True) or b''
                text = None
                if p.get_content_maintype() == 'text':
                    try:
                        text = p.get_content()
                    except (LookupError, UnicodeError):
                        text = content.decode('latin-1')
                out.append({'type': p.get_content_type(), 'cte': p.get('content-transfer-encoding', '7bit').strip().lower(),
                            'content': content.hex(), 'text': text})
            return out

        args = sys.argv[1:]
        for original, converted in zip(args[0::2], args[1::2]):
            print(json.dumps({'name': original, 'original': leaves(original), 'converted': leaves(converted)}, ensure_ascii=True))
        """;

    private static IEnumerable<(string Name, byte[] Input)> Messages()
    {
        yield return ("latin1-no-mime", EightBitDowngradeTests.Latin1("From: a@b.test\r\nSubject: old\r\n\r\nCaf\u00e9 cr\u00e8me br\u00fbl\u00e9e\r\n"));
        yield return ("utf8-multipart", EightBitDowngradeTests.Bytes(
            "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
            "--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nÄrger mit Übergrößen — „Anführung“\r\n" +
            "--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>naïve café " + new string('ü', 700) + "</p>\r\n" +
            "--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\u00ff\u00fe\u0001 raw\r\n" +
            "--XX--\r\n"));
        yield return ("nested", EightBitDowngradeTests.Bytes(
            "From: a@b.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
            "--out\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            "From: inner@b.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nzwölf Boxkämpfer jagen Viktor\r\n" +
            "\r\n--out--\r\n"));
        var corpus = DowngradePropertyTests.RealEightBitMessages()
            .Select(f => (Name: Path.GetFileName(f), Input: File.ReadAllBytes(f)))
            .Where(m => EightBitDowngrade.Convert(m.Input).Outcome == DowngradeOutcome.Converted)
            .Take(80);
        foreach (var m in corpus)
        {
            yield return m;
        }
    }

    [Fact]
    public void Python_decodes_each_converted_part_to_the_original_content()
    {
        using var folder = new TempFolder();
        var args = new List<string>();
        var count = 0;
        foreach (var (name, input) in Messages())
        {
            var r = EightBitDowngrade.Convert(input);
            Assert.True(r.Outcome == DowngradeOutcome.Converted, name + ": " + r.Problem);
            args.Add(folder.Write(count + ".orig", input));
            args.Add(folder.Write(count + ".conv", r.Message!));
            count++;
        }

        Assert.True(count > 50, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var output = Peers.RunPython(Script, args);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(count, lines.Length);
        var textsCompared = 0;
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var name = doc.RootElement.GetProperty("name").GetString();
            var before = doc.RootElement.GetProperty("original").EnumerateArray().ToList();
            var after = doc.RootElement.GetProperty("converted").EnumerateArray().ToList();
            Assert.True(before.Count == after.Count, $"{name}: {before.Count} leaves became {after.Count}");
            for (var i = 0; i < before.Count; i++)
            {
                Assert.Equal(before[i].GetProperty("type").GetString(), after[i].GetProperty("type").GetString());
                Assert.Contains(after[i].GetProperty("cte").GetString(), (string[])["7bit", "quoted-printable", "base64"]);
                Assert.True(before[i].GetProperty("content").GetString() == after[i].GetProperty("content").GetString(), $"{name}: leaf {i} decodes differently");
                if (before[i].GetProperty("text").ValueKind == JsonValueKind.String)
                {
                    Assert.Equal(before[i].GetProperty("text").GetString(), after[i].GetProperty("text").GetString());
                    textsCompared++;
                }
            }
        }

        Assert.True(textsCompared > 50, textsCompared.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.All(args.Where((_, i) => i % 2 == 1), f => Assert.True(Encoding.Latin1.GetString(File.ReadAllBytes(f)).All(c => c < 128)));
    }
}
