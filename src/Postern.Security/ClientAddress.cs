using System.Net;
using System.Net.Sockets;

namespace Postern.Security;

/// <summary>
/// The key a client IP is counted under: an IPv4 address on its own (IPv4-mapped IPv6 is read as IPv4), an IPv6
/// address by its prefix (a /64 by default, since one customer line or host usually gets a whole /64).
/// </summary>
public static class ClientAddress
{
    public static string Key(IPAddress address, int ipv6PrefixLength = 64)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var prefix = Math.Clamp(ipv6PrefixLength, 0, 128);
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        for (var i = 0; i < 16; i++)
        {
            var keep = Math.Clamp(prefix - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }

        return new IPAddress(bytes).ToString() + "/" + prefix.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>Networks (CIDR, e.g. <c>10.0.0.0/8</c>, <c>2001:db8::/32</c>, or a single address) exempt from limits.</summary>
public sealed class TrustedNetworks
{
    private readonly IPNetwork[] _networks;

    public TrustedNetworks(IEnumerable<string> networks)
    {
        ArgumentNullException.ThrowIfNull(networks);
        var list = new List<IPNetwork>();
        foreach (var text in networks)
        {
            var t = text.Trim();
            if (IPNetwork.TryParse(t, out var network))
            {
                list.Add(network);
            }
            else if (IPAddress.TryParse(t, out var single))
            {
                list.Add(new IPNetwork(single, single.AddressFamily == AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                throw new FormatException($"'{text}' is not an IP network (expected CIDR such as 192.0.2.0/24).");
            }
        }

        _networks = [.. list];
    }

    public bool Contains(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (_networks.Length == 0)
        {
            return false;
        }

        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var n in _networks)
        {
            if (n.Contains(a))
            {
                return true;
            }
        }

        return false;
    }
}
