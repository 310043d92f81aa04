using System.Net;

namespace Postern.Dns.Tests;

public class DnsNameTests
{
    [Theory]
    [InlineData("Example.COM", "example.com")]
    [InlineData("example.com.", "example.com")]
    [InlineData("bücher.example", "xn--bcher-kva.example")]
    [InlineData("BÜCHER。example", "xn--bcher-kva.example")]
    [InlineData("_dmarc.Example.org", "_dmarc.example.org")]
    [InlineData("sel._domainkey.example.org", "sel._domainkey.example.org")]
    [InlineData(".", ".")]
    public void Names_are_normalised_to_lower_case_A_labels(string input, string expected)
    {
        Assert.True(DnsName.TryNormalize(input, out var normalized, out var error), error);
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a..b")]
    [InlineData(".a")]
    [InlineData("a b.example")]
    [InlineData("tab\t.example")]
    public void Malformed_names_are_refused(string input)
    {
        Assert.False(DnsName.TryNormalize(input, out _, out var error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Label_of_64_bytes_is_refused_and_63_accepted()
    {
        Assert.True(DnsName.TryNormalize(new string('a', 63) + ".example", out _, out _));
        Assert.False(DnsName.TryNormalize(new string('a', 64) + ".example", out _, out var error));
        Assert.Contains("63", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Name_over_255_bytes_on_the_wire_is_refused()
    {
        var label = new string('a', 63);
        var fits = string.Join('.', label, label, label, new string('b', 61)); // 64*3 + 62 + 1 = 255
        var tooLong = string.Join('.', label, label, label, new string('b', 62));

        Assert.True(DnsName.TryNormalize(fits, out _, out _));
        Assert.False(DnsName.TryNormalize(tooLong, out _, out var error));
        Assert.Contains("255", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Null_is_refused_without_exception()
    {
        Assert.False(DnsName.TryNormalize(null, out _, out _));
    }

    [Fact]
    public void Comparison_ignores_case_and_trailing_dot()
    {
        Assert.True(DnsName.NameEquals("MAIL.example.COM.", "mail.EXAMPLE.com"));
        Assert.False(DnsName.NameEquals("mail.example.com", "mail.example.net"));
    }

    [Fact]
    public void Reverse_names_for_IPv4_and_IPv6()
    {
        Assert.Equal("1.2.0.192.in-addr.arpa", DnsName.ReverseName(IPAddress.Parse("192.0.2.1")));
        Assert.Equal("1.2.0.192.in-addr.arpa", DnsName.ReverseName(IPAddress.Parse("::ffff:192.0.2.1")));
        Assert.Equal("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
            DnsName.ReverseName(IPAddress.Parse("2001:db8::1")));
    }

    [Fact]
    public void TLSA_name_for_SMTP()
    {
        Assert.Equal("_25._tcp.mx.example.com", DnsName.TlsaName("mx.example.com.", 25));
    }
}
