using System.Globalization;
using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants.Tests;

public sealed class RecipientResolverTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    private async Task SetUpAsync()
    {
        await _d.HostedDomainAsync("example.com");
        await _d.Service.AddDomainAliasAsync("example.com", "example.net");
        await _d.Service.AddAccountAsync("alice@example.com", "pw", "Alice", 100);
        await _d.Service.AddAccountAsync("bob@example.com", "pw", "Bob", 0);
        await _d.Service.AddAccountAsync("alice+archive@example.com", "pw", "Exact wins over subaddress", 0);
        await _d.Service.AddAliasAsync("sales@example.com", "bob@example.com");
        await _d.Service.AddAliasAsync("catch@example.com", "bob@example.com");
        await _d.Service.AddListAsync("team@example.com", "Team", ListPostingPolicy.Anyone);
        await _d.Service.AddListMemberAsync("team@example.com", "alice@example.com", _d.Resolver);
        await _d.Service.AddListMemberAsync("team@example.com", "partner@elsewhere.test", _d.Resolver);
    }

    [Theory]
    [InlineData("alice@example.com", RecipientKind.Account, "alice", null)]
    [InlineData("ALICE@EXAMPLE.COM", RecipientKind.Account, "alice", null)]
    [InlineData("alice@example.net", RecipientKind.Account, "alice", null)]
    [InlineData("sales@example.com", RecipientKind.Alias, "bob", null)]
    [InlineData("team@example.com", RecipientKind.List, null, null)]
    [InlineData("alice+news@example.com", RecipientKind.Account, "alice", "news")]
    [InlineData("alice+archive@example.com", RecipientKind.Account, "alice+archive", null)]
    [InlineData("sales+x@example.com", RecipientKind.Alias, "bob", "x")]
    [InlineData("postmaster@example.com", RecipientKind.Postmaster, null, null)]
    [InlineData("nobody@example.com", RecipientKind.Unknown, null, null)]
    [InlineData("alice@elsewhere.test", RecipientKind.Unknown, null, null)]
    public async Task Resolution_order_is_exact_then_alias_then_subaddress_then_postmaster(string address, RecipientKind kind, string? accountLocalPart, string? detail)
    {
        await SetUpAsync();
        var r = await _d.Resolver.ResolveAsync(EmailAddress.Parse(address));
        Assert.Equal(kind, r.Kind);
        Assert.Equal(detail, r.Detail);
        if (accountLocalPart is not null)
        {
            var account = await _d.Store.GetAccountAsync(r.AccountId!.Value, default);
            Assert.Equal(accountLocalPart, account!.LocalPart);
        }
    }

    [Fact]
    public async Task Catch_all_takes_only_what_nothing_else_takes()
    {
        await SetUpAsync();
        await _d.Service.AddAliasAsync("@example.com", "bob@example.com");
        Assert.Equal(RecipientKind.CatchAll, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("random@example.com"))).Kind);
        Assert.Equal(RecipientKind.Account, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("alice@example.com"))).Kind);
        Assert.Equal(RecipientKind.Account, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("alice+x@example.com"))).Kind);
        Assert.Equal(RecipientKind.Postmaster, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("postmaster@example.com"))).Kind);
    }

    [Fact]
    public async Task Configurable_separators_strip_dash_subaddresses()
    {
        await SetUpAsync();
        Assert.Equal(RecipientKind.Unknown, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("bob-lists@example.com"))).Kind);
        await _d.Service.SetSubaddressSeparatorsAsync("example.com", "+-");
        var r = await _d.Resolver.ResolveAsync(EmailAddress.Parse("bob-lists@example.com"));
        Assert.Equal((RecipientKind.Account, "lists"), (r.Kind, r.Detail));
    }

    [Fact]
    public async Task Relay_domains_accept_any_local_part_and_both_domains_split()
    {
        await _d.Service.AddCustomerAsync("Gateway customer", null);
        await _d.Service.AddDomainAsync("relay.test", "Gateway customer", DomainKind.Relay, ["mail.customer.test:25"]);
        await _d.Service.AddDomainAsync("split.test", "Gateway customer", DomainKind.Both, ["10.0.0.5:2525/5"]);
        await _d.Service.AddAccountAsync("here@split.test", "pw", null, 0);
        Assert.Equal(RecipientKind.RelayRecipient, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("anyone@relay.test"))).Kind);
        Assert.Equal(RecipientKind.RelayRecipient, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("postmaster@relay.test"))).Kind);
        Assert.Equal(RecipientKind.Account, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("here@split.test"))).Kind);
        Assert.Equal(RecipientKind.RelayRecipient, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("there@split.test"))).Kind);
    }

    [Fact]
    public async Task Idn_domains_resolve_in_u_label_and_a_label_form_and_utf8_local_parts_are_preserved()
    {
        await _d.HostedDomainAsync("bücher.example");
        await _d.Service.AddAccountAsync("jürgen@bücher.example", "pw", null, 0);
        var viaUnicode = await _d.Resolver.ResolveAsync(EmailAddress.Parse("Jürgen@BÜCHER.example"));
        var viaAscii = await _d.Resolver.ResolveAsync(EmailAddress.Parse("jürgen@xn--bcher-kva.example"));
        Assert.Equal(RecipientKind.Account, viaUnicode.Kind);
        Assert.Equal(viaUnicode.AccountId, viaAscii.AccountId);
        Assert.Equal("jürgen", (await _d.Store.GetAccountAsync(viaAscii.AccountId!.Value, default))!.LocalPart);
    }

    [Fact]
    public async Task Addresses_fold_the_same_under_the_turkish_culture()
    {
        var saved = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = new CultureInfo("tr-TR");
            await _d.HostedDomainAsync("example.com");
            await _d.Service.AddAccountAsync("info@example.com", "pw", null, 0);
            Assert.Equal(RecipientKind.Account, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("INFO@EXAMPLE.COM"))).Kind);
            Assert.Equal(RecipientKind.Account, (await _d.Resolver.ResolveAsync(EmailAddress.Parse("Info@Example.Com"))).Kind);
        }
        finally
        {
            CultureInfo.CurrentCulture = CultureInfo.CurrentUICulture = saved;
        }
    }

    [Fact]
    public async Task A_change_made_by_another_instance_is_seen_including_negative_answers()
    {
        await _d.HostedDomainAsync("example.com");
        var resolver = new RecipientResolver(_d.Store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.Zero });
        var address = EmailAddress.Parse("late@example.com");
        Assert.Equal(RecipientKind.Unknown, (await resolver.ResolveAsync(address)).Kind);
        Assert.Equal(RecipientKind.Unknown, (await resolver.ResolveAsync(address)).Kind);
        Assert.True(resolver.CacheHits > 0);

        var cli = new DirectoryService(_d.OpenSecondInstance(), new TestHasher(), TestDirectory.Lenient);
        await cli.AddAccountAsync("late@example.com", "pw", null, 0);
        Assert.Equal(RecipientKind.Account, (await resolver.ResolveAsync(address)).Kind);

        await cli.SetDisabledAsync("late@example.com", true);
        var r = await resolver.ResolveAsync(address);
        Assert.True((await resolver.GetAccountAsync(r.AccountId!.Value))!.Disabled);
    }

    [Fact]
    public async Task Repeated_lookups_are_served_from_the_cache()
    {
        await SetUpAsync();
        var resolver = new RecipientResolver(_d.Store, new RecipientResolverOptions { ChangePollInterval = TimeSpan.FromHours(1) });
        var address = EmailAddress.Parse("alice@example.com");
        await resolver.ResolveAsync(address);
        var lookups = resolver.StoreLookups;
        for (var i = 0; i < 100; i++)
        {
            await resolver.ResolveAsync(address);
        }

        Assert.Equal(lookups, resolver.StoreLookups);
    }

    [Fact]
    public async Task Bare_postmaster_always_resolves()
    {
        var resolver = new RecipientResolver(_d.Store, new RecipientResolverOptions { Postmaster = EmailAddress.Parse("admin@example.com") });
        var r = resolver.ResolveBarePostmaster();
        Assert.Equal(RecipientKind.Postmaster, r.Kind);
        Assert.Equal("admin@example.com", r.Address.ToString());
    }
}
