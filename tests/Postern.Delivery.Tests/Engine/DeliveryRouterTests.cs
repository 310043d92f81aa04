using System.Net;
using Postern.Core.Tenants;
using Postern.Delivery.Engine;
using Postern.Delivery.Tests.TlsPolicy;
using Postern.Dns;
using Postern.Protocols.Smtp;

namespace Postern.Delivery.Tests.Engine;

public sealed class DeliveryRouterTests
{
    private static readonly DeliveryOptions Options = new() { Hostname = "gateway.test" };

    private static (DeliveryRouter Router, FakeDns Dns, FakeDirectory Directory) Create(DeliveryOptions? options = null, int seed = 1)
    {
        var dns = new FakeDns();
        var directory = new FakeDirectory();
        return (new DeliveryRouter(options ?? Options, dns, directory, new Random(seed)), dns, directory);
    }

    [Fact]
    public async Task A_null_mx_fails_at_once_with_5_1_10()
    {
        var (router, dns, _) = Create();
        dns.SetMx("nomail.test", (0, "."));

        var plan = await router.PlanAsync("nomail.test", CancellationToken.None);

        Assert.True(plan.IsPermanentFailure);
        Assert.Equal(new EnhancedStatusCode(5, 1, 10), plan.Failure!.Status);
        Assert.Empty(plan.Hosts);
    }

