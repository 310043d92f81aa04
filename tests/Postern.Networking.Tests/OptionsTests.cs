using System.Net;

namespace Postern.Networking.Tests;

public class OptionsTests
{
    [Theory]
    [InlineData("10.1.2.3", true)]
    [InlineData("::ffff:10.1.2.3", true)]
    [InlineData("11.0.0.1", false)]
    [InlineData("2001:db8:1::5", true)]
    [InlineData("2001:db8:2::5", false)]
    public void Trusted_proxy_networks_match_ipv4_ipv6_and_mapped_addresses(string address, bool trusted)
    {
        var options = new ListenerOptions("smtp") { ProxyProtocolTrustedNetworks = [IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("2001:db8:1::/48")] };
        Assert.Equal(trusted, options.IsTrustedProxy(IPAddress.Parse(address)));
    }

    [Fact]
    public void Defaults_are_dual_stack_port_25_plain_text_with_a_ten_second_handshake()
    {
        var options = new ListenerOptions("smtp");
        Assert.Equal([new IPEndPoint(IPAddress.IPv6Any, 25)], options.EndPoints);
        Assert.Equal(TlsMode.None, options.Tls);
        Assert.Equal(TimeSpan.FromSeconds(10), options.TlsHandshakeTimeout);
        Assert.Empty(options.ProxyProtocolTrustedNetworks);
        Assert.True(options.Enabled);
    }

    [Fact]
    public void Session_ids_are_short_and_unique()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => SessionIds.Next()).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.All(ids, id => Assert.InRange(id.Length, 10, 12));
        Assert.All(ids, id => Assert.Matches("^[0-9a-z]+$", id));
    }

    [Fact]
    public void A_tls_listener_without_certificates_is_refused_at_construction()
    {
        var error = Assert.Throws<ArgumentException>(() => new ListenerService(new ListenerOptions("imaps") { Tls = TlsMode.Implicit }, new EchoHandler()));
        Assert.Contains("'imaps'", error.Message);
    }
}
