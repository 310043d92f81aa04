using System.Net;
using System.Net.Sockets;

namespace Postern.Networking;

/// <summary>A listener could not bind one of its end points; the message says why in operator terms.</summary>
public sealed class ListenerBindException : IOException
{
    /// <summary>Creates the exception.</summary>
    public ListenerBindException(string listener, IPEndPoint endPoint, SocketError error, Exception inner)
        : base(Describe(listener, endPoint, error, inner), inner)
    {
        Listener = listener;
        EndPoint = endPoint;
        SocketError = error;
    }

    /// <summary>Creates the exception.</summary>
    public ListenerBindException()
    {
        Listener = string.Empty;
        EndPoint = new IPEndPoint(IPAddress.None, 0);
    }

    /// <summary>Creates the exception.</summary>
    public ListenerBindException(string message)
        : base(message)
    {
        Listener = string.Empty;
        EndPoint = new IPEndPoint(IPAddress.None, 0);
    }

    /// <summary>Creates the exception.</summary>
    public ListenerBindException(string message, Exception innerException)
        : base(message, innerException)
    {
        Listener = string.Empty;
        EndPoint = new IPEndPoint(IPAddress.None, 0);
    }

    /// <summary>The listener's name.</summary>
    public string Listener { get; }

    /// <summary>The end point that could not be bound.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The socket error.</summary>
    public SocketError SocketError { get; }

    private static string Describe(string listener, IPEndPoint endPoint, SocketError error, Exception inner)
    {
        var why = error switch
        {
            SocketError.AddressAlreadyInUse => "address already in use: another process (or another listener) is bound to it",
            SocketError.AccessDenied => endPoint.Port is > 0 and < 1024
                ? "permission denied: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (for example AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit)"
                : "permission denied",
            SocketError.AddressNotAvailable => "the address is not configured on this host",
            SocketError.AddressFamilyNotSupported => "this host does not support the address family (IPv6 disabled?)",
            _ => inner.Message,
        };
        return $"Listener '{listener}' cannot bind {endPoint}: {why}.";
    }
}
