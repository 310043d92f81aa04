using Postern.Core.Tenants;
using Postern.Primitives;

namespace Postern.Tenants.Tests;

public sealed class ExpansionTests : IDisposable
{
    private readonly TestDirectory _d = new();

    public void Dispose() => _d.Dispose();

    private async Task<RecipientExpansion> Expand(string address)
    {
        _d.Resolver.Invalidate();
        return await _d.Resolver.ExpandAsync(EmailAddress.Parse(address));
    }

    [Fact]
    public async Task A_mailbox_is_reached_once_however_many_paths_lead_there()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("alice@example.com", "pw", null, 0);
        await _d.Service.AddAliasAsync("a@example.com", "alice@example.com");
        await _d.Service.AddListAsync("inner@example.com", null, ListPostingPolicy.Anyone);
        await _d.Service.AddListMemberAsync("inner@example.com", "alice@example.com", _d.Resolver);
        await _d.Service.AddListAsync("outer@example.com", null, ListPostingPolicy.Anyone);
        await _d.Service.AddListMemberAsync("outer@example.com", "a@example.com", _d.Resolver);
        await _d.Service.AddListMemberAsync("outer@example.com", "inner@example.com", _d.Resolver);
        await _d.Service.AddListMemberAsync("outer@example.com", "ALICE+tag@example.com", _d.Resolver);
        await _d.Service.AddListMemberAsync("outer@example.com", "friend@elsewhere.test", _d.Resolver);

        var e = await Expand("outer@example.com");
        var mailbox = Assert.Single(e.Mailboxes);
        Assert.Equal("alice@example.com", mailbox.Address.ToString());
        Assert.Equal("friend@elsewhere.test", Assert.Single(e.Remote).ToString());
        Assert.Empty(e.Problems);
    }

    [Fact]
    public async Task Forwards_with_and_without_a_copy()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("keep@example.com", "pw", null, 0);
        await _d.Service.AddAccountAsync("away@example.com", "pw", null, 0);
        await _d.Service.AddAccountAsync("target@example.com", "pw", null, 0);
        await _d.Service.SetForwardAsync("keep@example.com", ["me@gmail.test", "target@example.com"], keepCopy: true);
        await _d.Service.SetForwardAsync("away@example.com", ["me@gmail.test"], keepCopy: false);

        var keep = await Expand("keep@example.com");
        Assert.Equal(["keep@example.com", "target@example.com"], keep.Mailboxes.Select(m => m.Address.ToString()).Order(StringComparer.Ordinal));
        Assert.Equal("me@gmail.test", Assert.Single(keep.Remote).ToString());

        var away = await Expand("away@example.com");
        Assert.Empty(away.Mailboxes);
        Assert.Equal("me@gmail.test", Assert.Single(away.Remote).ToString());
    }

    [Fact]
    public async Task Forwarding_cycles_are_cut_and_reported()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("ping@example.com", "pw", null, 0);
        await _d.Service.AddAccountAsync("pong@example.com", "pw", null, 0);
        await _d.Service.SetForwardAsync("ping@example.com", ["pong@example.com"], keepCopy: false);
        await _d.Service.SetForwardAsync("pong@example.com", ["ping@example.com"], keepCopy: true);

        var e = await Expand("ping@example.com");
        Assert.Equal("pong@example.com", Assert.Single(e.Mailboxes).Address.ToString());
        Assert.Contains(e.Problems, p => p.Contains("leads back to itself", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deep_nesting_stops_at_the_depth_limit()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddAccountAsync("bottom@example.com", "pw", null, 0);
        var previous = "bottom@example.com";
        for (var i = 0; i < 12; i++)
        {
            var name = $"l{i}@example.com";
            await _d.Service.AddListAsync(name, null, ListPostingPolicy.Anyone);
            await _d.Service.AddListMemberAsync(name, previous, _d.Resolver);
            previous = name;
        }

        var e = await Expand(previous);
        Assert.Empty(e.Mailboxes);
        Assert.Contains(e.Problems, p => p.Contains("deeper than", StringComparison.Ordinal));
        Assert.Single((await Expand("l3@example.com")).Mailboxes);
    }

    [Fact]
    public async Task Disabled_accounts_and_relay_recipients()
    {
        await _d.HostedDomainAsync();
        await _d.Service.AddDomainAsync("relay.test", "Example Inc", DomainKind.Relay, ["mx.relay.test"]);
        await _d.Service.AddAccountAsync("off@example.com", "pw", null, 0);
        await _d.Service.SetDisabledAsync("off@example.com", true);
        await _d.Service.AddListAsync("mixed@example.com", null, ListPostingPolicy.Anyone);
        await _d.Service.AddListMemberAsync("mixed@example.com", "off@example.com", _d.Resolver);
        await _d.Service.AddListMemberAsync("mixed@example.com", "someone@relay.test", _d.Resolver);
        var e = await Expand("mixed@example.com");
        Assert.Empty(e.Mailboxes);
        Assert.Equal("someone@relay.test", Assert.Single(e.Relay).ToString());
        Assert.Contains(e.Problems, p => p.Contains("disabled", StringComparison.Ordinal));
    }
}
