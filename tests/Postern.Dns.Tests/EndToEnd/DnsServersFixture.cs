using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Dns.Tests.EndToEnd;

/// <summary>
/// Real Debian DNS servers on loopback high ports, from a private temp folder: nsd serves the zone files
/// (e2e.test unsigned, signed.test signed with ldns-signzone, bogus.test signed then tampered with, and a reverse
/// zone), and unbound resolves and validates them with the signed zones' keys as trust anchors. Nothing is
/// asked outside this machine: unbound's root goes to nsd, which refuses it.
/// </summary>
public sealed class DnsServersFixture : IAsyncLifetime
{
    public const string LongTxtName = "long.e2e.test";

    private readonly List<Process> _processes = [];
    private readonly StringBuilder _log = new();
    private DirectoryInfo? _dir;

    /// <summary>The validating unbound.</summary>
    public IPEndPoint Unbound { get; private set; } = null!;

    /// <summary>The authoritative nsd (answers without recursion, never AD).</summary>
    public IPEndPoint Nsd { get; private set; } = null!;

    /// <summary>The TXT strings of <see cref="LongTxtName"/>: about 2 KB, more than fits in 1232 bytes of UDP.</summary>
    public static IReadOnlyList<string> LongTxtStrings { get; } =
        [.. Enumerable.Range(0, 8).Select(i => new string((char)('a' + i), 250))];

    public static readonly byte[] TlsaHash = [.. Enumerable.Range(0, 32).Select(i => (byte)(0xa0 + i))];

    public async Task InitializeAsync()
    {
        var nsd = Require("nsd", "nsd");
        var unbound = Require("unbound", "unbound");
        var keygen = Require("ldns-keygen", "ldnsutils");
        var signzone = Require("ldns-signzone", "ldnsutils");

        _dir = Directory.CreateTempSubdirectory("postern-dns-e2e-");
        var dir = _dir.FullName;
        var nsdPort = FreePort();
        var unboundPort = FreePort(except: nsdPort);
        Nsd = new IPEndPoint(IPAddress.Loopback, nsdPort);
        Unbound = new IPEndPoint(IPAddress.Loopback, unboundPort);

        await File.WriteAllTextAsync(Path.Combine(dir, "e2e.test.zone"), UnsignedZone());
        await File.WriteAllTextAsync(Path.Combine(dir, "reverse.zone"), ReverseZone());
        var anchors = new StringBuilder();
        foreach (var zone in new[] { "signed.test", "bogus.test" })
        {
            await File.WriteAllTextAsync(Path.Combine(dir, zone + ".zone"), SignedZoneSource(zone));
            var ksk = (await RunAsync(keygen, dir, "-r", "/dev/urandom", "-a", "ECDSAP256SHA256", "-k", zone)).Trim();
            var zsk = (await RunAsync(keygen, dir, "-r", "/dev/urandom", "-a", "ECDSAP256SHA256", zone)).Trim();
            await RunAsync(signzone, dir, "-f", zone + ".zone.signed", zone + ".zone", ksk, zsk);
            anchors.AppendLine(await File.ReadAllTextAsync(Path.Combine(dir, ksk + ".key")));
        }

        // Break bogus.test: change an address after signing, so its RRSIG no longer matches.
        var bogusPath = Path.Combine(dir, "bogus.test.zone.signed");
        var bogus = await File.ReadAllTextAsync(bogusPath);
        if (!bogus.Contains("192.0.2.66", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("signed bogus.test zone does not contain the record to tamper with");
        }

        await File.WriteAllTextAsync(bogusPath, bogus.Replace("192.0.2.66", "192.0.2.99", StringComparison.Ordinal));
        await File.WriteAllTextAsync(Path.Combine(dir, "anchors.key"), anchors.ToString());
        await File.WriteAllTextAsync(Path.Combine(dir, "nsd.conf"), NsdConfig(dir, nsdPort));
        await File.WriteAllTextAsync(Path.Combine(dir, "unbound.conf"), UnboundConfig(dir, unboundPort, nsdPort));

        // nsd first, and only then unbound: an unbound that finds nsd down would back off from it for a while.
        Start(nsd, dir, "-d", "-c", Path.Combine(dir, "nsd.conf"));
        await WaitUntilAnsweringAsync(Nsd, "nsd");
        Start(unbound, dir, "-d", "-c", Path.Combine(dir, "unbound.conf"));
        await WaitUntilAnsweringAsync(Unbound, "unbound");
    }

    public Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                    process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }

        try
        {
            _dir?.Delete(recursive: true);
        }
        catch (IOException)
        {
        }

