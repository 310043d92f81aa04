using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Protocols.Imap.Tests;

/// <summary>Random and mutated input: no exception escapes, the reader always makes progress, memory stays bounded.</summary>
public sealed class FuzzTests
{
    private static readonly ImapLimits Small = new()
    {
        MaxLineLength = 512,
        MaxInlineLiteralSize = 256,
        MaxInlineLiteralTotal = 1024,
        MaxLiteralSize = 4096,
        MaxDiscardSize = 2048,
        MaxDepth = 8,
        MaxArguments = 64,
        MaxLiteralsPerCommand = 16,
        MaxAppendMessages = 8,
    };

    private static readonly string[] Samples =
    [
        "a1 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n",
        "a2 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
        "a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100> BINARY[1.2]) (CHANGEDSINCE 5 VANISHED)\r\n",
        "a4 APPEND {5}\r\nINBOX (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {12}\r\nHello World! ~{3+}\r\nabc\r\n",
        "a5 SEARCH RETURN (MIN MAX) CHARSET UTF-8 OR (FROM \"x\" NOT SEEN) TEXT {3}\r\nabc UID 1:*,$\r\n",
        "a6 LIST (SUBSCRIBED) \"\" (\"*\" %) RETURN (STATUS (MESSAGES SIZE))\r\n",
        "a7 STORE 1:5 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Deleted $Junk)\r\n",
        "a8 SORT RETURN (COUNT) (REVERSE DATE) UTF-8 ALL\r\na9 ID (\"name\" \"x\")\r\n",
        "b1 IDLE\r\nDONE\r\n",
    ];

    private static readonly string[] Inserts = ["{5}\r\n", "{3+}\r\n", "~{2}\r\n", "{99999999999+}\r\n", "{300+}\r\n", "\r\n", "\"", "\\", "(", ")", " ", "\0", "*", "[", "]", "<", "é", "{", "}"];

    private static Gen<byte[]> Mutated() =>
        from sample in Gen.Elements(Samples)
        from edits in Gen.ListOf(
            from kind in Gen.Choose(0, 2)
            from position in Gen.Choose(0, 200)
            from insert in Gen.Elements(Inserts)
            select (kind, position, insert))
        select Mutate(sample, edits);

    private static byte[] Mutate(string sample, IEnumerable<(int Kind, int Position, string Insert)> edits)
    {
        var s = new StringBuilder(sample);
        foreach (var (kind, position, insert) in edits)
        {
            var at = Math.Min(position, s.Length);
            switch (kind)
            {
                case 0:
                    s.Insert(at, insert);
                    break;
                case 1 when s.Length > at:
                    s.Remove(at, 1);
                    break;
                default:
                    if (s.Length > at)
                    {
                        s[at] = insert[0];
                    }

                    break;
            }
        }

        return Encoding.UTF8.GetBytes(s.ToString());
    }

    private static Gen<byte[]> Noise() => Gen.ArrayOf(Gen.Frequency(
        (8, Gen.Choose(0, 255).Select(i => (byte)i)),
        (2, Gen.Elements((byte)'\r', (byte)'\n', (byte)'{', (byte)'}', (byte)'+', (byte)' ', (byte)'"', (byte)'1'))));

    [Fact]
    public void Mutated_and_random_input_never_breaks_the_reader()
    {
        var input = from parts in Gen.NonEmptyListOf(Gen.Frequency((3, Mutated()), (1, Noise())))
                    from chunk in Gen.Choose(1, 64)
                    from reject in Gen.Elements(true, false)
                    select (Bytes: parts.SelectMany(p => p).ToArray(), chunk, reject);
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(1000), Prop.ForAll(input.ToArbitrary(), sample =>
        {
            Survives(sample.Bytes, sample.chunk, sample.reject);
            return true;
        }));
    }

    [Fact]
    public void Every_sample_survives_every_single_byte_mutation()
    {
        foreach (var sample in Samples)
        {
            var bytes = Encoding.UTF8.GetBytes(sample);
            for (var i = 0; i < bytes.Length; i++)
            {
                foreach (var b in new byte[] { 0, (byte)' ', (byte)'{', (byte)'}', (byte)'"', (byte)'\n', (byte)'(', (byte)')', 0xFF })
                {
                    var copy = (byte[])bytes.Clone();
                    copy[i] = b;
                    Survives(copy, 5, reject: i % 2 == 0);
                }
            }
        }
    }

    [Fact]
    public void The_parser_is_total_on_random_lines()
    {
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(2000), Prop.ForAll(Gen.Frequency((1, Noise()), (3, Mutated())).ToArbitrary(), bytes =>
        {
            var command = ImapCommandParser.Parse(bytes, Small, out var error);
            return (command is null) != (error is null);
        }));
    }

    private static void Survives(byte[] input, int chunk, bool reject)
    {
        var reader = new ImapCommandReader(Small);
        var pending = new List<byte>();
        var results = 0;
        for (var i = 0; i < input.Length; i += chunk)
        {
            pending.AddRange(input.AsSpan(i, Math.Min(chunk, input.Length - i)).ToArray());
            var buffer = new ReadOnlySequence<byte>([.. pending]);
            while (true)
            {
                Assert.True(++results < 100_000, "no progress");
                var r = reader.Read(buffer, out var consumed);
                var before = buffer.Length;
                buffer = buffer.Slice(consumed);
                Assert.True(reader.BufferCapacity <= 4 * (Small.MaxLineLength + Small.MaxInlineLiteralTotal), "buffer grew past the limits");
                if (r.Status == ImapReadStatus.NeedMoreData)
                {
                    Assert.Equal(0, buffer.Length);
                    break;
                }

                if (r.Status == ImapReadStatus.Error && r.Error!.CloseConnection)
                {
                    return;
                }

                if (r.Status == ImapReadStatus.ContinuationRequest)
                {
                    if (reject && !reader.RejectLiteral())
                    {
                        return;
                    }
                    else if (!reject)
                    {
                        reader.AcceptLiteral();
                    }
                }

                if (r.Status == ImapReadStatus.LiteralData)
                {
                    Assert.True(r.Data.Length > 0 && r.Data.Length <= before);
                }
            }

            pending.Clear();
        }
    }
}
