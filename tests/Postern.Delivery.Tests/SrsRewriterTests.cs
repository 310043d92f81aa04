using System.Text.RegularExpressions;
using Postern.Delivery.Srs;

namespace Postern.Delivery.Tests;

public sealed partial class SrsRewriterTests
{
    private readonly ManualClock _clock = new();

    [Fact]
    public void Forward_makes_the_same_SRS0_address_as_Mail_SRS()
    {
        // Computed with Perl's Mail::SRS 0.31 (secret "postern-test-secret", 2026-03-01): hash YJbi, stamp BB.
        var result = Srs.Rewriter(_clock).Forward("Alice.Smith@example.org");
        Assert.Equal(SrsForwardOutcome.Rewritten, result.Outcome);
        Assert.Equal("SRS0=YJbi=BB=example.org=Alice.Smith@fwd.example.net", result.Address);
    }

    [Fact]
    public void Forward_of_another_forwarders_SRS0_makes_SRS1_as_Mail_SRS()
    {
        var result = Srs.Rewriter(_clock).Forward("SRS0=ABCD=XY=example.org=bob@first.example");
        Assert.Equal("SRS1=gunV=first.example==ABCD=XY=example.org=bob@fwd.example.net", result.Address);

        var back = Srs.Rewriter(_clock).Reverse(result.Address);
        Assert.True(back.IsValid);
        Assert.True(back.IsSrs1);
        Assert.Equal("SRS0=ABCD=XY=example.org=bob@first.example", back.Address);
    }

    [Fact]
    public void Forward_of_an_SRS1_keeps_the_first_forwarder()
    {
        var rewriter = Srs.Rewriter(_clock);
        var result = rewriter.Forward("SRS1=zzzz=first.example==ABCD=XY=example.org=bob@second.example");
        Assert.Matches(Srs1Shape(), result.Address);
        Assert.EndsWith("=first.example==ABCD=XY=example.org=bob@fwd.example.net", result.Address, StringComparison.Ordinal);
        Assert.Equal("SRS0=ABCD=XY=example.org=bob@first.example", rewriter.Reverse(result.Address).Address);
    }

    [Fact]
    public void An_SRS1_whose_first_forwarder_is_us_is_decoded_to_the_original_sender()
    {
        // Our SRS0 address, forwarded again by a node that shares our secret under another SRS domain.
        var first = Srs.Rewriter(_clock).Forward("carol@example.org").Address;
        var srs1 = Srs.Rewriter(_clock, Srs.Options with { Domain = "third.example", ExcludedDomains = [] }).Forward(first).Address;
        Assert.StartsWith("SRS1=", srs1, StringComparison.Ordinal);

        var back = Srs.Rewriter(_clock).Reverse(srs1);
        Assert.True(back.IsValid, back.Reason);
        Assert.True(back.IsSrs1);
        Assert.Equal("carol@example.org", back.Address);
    }

    [Theory]
    [InlineData("", SrsForwardOutcome.NullSender)]
    [InlineData("<>", SrsForwardOutcome.NullSender)]
    [InlineData(null, SrsForwardOutcome.NullSender)]
    [InlineData("postmaster", SrsForwardOutcome.ExemptLocalPart)]
    [InlineData("postmaster@example.org", SrsForwardOutcome.ExemptLocalPart)]
    [InlineData("MAILER-DAEMON@example.org", SrsForwardOutcome.ExemptLocalPart)]
    [InlineData("someone@fwd.example.net", SrsForwardOutcome.OwnDomain)]
    [InlineData("SRS0=abcd=BB=example.org=x@FWD.example.net", SrsForwardOutcome.OwnDomain)]
    [InlineData("someone@hosted.example.net", SrsForwardOutcome.OwnDomain)]
    [InlineData("someone@[192.0.2.1]", SrsForwardOutcome.AddressLiteral)]
    [InlineData("no-at-sign", SrsForwardOutcome.Malformed)]
    [InlineData("a@b@", SrsForwardOutcome.Malformed)]
    [InlineData("\"unterminated@example.org", SrsForwardOutcome.Malformed)]
    public void Some_senders_are_never_rewritten(string? sender, SrsForwardOutcome outcome)
    {
        var result = Srs.Rewriter(_clock).Forward(sender);
        Assert.Equal(outcome, result.Outcome);
        Assert.False(result.IsRewritten);
    }

