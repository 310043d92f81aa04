using System.Net;

namespace Postern.Dns.Tests;

public class ResolvConfTests
{
    [Fact]
    public void Nameservers_timeout_and_attempts_are_read_and_the_rest_ignored()
    {
        var conf = ResolvConf.Parse("""
            # generated
            search corp.example
            domain corp.example
            nameserver 192.0.2.53
            nameserver 2001:db8::53 ; second
            nameserver fe80::1%lo
            nameserver not-an-address
            options ndots:5 timeout:3 attempts:4 rotate
            sortlist 130.155.160.0/255.255.240.0
            """);

        Assert.Equal(
            [new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53),
             new IPEndPoint(IPAddress.Parse("fe80::1%lo"), 53)],
            conf.Servers);
        Assert.Equal(TimeSpan.FromSeconds(3), conf.Timeout);
        Assert.Equal(4, conf.Attempts);
    }

    [Fact]
    public void Out_of_range_options_are_capped_like_glibc()
    {
        var conf = ResolvConf.Parse("options timeout:99 attempts:50\noptions timeout:x");

        Assert.Equal(TimeSpan.FromSeconds(30), conf.Timeout);
        Assert.Equal(5, conf.Attempts);
    }

    [Fact]
    public void Missing_file_gives_no_servers_and_resolver_falls_back_to_loopback()
    {
        var path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "resolv.conf");

        Assert.Empty(ResolvConf.Load(path).Servers);
        using var resolver = new DnsStubResolver(new DnsResolverOptions { ResolvConfPath = path });
        Assert.Equal([new IPEndPoint(IPAddress.Loopback, 53)], resolver.Servers);
        Assert.Equal(TimeSpan.FromSeconds(5), resolver.Timeout);
        Assert.Equal(2, resolver.Attempts);
    }

    [Fact]
    public void Resolver_takes_servers_and_options_from_the_file_unless_set()
    {
        var dir = Directory.CreateTempSubdirectory("postern-dns-");
        try
        {
            var path = Path.Combine(dir.FullName, "resolv.conf");
            File.WriteAllText(path, "nameserver 127.0.0.2\noptions timeout:1 attempts:3\n");

            using var fromFile = new DnsStubResolver(new DnsResolverOptions { ResolvConfPath = path });
            using var overridden = new DnsStubResolver(new DnsResolverOptions
            {
                ResolvConfPath = path,
                Servers = [new IPEndPoint(IPAddress.Loopback, 5353)],
                Attempts = 1,
            });

            Assert.Equal([new IPEndPoint(IPAddress.Parse("127.0.0.2"), 53)], fromFile.Servers);
            Assert.Equal((TimeSpan.FromSeconds(1), 3), (fromFile.Timeout, fromFile.Attempts));
            Assert.Equal([new IPEndPoint(IPAddress.Loopback, 5353)], overridden.Servers);
            Assert.Equal((TimeSpan.FromSeconds(1), 1), (overridden.Timeout, overridden.Attempts));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
