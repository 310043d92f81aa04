using System.Collections.Concurrent;
using System.Net;

namespace Postern.Server.Smtp;

/// <summary>The server's own rules for SMTP sessions (configuration section <c>Smtp</c>).</summary>
public sealed record SmtpPolicy
{
    /// <summary>Offer AUTH on the MX listener (port 25) once TLS is active. Off by default: users submit on 587/465.</summary>
    public bool AuthOnMx { get; init; }

    /// <summary>Our name in the delivery status notifications this layer writes (Reporting-MTA, MAILER-DAEMON@).</summary>
    public string Hostname { get; init; } = "localhost";

    /// <summary>A full mailbox answers 552 5.2.2 (permanent) instead of 452 4.2.2 (try again later).</summary>
    public bool OverQuotaIsPermanent { get; init; }

    /// <summary>A message with more Received fields than this is refused 554 5.4.6 (RFC 5321 §6.3: a mail loop).</summary>
    public int MaxReceivedHeaders { get; init; } = 100;

    /// <summary>Name the authenticated user in the Received field (Postfix: smtpd_sasl_authenticated_header).</summary>
    public bool ReceivedShowsAuthenticatedUser { get; init; }

    /// <summary>
    /// On the MX listener, how long a client seen for the first time waits for the greeting; a client that
    /// talks during it is refused (a postscreen-style pregreet test). Trusted networks and clients that
    /// passed within <see cref="GreetingPassLifetime"/> are greeted at once. Zero turns the test off.
    /// </summary>
    public TimeSpan MxGreetingDelay { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan GreetingPassLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>A client silent this long gets 421 4.4.2 and is disconnected (RFC 5321 §4.5.3.2.7: at least 5 minutes).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Accounts that may sign in for any user (Dovecot's master users): AUTH PLAIN with the user as authorization
    /// identity and the master's own login and password. Without them an authorization identity must equal the login.
    /// </summary>
    public IReadOnlySet<string> MasterUsers { get; init; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase);

    /// <summary>A session, however active, ends with 421 4.4.2 after this long.</summary>
    public TimeSpan MaxSessionTime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Networks exempt from the greeting test and the rate limits (never from relay control: relaying needs AUTH).</summary>
    public IReadOnlyList<IPNetwork> TrustedNetworks { get; init; } = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];

    /// <summary>Whether <paramref name="address"/> is in <see cref="TrustedNetworks"/> (IPv4-mapped addresses as IPv4).</summary>
    public bool IsTrusted(IPAddress address)
    {
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in TrustedNetworks)
        {
            if (network.Contains(a))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// Clients that waited for the greeting recently (IPv4 addresses, IPv6 /64 networks), so they are not made
/// to wait again. Bounded: when full, the oldest half is dropped.
/// </summary>
public sealed class GreetingPassCache(TimeProvider time, int capacity = 100_000)
{
    private readonly ConcurrentDictionary<UInt128, DateTimeOffset> _passed = new();

    public bool HasPassed(IPAddress address, TimeSpan lifetime) =>
        _passed.TryGetValue(Key(address), out var when) && time.GetUtcNow() - when < lifetime;

    public void RecordPass(IPAddress address)
    {
        if (_passed.Count >= capacity)
        {
            foreach (var old in _passed.OrderBy(p => p.Value).Take(capacity / 2).Select(p => p.Key).ToList())
            {
                _passed.TryRemove(old, out _);
            }
        }

        _passed[Key(address)] = time.GetUtcNow();
    }

    /// <summary>An IPv4 address, or the /64 of an IPv6 address (one host hands out many addresses of its /64).</summary>
    private static UInt128 Key(IPAddress address)
    {
        var a = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        Span<byte> bytes = stackalloc byte[16];
        a.TryWriteBytes(bytes, out var written);
        if (written == 4)
        {
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        }

        return new UInt128(System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes), 1);
    }
}