    [Fact]
    public void Reverse_accepts_what_forward_made_within_the_maximum_age_only()
    {
        var rewriter = Srs.Rewriter(_clock);
        var srs = rewriter.Forward("dave@example.org").Address;

        _clock.Advance(TimeSpan.FromDays(21));
        Assert.Equal("dave@example.org", rewriter.Reverse(srs).Address);

        _clock.Advance(TimeSpan.FromDays(1));
        var expired = rewriter.Reverse(srs);
        Assert.Equal(SrsReverseStatus.Expired, expired.Status);
        Assert.Null(expired.Address);
        Assert.Contains("21 days", expired.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_timestamp_from_the_future_is_expired()
    {
        var future = new ManualClock(new DateTimeOffset(2026, 3, 10, 0, 0, 0, TimeSpan.Zero));
        var srs = Srs.Rewriter(future).Forward("dave@example.org").Address;
        Assert.Equal(SrsReverseStatus.Expired, Srs.Rewriter(_clock).Reverse(srs).Status);
    }

    [Fact]
    public void The_timestamp_cycle_wraps_every_1024_days()
    {
        var rewriter = Srs.Rewriter(_clock);
        var srs = rewriter.Forward("dave@example.org").Address;
        _clock.Advance(TimeSpan.FromDays(1024 + 3));
        Assert.True(rewriter.Reverse(srs).IsValid);
    }

    [Theory]
    [InlineData("SRS0=YJbj=BB=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0=YJbi=BC=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0=YJbi=BB=example.com=Alice.Smith@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0=YJbi=BB=example.org=Alice.Smyth@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0=YJb=BB=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0==BB=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS0=YJbi=B=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS0=YJbi=B1=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS0=YJbi=BB=example.org@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS0=YJbi=BB==Alice@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS0=@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS1=abcd=first.example@fwd.example.net", SrsReverseStatus.Malformed)]
    [InlineData("SRS1=abcd=first.example==ABCD=XY=example.org=bob@fwd.example.net", SrsReverseStatus.BadHash)]
    [InlineData("SRS0@fwd.example.net", SrsReverseStatus.NotSrs)]
    [InlineData("SRS2=YJbi=BB=example.org=Alice.Smith@fwd.example.net", SrsReverseStatus.NotSrs)]
    [InlineData("alice@fwd.example.net", SrsReverseStatus.NotSrs)]
    [InlineData("no-at-sign", SrsReverseStatus.NotSrs)]
    public void Reverse_says_precisely_what_is_wrong(string address, SrsReverseStatus status)
    {
        var result = Srs.Rewriter(_clock).Reverse(address);
        Assert.Equal(status, result.Status);
        Assert.Null(result.Address);
        Assert.False(string.IsNullOrEmpty(result.Reason));
    }

    [Theory]
    [InlineData("SRS0=YJbi=BB=example.org=Alice.Smith@fwd.example.net", "Alice.Smith@example.org")]
    [InlineData("srs0=yjbi=bb=example.org=alice.smith@fwd.example.net", "alice.smith@example.org")]
    [InlineData("SRS0=YJBI=BB=EXAMPLE.ORG=ALICE.SMITH@FWD.EXAMPLE.NET", "ALICE.SMITH@EXAMPLE.ORG")]
    [InlineData("SRS0+YJbi=BB=example.org=Alice.Smith@fwd.example.net", "Alice.Smith@example.org")]
    [InlineData("SRS0-YJbi=BB=example.org=Alice.Smith@fwd.example.net", "Alice.Smith@example.org")]
    [InlineData("<SRS0=YJbi=BB=example.org=Alice.Smith@fwd.example.net>", "Alice.Smith@example.org")]
    public void Reverse_ignores_case_and_accepts_every_separator(string address, string original)
    {
        var result = Srs.Rewriter(_clock).Reverse(address);
        Assert.True(result.IsValid, result.Reason);
        Assert.Equal(original, result.Address);
    }

    [Theory]
    [InlineData('+')]
    [InlineData('-')]
    public void The_configured_separator_follows_the_tag(char separator)
    {
        var rewriter = Srs.Rewriter(_clock, Srs.Options with { Separator = separator });
        var srs = rewriter.Forward("erin@example.org").Address;
        Assert.StartsWith("SRS0" + separator, srs, StringComparison.Ordinal);
        Assert.Equal("erin@example.org", rewriter.Reverse(srs).Address);

        var srs1 = rewriter.Forward("SRS0+ABCD=XY=example.org=bob@first.example").Address;
        Assert.StartsWith("SRS1" + separator, srs1, StringComparison.Ordinal);
        Assert.Equal("SRS0+ABCD=XY=example.org=bob@first.example", rewriter.Reverse(srs1).Address);
    }

    [Fact]
    public void Longer_hashes_verify_and_shorter_than_the_minimum_do_not()
    {
        var rewriter = Srs.Rewriter(_clock, Srs.Options with { HashLength = 10, HashMinLength = 6 });
        var srs = rewriter.Forward("frank@example.org").Address;
        Assert.Matches("^SRS0=[A-Za-z0-9+/]{10}=", srs);
        Assert.True(rewriter.Reverse(srs).IsValid);

        var parts = srs.Split('=');
        Assert.True(rewriter.Reverse(parts[0] + "=" + parts[1][..6] + "=" + string.Join('=', parts[2..])).IsValid);
        Assert.Equal(SrsReverseStatus.BadHash, rewriter.Reverse(parts[0] + "=" + parts[1][..5] + "=" + string.Join('=', parts[2..])).Status);
    }

    [Fact]
    public void Secrets_rotate_the_first_signs_and_all_verify()
    {
        var old = Srs.Rewriter(_clock, null, "old-secret").Forward("gina@example.org").Address;
        var rotated = Srs.Rewriter(_clock, null, "new-secret", "old-secret");
        Assert.True(rotated.Reverse(old).IsValid);
        var fresh = rotated.Forward("gina@example.org").Address;
        Assert.NotEqual(old, fresh);
        Assert.True(Srs.Rewriter(_clock, null, "new-secret").Reverse(fresh).IsValid);
        Assert.Equal(SrsReverseStatus.BadHash, Srs.Rewriter(_clock, null, "new-secret").Reverse(old).Status);
    }

    [Fact]
    public void Quoted_local_parts_are_hashed_unquoted_and_quoted_again()
    {
        var rewriter = Srs.Rewriter(_clock);
        var srs = rewriter.Forward("\"john \\\"q\\\" doe\"@example.org").Address;
        Assert.StartsWith("\"SRS0=", srs, StringComparison.Ordinal);
        Assert.EndsWith("=example.org=john \\\"q\\\" doe\"@fwd.example.net", srs, StringComparison.Ordinal);
        Assert.Equal("\"john \\\"q\\\" doe\"@example.org", rewriter.Reverse(srs).Address);

        // A needlessly quoted dot-atom comes back unquoted, which is the same mailbox.
        Assert.Equal("plain@example.org", rewriter.Reverse(rewriter.Forward("\"plain\"@example.org").Address).Address);
    }

    [Fact]
    public void International_domains_are_carried_as_A_labels()
    {
        var rewriter = Srs.Rewriter(_clock);
        var srs = rewriter.Forward("josé@bücher.example").Address;
        Assert.Contains("=xn--bcher-kva.example=josé@fwd.example.net", srs, StringComparison.Ordinal);
        Assert.Equal("josé@xn--bcher-kva.example", rewriter.Reverse(srs).Address);
    }

    [Fact]
    public void Bad_options_are_refused()
    {
        var ring = new SrsKeyRing(["s"]);
        Assert.Throws<ArgumentException>(() => new SrsRewriter(new SrsOptions { Domain = "" }, ring));
        Assert.Throws<ArgumentException>(() => new SrsRewriter(new SrsOptions { Domain = "fwd.example", Separator = '#' }, ring));
        Assert.Throws<ArgumentException>(() => new SrsRewriter(new SrsOptions { Domain = "fwd.example", HashMinLength = 5 }, ring));
        Assert.Throws<ArgumentException>(() => new SrsKeyRing([]));
        Assert.Throws<ArgumentException>(() => new SrsKeyRing(["two\nlines"]));
    }

    [Fact]
    public void IsSrsLocalPart_recognises_both_tags_in_any_case()
    {
        Assert.True(SrsRewriter.IsSrsLocalPart("SRS0=x"));
        Assert.True(SrsRewriter.IsSrsLocalPart("srs1+x"));
        Assert.False(SrsRewriter.IsSrsLocalPart("SRS0"));
        Assert.False(SrsRewriter.IsSrsLocalPart("srsx=1"));
    }

    [GeneratedRegex("^SRS1=[A-Za-z0-9+/]{4}=")]
    private static partial Regex Srs1Shape();
}
