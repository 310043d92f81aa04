using FsCheck;
using FsCheck.Fluent;
using Postern.Delivery.Srs;

namespace Postern.Delivery.Tests;

public sealed class SrsPropertyTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(1000);

    private static readonly Gen<string> Atom =
        from n in Gen.Choose(1, 7)
        from a in Gen.ArrayOf(Gen.Elements("a", "Z", "0", "9", "!", "#", "$", "%", "&", "'", "*", "+", "-", "/", "=", "?", "^", "_", "`", "{", "|", "}", "~", "é", "ß", "ü", "ж", "中", "😀"), n)
        select string.Concat(a);

    private static readonly Gen<string> DotAtom =
        from n in Gen.Choose(1, 3)
        from a in Gen.ArrayOf(Atom, n)
        select string.Join('.', a);

    /// <summary>Quoted local parts: spaces, specials, escaped quotes and backslashes, leading dots, '@'.</summary>
    private static readonly Gen<string> Quoted =
        from n in Gen.Choose(1, 11)
        from a in Gen.ArrayOf(Gen.Elements("a", " ", ".", "@", "\\\"", "\\\\", "(", ")", ",", ";", ":", "<", ">", "[", "]", "=", "ü"), n)
        select "\"" + string.Concat(a) + "\"";

    private static readonly Gen<string> Domain = Gen.Elements(
        "example.org", "Mail.Example.COM", "xn--bcher-kva.example", "bücher.example", "例え.テスト", "sub-1.a.b.c.example.net", "ПРИМЕР.рф");

    private static readonly Gen<string> Sender =
        from local in Gen.OneOf(DotAtom, Quoted)
        from domain in Domain
        select local + "@" + domain;

    [Fact]
    public void Every_rewritten_sender_reverses_to_the_same_mailbox()
    {
        var clock = new ManualClock();
        var rewriter = Srs.Rewriter(clock);
        Check.One(Runs, Prop.ForAll(Arb.From(Sender), sender =>
        {
            var forward = rewriter.Forward(sender);
            Assert.True(forward.IsRewritten, $"{sender}: {forward.Outcome}");
            Assert.EndsWith("@fwd.example.net", forward.Address, StringComparison.Ordinal);
            var back = rewriter.Reverse(forward.Address);
            Assert.True(back.IsValid, $"{sender} → {forward.Address}: {back.Reason}");
            Assert.Equal(Normal(sender), Normal(back.Address!));

            // MTAs that lowercase local parts do not break it (the original comes back lowercased).
            var lowered = rewriter.Reverse(forward.Address.ToLowerInvariant());
            Assert.True(lowered.IsValid, $"{forward.Address.ToLowerInvariant()}: {lowered.Reason}");
            Assert.Equal(Normal(sender).ToLowerInvariant(), Normal(lowered.Address!).ToLowerInvariant());
        }));
    }

    [Fact]
    public void Any_single_character_change_to_the_hash_or_data_is_caught()
    {
        var clock = new ManualClock();
        var rewriter = Srs.Rewriter(clock);
        var gen = from sender in Sender
                  from position in Gen.Choose(0, 1000)
                  from replacement in Gen.Elements('x', 'Q', '7', '/', '+', '.', 'é')
                  select (sender, position, replacement);
        Check.One(Runs, Prop.ForAll(Arb.From(gen), t =>
        {
            var srs = rewriter.Forward(t.sender).Address;
            Assert.True(SrsAddressSyntax.TrySplit(srs, out var local, out var domain));
            var start = 5; // after "SRS0="
            var end = local.Length;
            var i = start + (t.position % (end - start));
            if (local[i] == '=' || char.ToLowerInvariant(local[i]) == char.ToLowerInvariant(t.replacement))
            {
                return;
            }

            var tampered = local[..i] + t.replacement + local[(i + 1)..];
            var result = rewriter.Reverse(SrsAddressSyntax.Join(tampered, domain));
            Assert.False(result.IsValid, $"{srs} tampered at {i} to {tampered} was accepted");
        }));
    }

    [Fact]
    public void Reverse_and_forward_never_throw_on_garbage()
    {
        var rewriter = Srs.Rewriter(new ManualClock());
        var srsish = from prefix in Gen.Elements("SRS0=", "SRS1=", "srs0+", "SRS1-", "", "\"SRS0=")
                     from body in ArbMap.Default.GeneratorFor<string>()
                     select prefix + body;
        Check.One(Runs, Prop.ForAll(Arb.From(srsish), text =>
        {
            var r = rewriter.Reverse(text);
            Assert.True(r.IsValid || r.Reason is not null);
            _ = rewriter.Forward(text);
        }));
    }

    /// <summary>A mailbox in comparable form: unquoted local part, A-label domain.</summary>
    private static string Normal(string address)
    {
        Assert.True(SrsAddressSyntax.TrySplit(address, out var local, out var domain));
        return local + "@" + SrsAddressSyntax.AsciiDomain(domain);
    }
}
