using System.Net;

namespace Postern.Dns;

/// <summary>Settings of <see cref="DnsStubResolver"/>. Unset values come from resolv.conf, then the defaults.</summary>
public sealed class DnsResolverOptions
{
    /// <summary>Servers to ask, in order (any port). Empty: the nameservers of <see cref="ResolvConfPath"/>.</summary>
    public IList<IPEndPoint> Servers { get; init; } = [];

    /// <summary>Where to read servers, timeout and attempts from when they are not set here.</summary>
    public string ResolvConfPath { get; init; } = "/etc/resolv.conf";

    /// <summary>How long to wait for one server's answer. Default: resolv.conf's timeout, else 5 s.</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>How many rounds over all servers. Default: resolv.conf's attempts, else 2.</summary>
    public int? Attempts { get; init; }

    /// <summary>Use TCP for every query instead of UDP with TCP fallback.</summary>
    public bool TcpOnly { get; init; }

    /// <summary>Send an EDNS0 OPT record (advertising <see cref="UdpPayloadSize"/>).</summary>
    public bool UseEdns { get; init; } = true;

    /// <summary>The UDP payload size advertised with EDNS0.</summary>
    public ushort UdpPayloadSize { get; init; } = DnsMessage.DefaultUdpPayloadSize;

    /// <summary>Cached answers live at least this long (raises very small TTLs). Zero keeps TTL 0 uncached.</summary>
    public TimeSpan MinimumCacheTtl { get; init; } = TimeSpan.Zero;

    /// <summary>Cached answers live at most this long.</summary>
    public TimeSpan MaximumCacheTtl { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Negative answers (NXDOMAIN, no data) live at most this long (RFC 2308 §5 suggests 1-3 hours).</summary>
    public TimeSpan MaximumNegativeCacheTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Most results kept; the least recently used go first. Zero disables the cache.</summary>
    public int MaxCacheEntries { get; init; } = 10_000;

    /// <summary>Most CNAMEs followed for one look-up.</summary>
    public int MaxCnameChain { get; init; } = 8;
}

/// <summary>The parts of resolv.conf(5) this resolver uses: nameserver lines and options timeout/attempts.</summary>
public sealed class ResolvConf
{
    /// <summary>The nameservers, on port 53, in file order.</summary>
    public IReadOnlyList<IPEndPoint> Servers { get; init; } = [];

    /// <summary>options timeout:n (capped at 30 s like glibc).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>options attempts:n (capped at 5 like glibc).</summary>
    public int? Attempts { get; init; }

    /// <summary>
    /// Parses resolv.conf text. Unknown lines, bad addresses, search/domain and other options (ndots, rotate...)
    /// are ignored; the search list is never used by this resolver.
    /// </summary>
    public static ResolvConf Parse(string? text)
    {
        var servers = new List<IPEndPoint>();
        TimeSpan? timeout = null;
        int? attempts = null;
        foreach (var rawLine in (text ?? string.Empty).Split('\n'))
        {
            var line = rawLine;
            var comment = line.IndexOfAny(['#', ';']);
            if (comment >= 0)
            {
                line = line[..comment];
            }

            var words = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2)
            {
                continue;
            }

            if (words[0] == "nameserver" && IPAddress.TryParse(words[1], out var address))
            {
                servers.Add(new IPEndPoint(address, 53));
            }
            else if (words[0] == "options")
            {
                foreach (var option in words.Skip(1))
                {
                    if (TryOption(option, "timeout:", out var t))
                    {
                        timeout = TimeSpan.FromSeconds(Math.Clamp(t, 1, 30));
                    }
                    else if (TryOption(option, "attempts:", out var a))
                    {
                        attempts = Math.Clamp(a, 1, 5);
                    }
                }
            }
        }

        return new ResolvConf { Servers = servers, Timeout = timeout, Attempts = attempts };
    }

    /// <summary>Reads and parses a file; a missing or unreadable file gives an empty configuration.</summary>
    public static ResolvConf Load(string path)
    {
        try
        {
            return Parse(File.ReadAllText(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException
            or NotSupportedException)
        {
            return new ResolvConf();
        }
    }

    private static bool TryOption(string option, string prefix, out int value)
    {
        value = 0;
        return option.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(option.AsSpan(prefix.Length), System.Globalization.NumberStyles.None,
                System.Globalization.CultureInfo.InvariantCulture, out value);
    }
}
