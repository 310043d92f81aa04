using FsCheck;
using FsCheck.Fluent;

namespace Postern.Primitives.Tests;

public sealed class AddressTests
{
    [Theory]
    [InlineData("User@Example.COM", "user@example.com", "User@example.com")]
    [InlineData("jürgen@Bücher.Example", "jürgen@xn--bcher-kva.example", "jürgen@bücher.example")]
    [InlineData("a@xn--bcher-kva.example.", "a@xn--bcher-kva.example", "a@bücher.example")]
    [InlineData("\"quoted\"@example.com", "quoted@example.com", "quoted@example.com")]
    [InlineData("o\u0308@example.com", "\u00f6@example.com", "\u00f6@example.com")]
    public void Addresses_are_normalised(string input, string key, string display)
    {
        Assert.True(EmailAddress.TryParse(input, out var a, out var error), error);
        Assert.Equal(key, a!.Key);
        Assert.Equal(display, a.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("plain", "local-part@domain")]
    [InlineData("@example.com", "local-part@domain")]
    [InlineData("a@", "local-part@domain")]
    [InlineData(".a@example.com", "misplaced dot")]
    [InlineData("a.@example.com", "misplaced dot")]
    [InlineData("a b@example.com", "not allowed")]
    [InlineData("a@localhost", "two labels")]
    [InlineData("a@example..com", "not a valid domain")]
    [InlineData("a@-x.com", "not a valid domain")]
    [InlineData("a@1.2.3.4", "numeric")]
    [InlineData("a@[1.2.3.4]", "literal")]
    [InlineData("a@ex_ample.com", "not a valid domain")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.com", "64 octets")]
    public void Bad_addresses_are_refused_with_a_reason(string input, string reason)
    {
        Assert.False(EmailAddress.TryParse(input, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Equality_ignores_case_in_local_part_and_domain_form()
    {
        Assert.Equal(EmailAddress.Parse("Ärger@bücher.example"), EmailAddress.Parse("ärger@XN--BCHER-KVA.EXAMPLE"));
        Assert.NotEqual(EmailAddress.Parse("a@example.com"), EmailAddress.Parse("b@example.com"));
        Assert.True(EmailAddress.Parse("ü@example.com").IsInternationalLocalPart);
        Assert.True(DomainName.Parse("bücher.example").IsInternational);
    }

    [Fact]
    public void Parsing_never_throws_on_random_input()
    {
        Check.QuickThrowOnFailure(Prop.ForAll<string>(s =>
        {
            var ok = EmailAddress.TryParse(s, out var a, out var error);
            var okDomain = DomainName.TryParse(s, out _, out var domainError);
            return (ok ? a is not null && error is null : error is not null) && (okDomain || domainError is not null);
        }));
    }

    [Fact]
    public void Lone_surrogates_are_refused()
    {
        Assert.False(EmailAddress.TryParse("a\ud800b@example.com", out _, out var error));
        Assert.Contains("Unicode", error, StringComparison.Ordinal);
    }
}
