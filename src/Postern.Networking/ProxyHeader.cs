using System.Net;

namespace Postern.Networking;

/// <summary>The command carried by a PROXY protocol header.</summary>
public enum ProxyCommand
{
    /// <summary>The connection was made by the proxy itself (health check, v2 LOCAL): keep the real peer.</summary>
    Local = 0,

    /// <summary>The connection is relayed on behalf of a client whose addresses the header carries.</summary>
    Proxy = 1,
}

/// <summary>Why a PROXY header was refused.</summary>
public enum ProxyHeaderError
{
    /// <summary>No error.</summary>
    None = 0,

    /// <summary>The input starts neither with the v1 "PROXY " preamble nor with the v2 signature.</summary>
    NotProxyProtocol,

    /// <summary>The v1 line is longer than 107 bytes.</summary>
    LineTooLong,

    /// <summary>The v1 line does not end in CRLF or is otherwise malformed.</summary>
    MalformedLine,

    /// <summary>The v1 protocol token is not TCP4, TCP6 or UNKNOWN.</summary>
    UnknownProtocol,

    /// <summary>An address does not parse or does not match the announced family.</summary>
    BadAddress,

    /// <summary>A port is not a decimal number from 0 to 65535.</summary>
    BadPort,

    /// <summary>The v2 version nibble is not 2.</summary>
    UnsupportedVersion,

    /// <summary>The v2 command nibble is neither LOCAL nor PROXY.</summary>
    UnsupportedCommand,

    /// <summary>The v2 address family or transport protocol is not defined.</summary>
    UnsupportedFamily,

    /// <summary>The v2 length is over the limit.</summary>
    HeaderTooLong,

    /// <summary>The v2 length is too short for the announced address family.</summary>
    AddressBlockTooShort,

    /// <summary>A v2 TLV runs past the end of the header.</summary>
    MalformedTlv,
}

/// <summary>
/// A parsed PROXY protocol (v1 or v2) header. <see cref="Source"/> and <see cref="Destination"/> are set only
/// for a relayed TCP connection over IPv4 or IPv6; for LOCAL, UNKNOWN, UNSPEC and AF_UNIX they are null and
/// the real peer address stays in force. IPv4-mapped IPv6 addresses are normalised to IPv4.
/// </summary>
/// <param name="Version">1 for the text form, 2 for the binary form.</param>
/// <param name="Command">LOCAL or PROXY.</param>
/// <param name="Source">The original client, or null when the header carries no usable address.</param>
/// <param name="Destination">The address the client connected to, or null.</param>
public readonly record struct ProxyHeader(int Version, ProxyCommand Command, IPEndPoint? Source, IPEndPoint? Destination)
{
    /// <summary>True when the header carries a client address that replaces the real peer.</summary>
    public bool HasAddresses => Source is not null;
}
