using System.Text;
using FsCheck;
using FsCheck.Fluent;
using Postern.Mime.Headers;

namespace Postern.Mime.Tests;

/// <summary>Random and mutated input: the parser never throws, never hits its catch-all, writes the input back
/// byte-identical, and allocates in proportion to the input.</summary>
public class FuzzTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(400);

    private static readonly string[] Tokens =
    [
        "\r\n", "\n", "\r", " ", "\t", "--", "b", "bb", ":", ";", "=", "\"", "(", ")", "<", ">", "@", ",",
        "Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: multipart/alternative; boundary=\"bb\"\n",
        "Content-Type: message/rfc822\r\n", "Content-Type: multipart/digest; boundary=b\n", "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\n", "Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1=x\r\n",
        "--b\r\n", "--b--\r\n", "--bb\n", "--bb--\n", "\r\n\r\n", "\n\n", "Subject: =?utf-8?B?w6k=?= =?", "?q?=E9?=", "From: \"a\" <b@c>, (x) d@e;\r\n",
        "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n", "From ", "=?", "?=", "=\r\n", "=ZZ", "aGVsbG8=", "\u00e9", "\u00ff\u00fe", "X: ",
    ];

    internal static Gen<byte[]> MimeLike() =>
        Gen.Elements(Tokens).ArrayOf().Select(parts => Encoding.UTF8.GetBytes(string.Concat(parts)));

    internal static bool ParseIsTotal(byte[] input)
    {
        var before = MimeParser.InternalErrorCount;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var m = MimeParser.Parse(input);
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        if (allocated > (input.Length * 64L) + (256 * 1024))
        {
            throw new InvalidOperationException($"structure parse of {input.Length} bytes allocated {allocated}");
        }

        if (!m.ToArray().AsSpan().SequenceEqual(input))
        {
            throw new InvalidOperationException("round trip differs");
        }

        foreach (var e in m.Entities)
        {
            _ = e.ContentType.MimeType;
            _ = e.ContentDisposition;
            _ = e.FileName;
            _ = e.GetText();
            _ = e.GetContent();
            _ = e.DecodeEncodedMessage();
            foreach (var h in e.Headers)
            {
                _ = h.Value;
                _ = AddressParser.Parse(h.RawValue.Span);
                _ = DateParser.Parse(h.Value);
                _ = MessageIds.Parse(h.Value);
            }
        }

        return MimeParser.InternalErrorCount == before;
    }

    [Fact]
    public void Random_bytes_parse_totally() =>
        Check.One(Runs, Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), ParseIsTotal));

    [Fact]
    public void Random_MIME_like_token_soup_parses_totally() =>
        Check.One(Runs, Prop.ForAll(MimeLike().ToArbitrary(), ParseIsTotal));

    [Fact]
    public void A_full_parse_with_content_checks_is_total_and_still_round_trips() =>
        Check.One(Runs, Prop.ForAll(MimeLike().ToArbitrary(), input =>
        {
            var before = MimeParser.InternalErrorCount;
            var m = MimeParser.Parse(input, new MimeParserOptions { CheckContent = true });
            return m.ToArray().AsSpan().SequenceEqual(input) && MimeParser.InternalErrorCount == before;
        }));

    internal static readonly Lazy<byte[][]> Samples = new(() =>
        Corpus.StalwartMessages().Concat(Corpus.SpamAssassinMessages().Where((_, i) => i % 40 == 0)).Select(File.ReadAllBytes).ToArray());

    internal static byte[] Mutate(byte[] sample, int kind, int a, int b)
    {
        var n = sample.Length;
        switch (kind)
        {
            case 0: // truncation
                return sample[..(a % (n + 1))];
            case 1: // byte flips
                {
                    var copy = (byte[])sample.Clone();
                    var rnd = new Random(a);
                    for (var i = 0; i < 1 + (b % 16) && n > 0; i++)
                    {
                        copy[rnd.Next(n)] = (byte)rnd.Next(256);
                    }

                    return copy;
                }

            case 2: // boundary damage: cut or corrupt the bytes after a "--"
                {
                    var text = Encoding.Latin1.GetString(sample);
                    var hits = new List<int>();
                    for (var i = text.IndexOf("\n--", StringComparison.Ordinal); i >= 0 && hits.Count < 200; i = text.IndexOf("\n--", i + 1, StringComparison.Ordinal))
                    {
                        hits.Add(i + 3);
                    }

                    if (hits.Count == 0)
                    {
                        return sample;
                    }

                    var at = hits[a % hits.Count];
                    var len = Math.Min(1 + (b % 8), n - at);
                    return (b % 3) switch
                    {
                        0 => [.. sample[..at], .. sample[(at + len)..]],
                        1 => [.. sample[..at], (byte)'X', .. sample[(at + 1)..]],
                        _ => [.. sample[..at], .. "-\r\n"u8, .. sample[at..]],
                    };
                }

            case 3: // deep nesting around the sample
                {
                    var depth = 1 + (a % 300);
                    var sb = new StringBuilder();
                    for (var i = 0; i < depth; i++)
                    {
                        sb.Append(i % 2 == 0 ? "Content-Type: multipart/mixed; boundary=\"n" : "Content-Type: message/rfc822\r\n\r\n").Append(i % 2 == 0 ? i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\"\r\n\r\n--n" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\r\n" : string.Empty);
                    }

                    return [.. Encoding.ASCII.GetBytes(sb.ToString()), .. sample];
                }

            default: // huge headers: one enormous field or thousands of small ones
                {
                    var header = b % 2 == 0
                        ? "X-Huge: " + new string('h', 50_000 + (a % 100_000)) + "\r\n"
                        : string.Concat(Enumerable.Repeat("X-Many: v\r\n", 2_000 + (a % 3_000)));
                    var at = a % (n + 1);
                    var nl = Array.IndexOf(sample, (byte)'\n', at);
                    var pos = nl < 0 ? n : nl + 1;
                    return [.. sample[..pos], .. Encoding.ASCII.GetBytes(header), .. sample[pos..]];
                }
        }
    }

    [Fact]
    public void Mutated_corpus_messages_parse_totally()
    {
        var samples = Samples.Value;
        var gen =
            from s in Gen.Choose(0, samples.Length - 1)
            from kind in Gen.Choose(0, 4)
            from a in Gen.Choose(0, int.MaxValue)
            from b in Gen.Choose(0, int.MaxValue)
            select Mutate(samples[s], kind, a, b);
        Check.One(Runs, Prop.ForAll(gen.ToArbitrary(), ParseIsTotal));
    }

    [Theory]
    [InlineData("Subject: ", "=?x?q?", 150_000)]
    [InlineData("Subject: =?utf-8?q?", "a", 900_000)]
    [InlineData("Content-Type: text/plain", "; a*0=b", 100_000)]
    [InlineData("Content-Type: multipart/mixed; boundary=", "x", 900_000)]
    [InlineData("To: ", "a:", 400_000)]
    [InlineData("To: <", ",a", 400_000)]
    [InlineData("To: ", "(", 400_000)]
    [InlineData("Date: ", "1 ", 400_000)]
    public void Pathological_header_values_decode_without_blowing_up(string prefix, string unit, int repeat)
    {
        // A quadratic decoder would take hours here; these finish in well under a second each.
        var raw = Encoding.ASCII.GetBytes(prefix + string.Concat(Enumerable.Repeat(unit, repeat)) + "\r\n\r\nbody");
        Assert.True(ParseIsTotal(raw));
    }

    [Fact]
    public void Reaching_every_limit_on_a_hostile_message_stays_total()
    {
        var limits = new MimeParserOptions { Limits = new MimeLimits { MaxDepth = 3, MaxParts = 4, MaxHeaderCount = 3, MaxHeaderBlockBytes = 64, MaxLineLength = 20 } };
        foreach (var sample in Samples.Value)
        {
            var before = MimeParser.InternalErrorCount;
            var m = MimeParser.Parse(sample, limits);
            Assert.Equal(sample, m.ToArray());
            Assert.True(m.Entities.Count() <= 4);
            Assert.True(m.Entities.All(e => e.Depth <= 3));
            Assert.Equal(before, MimeParser.InternalErrorCount);
        }
    }
}