    [Fact]
    public async Task A_domain_that_does_not_exist_bounces_and_a_dns_failure_defers()
    {
        var (router, dns, _) = Create();
        dns.Fail("broken.test", DnsRecordType.MX, DnsStatus.ServerFailure);

        var missing = await router.PlanAsync("missing.test", CancellationToken.None);
        var broken = await router.PlanAsync("broken.test", CancellationToken.None);

        Assert.Equal((550, new EnhancedStatusCode(5, 1, 2)), (missing.Failure!.Code, missing.Failure.Status!.Value));
        Assert.Equal(451, broken.Failure!.Code);
        Assert.False(broken.IsPermanentFailure);
        Assert.Contains("ServerFailure", broken.FailureDetail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_mx_records_the_domain_itself_is_the_mail_exchanger()
    {
        var (router, dns, _) = Create();
        dns.SetA("plain.test", IPAddress.Parse("192.0.2.7"));

        var plan = await router.PlanAsync("plain.test", CancellationToken.None);

        Assert.Null(plan.Failure);
        var host = Assert.Single(plan.Hosts);
        Assert.Equal(("plain.test", 25), (host.Host, host.Port));
        Assert.Equal([IPAddress.Parse("192.0.2.7")], (await router.ResolveAsync(host, CancellationToken.None)).Addresses);
    }

    [Fact]
    public async Task Mx_hosts_go_in_preference_order_with_equal_preferences_in_random_order()
    {
        var orders = new HashSet<string>();
        for (var seed = 0; seed < 20; seed++)
        {
            var (router, dns, _) = Create(seed: seed);
            dns.SetMx("example.test", (20, "backup.example.test"), (10, "a.example.test"), (10, "b.example.test"), (10, "c.example.test"));
            var plan = await router.PlanAsync("example.test", CancellationToken.None);
            Assert.Equal("backup.example.test", plan.Hosts[^1].Host);
            orders.Add(string.Join(",", plan.Hosts.Take(3).Select(h => h.Host)));
        }

        Assert.True(orders.Count > 1, "equal preferences always came in one order");
    }

    [Fact]
    public async Task A_relay_domain_goes_to_its_servers_by_priority_with_its_tls_policy_and_the_mx_is_never_asked()
    {
        var (router, dns, directory) = Create();
        directory.AddRelay("customer.test", new RelayHost("backup.customer.test", 2525, 20), new RelayHost("[192.0.2.10]", 25, 5));
        directory.Set("customer.test", d => d with { Settings = d.Settings with { TlsPolicy = "verify", TlsMatchNames = ["mx.customer.test"] } });

        var plan = await router.PlanAsync("relay:customer.test", CancellationToken.None);

        Assert.Equal(RouteKind.Relay, plan.Kind);
        Assert.Equal([("[192.0.2.10]", 25), ("backup.customer.test", 2525)], plan.Hosts.Select(h => (h.Host, h.Port)));
        Assert.Equal([IPAddress.Parse("192.0.2.10")], plan.Hosts[0].Addresses);
        Assert.Equal(Delivery.TlsPolicy.AdminTlsLevel.Verify, plan.AdminTls!.Level);
        Assert.Equal(["mx.customer.test"], plan.AdminTls.MatchNames);
        Assert.True(plan.MxAuthenticated);
        Assert.Equal(0, dns.Queries);
    }

    [Fact]
    public async Task Hosted_domains_deliver_locally_and_transports_beat_the_smarthost_and_the_mx()
    {
        var options = Options with
        {
            Smarthost = new NextHop("smart.test", 587, User: "u", Password: "p"),
            Transports = new Dictionary<string, NextHop>(StringComparer.OrdinalIgnoreCase) { [".partner.test"] = new("[192.0.2.20]", 2525, Lmtp: true) },
        };
        var (router, dns, directory) = Create(options);
        directory.Domains["hosted.test"] = new OwnDomain("hosted.test", true, false, [], DomainDeliverySettings.Default);

        var local = await router.PlanAsync("hosted.test", CancellationToken.None);
        var transport = await router.PlanAsync("eu.partner.test", CancellationToken.None);
        var smart = await router.PlanAsync("elsewhere.test", CancellationToken.None);

        Assert.Equal(RouteKind.Local, local.Kind);
        Assert.Equal((RouteKind.Transport, "[192.0.2.20]", 2525, true), (transport.Kind, transport.Hosts.Single().Host, transport.Hosts.Single().Port, transport.Hop!.Lmtp));
        Assert.Equal((RouteKind.Smarthost, "smart.test", 587, "u"), (smart.Kind, smart.Hosts.Single().Host, smart.Hosts.Single().Port, smart.Hop!.User));
        Assert.Equal(0, dns.Queries);
    }

    [Fact]
    public void Our_own_listeners_are_recognised_on_any_local_address_and_only_on_their_port()
    {
        var (router, _, _) = Create(Options with { OwnEndpoints = [new IPEndPoint(IPAddress.IPv6Any, 25), new IPEndPoint(IPAddress.Parse("127.0.0.1"), 2525)] });

        Assert.True(router.IsOwnEndpoint(IPAddress.Loopback, 25));
        Assert.True(router.IsOwnEndpoint(IPAddress.IPv6Loopback, 25));
        Assert.True(router.IsOwnEndpoint(IPAddress.Parse("127.0.0.1"), 2525));
        Assert.False(router.IsOwnEndpoint(IPAddress.Loopback, 2526));
        Assert.False(router.IsOwnEndpoint(IPAddress.Parse("192.0.2.1"), 25));
    }

    [Fact]
    public async Task Address_order_follows_the_family_preference()
    {
        var v4 = IPAddress.Parse("192.0.2.1");
        var v6 = IPAddress.Parse("2001:db8::1");
        var host = new RouteHost("dual.test", 25, [v4, v6], false);

        Assert.Equal([v6, v4], (await Create().Router.ResolveAsync(host, CancellationToken.None)).Addresses);
        Assert.Equal([v4, v6], (await Create(Options with { IpPreference = IpPreference.Ipv4First }).Router.ResolveAsync(host, CancellationToken.None)).Addresses);
        Assert.Equal([v4], (await Create(Options with { IpPreference = IpPreference.Ipv4Only }).Router.ResolveAsync(host, CancellationToken.None)).Addresses);
    }

    [Fact]
    public void Retries_start_at_the_first_interval_and_double_up_to_the_cap()
    {
        var first = TimeSpan.FromMinutes(5);
        var max = TimeSpan.FromHours(4);

        Assert.Equal(
            [5, 10, 20, 40, 80, 160, 240, 240],
            Enumerable.Range(1, 8).Select(n => (int)RetrySchedule.Interval(n, first, max).TotalMinutes));
    }
}
