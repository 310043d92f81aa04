using System.Net;

namespace Postern.Networking;

/// <summary>Address helpers shared by the connection layer.</summary>
public static class Addresses
{
    /// <summary>Maps an IPv4-mapped IPv6 address (::ffff:a.b.c.d) to plain IPv4; other addresses are returned as they are.</summary>
    public static IPAddress Normalise(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Maps an end point with an IPv4-mapped IPv6 address to the plain IPv4 end point.</summary>
    public static IPEndPoint Normalise(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
}
