using FsCheck;
using FsCheck.Fluent;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>The MTA-STS policy file, the TXT record and MX matching (RFC 8461 §3.1, §3.2, §4.1).</summary>
public sealed class MtaStsParserTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(2000);

    /// <summary>The example policy of RFC 8461 §3.2.</summary>
    private const string RfcExample = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";

    [Fact]
    public void The_RFC_example_policy_parses()
    {
        var result = MtaStsPolicyParser.Parse(RfcExample);

        Assert.True(result.IsValid, result.Error);
        var policy = result.Policy!;
        Assert.Equal(MtaStsMode.Enforce, policy.Mode);
        Assert.Equal(["mail.example.com", "*.example.net", "backupmx.example.com"], policy.MxPatterns);
        Assert.Equal(TimeSpan.FromSeconds(604800), policy.MaxAge);
    }

    [Fact]
    public void LF_line_ends_whitespace_and_key_case_are_tolerated()
    {
        var text = "\uFEFFversion:STSv1\n  \nMode :\t testing  \nMX:  Mail.Example.COM.\nmax_age:86400";

        var policy = MtaStsPolicyParser.Parse(text).Policy!;

        Assert.Equal(MtaStsMode.Testing, policy.Mode);
        Assert.Equal(["mail.example.com"], policy.MxPatterns);
        Assert.Equal(TimeSpan.FromDays(1), policy.MaxAge);
    }

    [Fact]
    public void Unknown_keys_and_lines_without_a_colon_are_ignored()
    {
        var text = "version: STSv1\nmode: enforce\nfuture_key: whatever: with colons\njust some words\nmx: mx.example.com\nmax_age: 10\n";

        Assert.True(MtaStsPolicyParser.Parse(text).IsValid);
    }

    [Fact]
    public void Mode_none_needs_no_mx()
    {
        var policy = MtaStsPolicyParser.Parse("version: STSv1\nmode: none\nmax_age: 86400\n").Policy!;

        Assert.Equal(MtaStsMode.None, policy.Mode);
        Assert.Empty(policy.MxPatterns);
    }

    [Fact]
    public void Max_age_above_a_year_is_capped_and_the_first_of_repeated_keys_counts()
    {
        var policy = MtaStsPolicyParser.Parse("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example.com\nmx: A.example.com\nmax_age: 9999999999\n").Policy!;

        Assert.Equal(TimeSpan.FromSeconds(MtaStsPolicy.MaxMaxAgeSeconds), policy.MaxAge);
        Assert.Equal(MtaStsMode.Testing, policy.Mode);
        Assert.Equal(["a.example.com"], policy.MxPatterns);
    }

    [Fact]
    public void An_internationalised_mx_is_kept_in_A_labels()
    {
        var policy = MtaStsPolicyParser.Parse("version: STSv1\nmode: enforce\nmx: mx.bücher.example\nmax_age: 60\n").Policy!;

        Assert.Equal(["mx.xn--bcher-kva.example"], policy.MxPatterns);
    }

    [Theory]
    [InlineData("", "no version")]
    [InlineData("mode: enforce\nmx: a.example.com\nmax_age: 1\n", "no version")]
    [InlineData("version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 1\n", "not STSv1")]
    [InlineData("version: STSv1\nmx: a.example.com\nmax_age: 1\n", "no mode")]
    [InlineData("version: STSv1\nmode: enforcing\nmx: a.example.com\nmax_age: 1\n", "mode")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\n", "no max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: -1\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1 day\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 12345678901\n", "max_age")]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx")]
    [InlineData("version: STSv1\nmode: testing\nmx:\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: *\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: mail*.example.com\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: a..example.com\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: localhost\nmax_age: 86400\n", "mx")]
    [InlineData("version: STSv1\nmode: enforce\nmx: mail.example.com:25\nmax_age: 86400\n", "mx")]
    [InlineData("<html><body>Not found</body></html>", "no version")]
    public void Invalid_policies_are_refused_with_a_reason(string text, string reason)
    {
        var result = MtaStsPolicyParser.Parse(text);

        Assert.False(result.IsValid);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Random_text_never_throws()
    {
        var fragments = Gen.Elements("version", "mode", "mx", "max_age", ":", " ", "\t", "\r", "\n", "\r\n", "STSv1", "enforce",
            "testing", "none", "*.", "example.com", ".", "0", "9", "31557601", "\u00e9", "\uFEFF", "\0", "\uD800", "-", "é.example");
        var texts = Gen.OneOf(
            Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(fragments, n)).Select(string.Concat),
            ArbMap.Default.GeneratorFor<string>());
        Check.One(Runs, Prop.ForAll(Arb.From(texts), text =>
        {
            var result = MtaStsPolicyParser.Parse(text);
            Assert.True(result.IsValid != (result.Error is not null));
            if (result.Policy is { } p)
            {
                Assert.InRange(p.MaxAge.TotalSeconds, 0, MtaStsPolicy.MaxMaxAgeSeconds);
                Assert.All(p.MxPatterns, m => Assert.True(MtaStsMxPattern.IsValid(m), m));
                Assert.True(p.Mode == MtaStsMode.None || p.MxPatterns.Count > 0);
            }
        }));
    }

    [Fact]
    public void Mutated_RFC_example_never_throws_and_stays_a_policy_or_a_reason()
    {
        var gen = from position in Gen.Choose(0, RfcExample.Length - 1)
                  from length in Gen.Choose(0, 12)
                  from insert in ArbMap.Default.GeneratorFor<string>()
                  select RfcExample[..position] + insert + RfcExample[Math.Min(RfcExample.Length, position + length)..];
        Check.One(Runs, Prop.ForAll(Arb.From(gen), text =>
        {
            var result = MtaStsPolicyParser.Parse(text);
            Assert.True(result.IsValid || !string.IsNullOrEmpty(result.Error));
        }));
    }

    [Fact]
    public void A_policy_of_64_KiB_of_mx_lines_is_parsed_within_limits()
    {
        var text = "version: STSv1\nmode: enforce\nmax_age: 60\n" + string.Concat(Enumerable.Range(0, 3000).Select(i => $"mx: mx{i}.example.com\n"));

        var result = MtaStsPolicyParser.Parse(text);

        Assert.False(result.IsValid);
        Assert.Contains("more than 256 mx lines", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=abc", "abc")]
    [InlineData("v=STSv1; id=abc; ext_1=x-y.z", "abc")]
    [InlineData("v=STSv1 ; id=ABC123 ;  ", "ABC123")]
    public void TXT_records_of_RFC_8461_section_3_1_parse(string text, string id)
    {
        Assert.True(MtaStsTxtRecord.TryParse(text, out var record, out var error), error);
        Assert.Equal(id, record!.Id);
    }

    [Theory]
    [InlineData("v=STSv1;")]
    [InlineData("v=STSv1; id=;")]
    [InlineData("v=STSv1; id=abc-def;")]
    [InlineData("v=STSv1; id=123456789012345678901234567890123;")]
    [InlineData("v=STSv1; id=a; id=b;")]
    [InlineData("v=STSv1; id=a;; x=y")]
    [InlineData("v=STSv1; junk; id=a")]
    [InlineData("v=STSv2; id=a;")]
    [InlineData("id=a; v=STSv1;")]
    [InlineData("v=spf1 -all")]
    public void Bad_TXT_records_are_refused(string text)
    {
        Assert.False(MtaStsTxtRecord.TryParse(text, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Random_TXT_text_never_throws()
    {
        var fragments = Gen.Elements("v=STSv1", "v=", "id=", "id", ";", " ", "=", "abc", "20160831085700Z", "\t", "x-y", "\0", "é");
        var texts = Gen.OneOf(
            Gen.Choose(0, 12).SelectMany(n => Gen.ArrayOf(fragments, n)).Select(string.Concat),
            ArbMap.Default.GeneratorFor<string>());
        Check.One(Runs, Prop.ForAll(Arb.From(texts), text =>
        {
            var ok = MtaStsTxtRecord.TryParse(text, out var record, out var error);
            Assert.Equal(ok, record is not null);
            Assert.Equal(ok, error is null);
            if (ok)
            {
                Assert.InRange(record!.Id.Length, 1, 32);
            }
        }));
    }

    [Fact]
    public void Discovery_ignores_other_TXT_records_and_refuses_two_STS_records()
    {
        DnsResult<TxtRecord> Txt(params string[] texts) => new()
        {
            Status = DnsStatus.Success,
            Name = "_mta-sts.example.com",
            Values = [.. texts.Select(t => TxtRecord.FromStrings("_mta-sts.example.com", 300, t))],
        };

        Assert.Equal("abc", MtaStsDiscovery.FromTxt(Txt("v=spf1 -all", "v=STSv1; id=abc;")).Id);
        Assert.Equal(MtaStsDiscoveryStatus.Invalid, MtaStsDiscovery.FromTxt(Txt("v=STSv1; id=abc;", "v=STSv1; id=def;")).Status);
        Assert.Equal(MtaStsDiscoveryStatus.NoRecord, MtaStsDiscovery.FromTxt(Txt("v=spf1 -all")).Status);
        Assert.Equal(MtaStsDiscoveryStatus.Invalid, MtaStsDiscovery.FromTxt(Txt("v=STSv1; id=not valid;")).Status);
        Assert.Equal(MtaStsDiscoveryStatus.NoRecord,
            MtaStsDiscovery.FromTxt(new DnsResult<TxtRecord> { Status = DnsStatus.NxDomain, Name = "_mta-sts.example.com" }).Status);
        Assert.Equal(MtaStsDiscoveryStatus.LookupFailed,
            MtaStsDiscovery.FromTxt(new DnsResult<TxtRecord> { Status = DnsStatus.ServerFailure, Name = "_mta-sts.example.com" }).Status);
    }

    [Theory]
    [InlineData("*.example.com", "mx1.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", false)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "MX1.EXAMPLE.COM", true)]
    [InlineData("*.example.com", "mx1.example.com.", true)]
    [InlineData("*.Example.COM.", "mx1.example.com", true)]
    [InlineData("*.example.com", "mx1.example.co", false)]
    [InlineData("*.example.com", "mx1example.com", false)]
    [InlineData("*.example.com", ".example.com", false)]
    [InlineData("mail.example.com", "mail.example.com", true)]
    [InlineData("mail.example.com", "Mail.Example.Com.", true)]
    [InlineData("mail.example.com", "x.mail.example.com", false)]
    [InlineData("mail.example.com", "example.com", false)]
    [InlineData("mx.bücher.example", "mx.xn--bcher-kva.example", true)]
    [InlineData("", "mail.example.com", false)]
    public void MX_patterns_match_as_RFC_8461_section_4_1_says(string pattern, string host, bool expected)
    {
        Assert.Equal(expected, MtaStsMxPattern.Matches(pattern, host));
    }
}
