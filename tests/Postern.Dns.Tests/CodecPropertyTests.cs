using System.Net;
using FsCheck;
using FsCheck.Fluent;

namespace Postern.Dns.Tests;

/// <summary>Random and mutated input into the parser: it must always return, with a message or an error.</summary>
public class CodecPropertyTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(2000);

    /// <summary>Valid responses the mutations start from.</summary>
    private static readonly byte[][] Samples = BuildSamples();

    [Fact]
    public void Random_bytes_never_throw()
    {
        Check.One(Runs, Prop.ForAll(Arb.From(Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())), bytes =>
        {
            var ok = DnsMessageCodec.TryParse(bytes, out var message, out var error);
            return ok ? message is not null : error is not null;
        }));
    }

    [Fact]
    public void Random_bytes_behind_a_plausible_header_never_throw()
    {
        // Small counts make the parser go deep into names and records instead of stopping at the header.
        var gen = from counts in Gen.ArrayOf(Gen.Choose(0, 4), 4)
                  from body in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
                  select Wire.Concat(Wire.Hex("ab cd 81 80"), counts.SelectMany(c => new[] { (byte)0, (byte)c }).ToArray(), body);
        Check.One(Runs, Prop.ForAll(Arb.From(gen), bytes =>
        {
            var ok = DnsMessageCodec.TryParse(bytes, out var message, out var error);
            return ok ? message is not null : error is not null;
        }));
    }

    [Fact]
    public void Mutated_real_answers_never_throw_and_what_parses_can_be_written_again()
    {
        var mutation = from sample in Gen.Choose(0, Samples.Length - 1)
                       from edits in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 4096), ArbMap.Default.GeneratorFor<byte>()))
                       from cut in Gen.Choose(0, 4096)
                       from kind in Gen.Choose(0, 3)
                       select Mutate(Samples[sample], edits, cut, kind);
        Check.One(Runs, Prop.ForAll(Arb.From(mutation), bytes =>
        {
            if (!DnsMessageCodec.TryParse(bytes, out var message, out var error))
            {
                return error is not null;
            }

            // Whatever the parser accepts, the writer can write, and it reads back the same way.
            byte[] again;
            try
            {
                again = DnsMessageCodec.Encode(message);
            }
            catch (ArgumentException)
            {
                // Some accepted inputs cannot be re-encoded (for example an OPT record outside the additional
                // section keeps its class); the parser itself did not throw, which is what matters.
                return true;
            }

            return DnsMessageCodec.TryParse(again, out var reparsed, out _)
                && reparsed.Questions.SequenceEqual(message.Questions)
                && reparsed.Answers.Count == message.Answers.Count
                && reparsed.ResponseCode == message.ResponseCode;
        }));
    }

    [Fact]
    public void Reading_the_answer_out_of_any_parsable_message_never_throws()
    {
        var mutation = from sample in Gen.Choose(0, Samples.Length - 1)
                       from edits in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 4096), ArbMap.Default.GeneratorFor<byte>()))
                       from kind in Gen.Choose(0, 3)
                       from type in Gen.Elements(DnsRecordType.A, DnsRecordType.MX, DnsRecordType.CNAME, DnsRecordType.TXT)
                       select (Bytes: Mutate(Samples[sample], edits, 4096, kind), Type: type);
        Check.One(Runs, Prop.ForAll(Arb.From(mutation), input =>
        {
            if (!DnsMessageCodec.TryParse(input.Bytes, out var message, out _) || message.Questions.Count == 0)
            {
                return true;
            }

            var name = message.Questions[0].Name;
            var visited = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { name };
            var answer = DnsAnswerInterpreter.Interpret(message, name, input.Type, visited, 8);
            return answer.Kind != AnswerKind.Records || answer.Records.All(r => r.Type == input.Type);
        }));
    }

    [Fact]
    public void Random_names_never_throw_when_normalised()
    {
        Check.One(Runs, Prop.ForAll(Arb.From(ArbMap.Default.GeneratorFor<string>()), name =>
        {
            var ok = DnsName.TryNormalize(name, out var normalized, out var error);
            return ok ? DnsName.TryGetLabels(normalized, out _, out _) : error is not null;
        }));
    }

    [Fact]
    public void Encoded_random_records_read_back_equal()
    {
        var label = Gen.Elements("a", "mail", "xn--bcher-kva", "_25", "_tcp", "x1-2", "example", "com");
        var name = Gen.ArrayOf(label).Where(l => l.Length is > 0 and < 8).Select(l => string.Join('.', l));
        var record = Gen.OneOf(
            from n in name
            from ttl in Gen.Choose(0, int.MaxValue)
            from b in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>(), 4)
            select (DnsRecord)new ARecord(n, (uint)ttl, new IPAddress(b)),
            from n in name
            from pref in Gen.Choose(0, 65535)
            from ex in name
            select (DnsRecord)new MxRecord(n, 1, (ushort)pref, ex),
            from n in name from t in name select (DnsRecord)new CnameRecord(n, 5, t),
            from n in name from t in name select (DnsRecord)new PtrRecord(n, 5, t),
            from n in name
            from p in Gen.Choose(0, 65535)
            from t in name
            select (DnsRecord)new SrvRecord(n, 7, (ushort)p, (ushort)p, (ushort)p, t),
            from n in name
            from s in Gen.ArrayOf(ArbMap.Default.GeneratorFor<string>().Where(x => x is not null && x.Length < 80))
            select (DnsRecord)TxtRecord.FromStrings(n, 9, s),
            from n in name from t in name from m in name select (DnsRecord)new SoaRecord(n, 3, t, m, 1, 2, 3, 4, 5));
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(500), Prop.ForAll(Arb.From(Gen.ArrayOf(record)), records =>
        {
            var message = new DnsMessage { IsResponse = true, Id = 7, Questions = [new DnsQuestion("q.example", DnsRecordType.ANY)], Answers = records };
            if (!DnsMessageCodec.TryParse(DnsMessageCodec.Encode(message), out var back, out _))
            {
                return false;
            }

            return back.Answers.Count == records.Length && back.Answers.Zip(records).All(p => SameRecord(p.First, p.Second));
        }));
    }

    private static bool SameRecord(DnsRecord a, DnsRecord b) =>
        a is TxtRecord ta && b is TxtRecord tb
            ? ta.Name == tb.Name && ta.Text == tb.Text && ta.RawStrings.Count == tb.RawStrings.Count
            : a.Equals(b);

    private static byte[] Mutate(byte[] sample, (int Position, byte Value)[] edits, int cut, int kind)
    {
        var bytes = sample.ToList();
        foreach (var (position, value) in edits)
        {
            if (bytes.Count == 0)
            {
                break;
            }

            var at = position % bytes.Count;
            switch (kind)
            {
                case 0:
                    bytes[at] = value;
                    break;
                case 1:
                    bytes.Insert(at, value);
                    break;
                case 2:
                    bytes.RemoveAt(at);
                    break;
                default:
                    // Make the byte look like a compression pointer.
                    bytes[at] = (byte)(0xc0 | (value & 0x3f));
                    break;
            }
        }

        if (kind == 3 && bytes.Count > 0)
        {
            bytes.RemoveRange(cut % bytes.Count, bytes.Count - (cut % bytes.Count));
        }

        return [.. bytes];
    }

    private static byte[][] BuildSamples()
    {
        var q = new DnsQuestion("example.com", DnsRecordType.MX);
        DnsMessage Response(params DnsRecord[] answers) => new()
        {
            Id = 0x4242,
            IsResponse = true,
            RecursionAvailable = true,
            RecursionDesired = true,
            Questions = [q],
            Answers = answers,
            Authorities = [new SoaRecord("example.com", 300, "ns1.example.com", "hostmaster.example.com", 1, 2, 3, 4, 60)],
            Additionals = [new OptRecord(1232, 0, 0, true, [])],
        };

        return
        [
            DnsMessageCodec.Encode(Response(
                new MxRecord("example.com", 300, 10, "mail.example.com"),
                new MxRecord("example.com", 300, 20, "backup.mail.example.com"))),
            DnsMessageCodec.Encode(Response(
                new CnameRecord("www.example.com", 60, "web.example.com"),
                new ARecord("web.example.com", 60, IPAddress.Parse("192.0.2.7")),
                new AaaaRecord("web.example.com", 60, IPAddress.Parse("2001:db8::7")))),
            DnsMessageCodec.Encode(Response(
                TxtRecord.FromStrings("example.com", 60, "v=spf1 ip4:192.0.2.0/24", new string('k', 200), "-all"),
                new SrvRecord("_imaps._tcp.example.com", 60, 0, 1, 993, "imap.example.com"),
                new TlsaRecord("_25._tcp.mail.example.com", 60, 3, 1, 1, Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()),
                new PtrRecord("7.2.0.192.in-addr.arpa", 60, "web.example.com"),
                new NsRecord("example.com", 60, "ns1.example.com"))),
        ];
    }
}