        return Task.CompletedTask;
    }

    /// <summary>A resolver pointed at unbound, with its own cache.</summary>
    public DnsStubResolver NewResolver(bool tcpOnly = false, IPEndPoint? server = null) => new(new DnsResolverOptions
    {
        Servers = [server ?? Unbound],
        Timeout = TimeSpan.FromSeconds(3),
        Attempts = 2,
        TcpOnly = tcpOnly,
        ResolvConfPath = "/nonexistent",
    });

    private static string Require(string program, string package)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':')
                     .Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        {
            var path = Path.Combine(folder, program);
            if (File.Exists(path))
            {
                return path;
            }
        }

        throw new InvalidOperationException(
            $"'{program}' not found: install the Debian package '{package}' (listed in scripts/test-deps/dns.txt; scripts/install-test-deps.sh installs it).");
    }

    private static int FreePort(int except = -1)
    {
        for (var tries = 0; tries < 100; tries++)
        {
            using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            if (port == except || port < 1024)
            {
                continue;
            }

            try
            {
                using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                tcp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("no free port on 127.0.0.1");
    }

    private async Task<string> RunAsync(string program, string dir, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        }

        return await stdout;
    }

    private void Start(string program, string dir, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        process.OutputDataReceived += (_, e) => AppendLog(program, e.Data);
        process.ErrorDataReceived += (_, e) => AppendLog(program, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
    }

    private void AppendLog(string program, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Append(Path.GetFileName(program)).Append(": ").AppendLine(line);
        }
    }

    /// <summary>Asks for the SOA of signed.test until the server answers it (each try waits for a reply, not a sleep).</summary>
    private async Task WaitUntilAnsweringAsync(IPEndPoint server, string name)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            if (_processes.Any(p => p.HasExited))
            {
                break;
            }

            using var probe = new DnsStubResolver(new DnsResolverOptions
            {
                Servers = [server],
                Timeout = TimeSpan.FromMilliseconds(200),
                Attempts = 1,
                MaxCacheEntries = 0,
                ResolvConfPath = "/nonexistent",
            });
            var result = await probe.ResolveAsync("signed.test", DnsRecordType.SOA);
            if (result.IsSuccess)
            {
                return;
            }

            if (result.Status == DnsStatus.NetworkError)
            {
                // Port not open yet: ICMP unreachable comes back at once; wait for the process to log something.
                await Task.WhenAny(_processes.Select(p => p.WaitForExitAsync()).Append(Task.Delay(100)));
            }
        }

        string log;
        lock (_log)
        {
            log = _log.ToString();
        }

        var files = string.Join('\n', Directory.GetFiles(_dir!.FullName, "*.log").Select(File.ReadAllText));
        throw new InvalidOperationException($"{name} on {server} did not start answering.\n{log}\n{files}");
    }

    private static string UnsignedZone()
    {
        var longTxt = string.Join(' ', LongTxtStrings.Select(s => $"\"{s}\""));
        var tlsa = Convert.ToHexString(TlsaHash);
        return $$"""
            $ORIGIN e2e.test.
            $TTL 300
            @           IN SOA   ns1 hostmaster 1 3600 600 86400 60
            @           IN NS    ns1
            ns1         IN A     127.0.0.1
            @           IN MX    20 mx2
            @           IN MX    10 mx1
            mx1         IN A     192.0.2.25
            mx1         IN AAAA  2001:db8::25
            mx2         IN A     192.0.2.26
            www         IN CNAME web
            web         IN CNAME host
            host        IN A     192.0.2.80
            host        IN AAAA  2001:db8::80
            spf         IN TXT   "v=spf1 ip4:192.0.2.0/24" " -all"
            long        IN TXT   {{longTxt}}
            _imaps._tcp IN SRV   10 5 993 host
            _imaps._tcp IN SRV   0 1 993 mx1
            _25._tcp.mx1 IN TLSA 3 1 1 {{tlsa}}
            to-signed   IN CNAME www.signed.test.
            loop1       IN CNAME loop2
            loop2       IN CNAME loop1
            xn--bcher-kva IN A   192.0.2.77

            """;
    }

    private static string ReverseZone() => """
        $ORIGIN 2.0.192.in-addr.arpa.
        $TTL 300
        @   IN SOA ns1.e2e.test. hostmaster.e2e.test. 1 3600 600 86400 60
        @   IN NS  ns1.e2e.test.
        80  IN PTR host.e2e.test.

        """;

    private static string SignedZoneSource(string zone) => string.Create(CultureInfo.InvariantCulture, $"""
        $ORIGIN {zone}.
        $TTL 300
        @   IN SOA ns1 hostmaster 1 3600 600 86400 60
        @   IN NS  ns1
        ns1 IN A   127.0.0.1
        www IN A   192.0.2.66
        _25._tcp.www IN TLSA 3 1 1 {Convert.ToHexString(TlsaHash)}

        """);

    private static string NsdConfig(string dir, int port) => $"""
        server:
          ip-address: 127.0.0.1@{port}
          port: {port}
          do-ip6: no
          username: ""
          chroot: ""
          zonesdir: "{dir}"
          pidfile: "{dir}/nsd.pid"
          database: ""
          zonelistfile: "{dir}/zone.list"
          xfrdfile: "{dir}/xfrd.state"
          xfrdir: "{dir}"
          logfile: "{dir}/nsd.log"
          server-count: 1
          verbosity: 1
        remote-control:
          control-enable: no
        zone:
          name: e2e.test
          zonefile: e2e.test.zone
        zone:
          name: 2.0.192.in-addr.arpa
          zonefile: reverse.zone
        zone:
          name: signed.test
          zonefile: signed.test.zone.signed
        zone:
          name: bogus.test
          zonefile: bogus.test.zone.signed

        """;

    private static string UnboundConfig(string dir, int port, int nsdPort) => $"""
        server:
          interface: 127.0.0.1
          port: {port}
          do-ip6: no
          access-control: 127.0.0.0/8 allow
          username: ""
          chroot: ""
          directory: "{dir}"
          pidfile: "{dir}/unbound.pid"
          use-syslog: no
          logfile: "{dir}/unbound.log"
          verbosity: 1
          val-log-level: 2
          do-daemonize: no
          do-not-query-localhost: no
          num-threads: 1
          so-reuseport: no
          module-config: "validator iterator"
          trust-anchor-file: "{dir}/anchors.key"
          trust-anchor-signaling: no
          qname-minimisation: no
          edns-buffer-size: 1232
          local-zone: "test." nodefault
          local-zone: "2.0.192.in-addr.arpa." nodefault
        remote-control:
          control-enable: no
        stub-zone:
          name: "."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "e2e.test."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "2.0.192.in-addr.arpa."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "signed.test."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "bogus.test."
          stub-addr: 127.0.0.1@{nsdPort}

        """;
}
