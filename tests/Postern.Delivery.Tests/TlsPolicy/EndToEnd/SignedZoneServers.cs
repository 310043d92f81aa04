using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy.EndToEnd;

/// <summary>
/// Real DNS for DANE (Debian nsd, unbound, ldnsutils; scripts/test-deps/tls-policy.txt), from a private temp
/// folder on loopback high ports: nsd serves <c>dane.test</c> (signed with ldns-signzone, TLSA records for
/// certificates made by this fixture), <c>bogus.test</c> (signed, then a TLSA record altered so validation fails)
/// and <c>plain.test</c> (unsigned, with a TLSA record); unbound validates with the signed zones' keys as trust
/// anchors. Nothing leaves the machine.
/// </summary>
public sealed partial class SignedZoneServers : IAsyncLifetime
{
    private readonly List<Process> _processes = [];
    private readonly StringBuilder _log = new();
    private DirectoryInfo? _dir;

    public SignedZoneServers()
    {
        Pki = new TestPki("DANE Test");
        Leaf = Pki.Leaf(["mx.dane.test", "mx2.dane.test", "mx3.dane.test"]);
    }

    internal TestPki Pki { get; }

    /// <summary>The MX hosts' certificate (issued by <see cref="TestPki.Intermediate"/>).</summary>
    public X509Certificate2 Leaf { get; }

    public IPEndPoint Unbound { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var nsd = Require("nsd", "nsd");
        var unbound = Require("unbound", "unbound");
        var keygen = Require("ldns-keygen", "ldnsutils");
        var signzone = Require("ldns-signzone", "ldnsutils");

        _dir = Directory.CreateTempSubdirectory("postern-dane-e2e-");
        var dir = _dir.FullName;
        var nsdPort = FreePort(-1);
        var unboundPort = FreePort(nsdPort);
        Unbound = new IPEndPoint(IPAddress.Loopback, unboundPort);

        var ee = Hex(Leaf, 1, 1);
        var ta = Hex(Pki.Intermediate, 1, 1);
        var zones = new Dictionary<string, string>
        {
            ["dane.test"] = $"""
                @               IN MX    10 mx
                mx              IN A     127.0.0.1
                _25._tcp.mx     IN TLSA  3 1 1 {ee}
                mx2             IN A     127.0.0.1
                _25._tcp.mx2    IN TLSA  2 1 1 {ta}
                mx3             IN A     127.0.0.1
                _25._tcp.mx3    IN TLSA  1 1 1 {ee}
                nodane          IN A     127.0.0.1
                """,
            ["bogus.test"] = $"""
                @               IN MX    10 mx
                mx              IN A     127.0.0.1
                _25._tcp.mx     IN TLSA  3 1 1 {ee}
                """,
            ["plain.test"] = $"""
                @               IN MX    10 mx
                mx              IN A     127.0.0.1
                _25._tcp.mx     IN TLSA  3 1 1 {ee}
                """,
        };

        var anchors = new StringBuilder();
        foreach (var (zone, records) in zones)
        {
            var source = string.Create(CultureInfo.InvariantCulture, $"""
                $ORIGIN {zone}.
                $TTL 300
                @   IN SOA ns1 hostmaster 1 3600 600 86400 60
                @   IN NS  ns1
                ns1 IN A   127.0.0.1
                {records}

                """);
            await File.WriteAllTextAsync(Path.Combine(dir, zone + ".zone"), source);
            if (zone == "plain.test")
            {
                continue;
            }

            var ksk = (await RunAsync(keygen, dir, "-r", "/dev/urandom", "-a", "ECDSAP256SHA256", "-k", zone)).Trim();
            var zsk = (await RunAsync(keygen, dir, "-r", "/dev/urandom", "-a", "ECDSAP256SHA256", zone)).Trim();
            await RunAsync(signzone, dir, "-f", zone + ".zone.signed", zone + ".zone", ksk, zsk);
            anchors.AppendLine(await File.ReadAllTextAsync(Path.Combine(dir, ksk + ".key")));
        }

        // Break bogus.test after signing: the TLSA data no longer matches its RRSIG.
        var bogusPath = Path.Combine(dir, "bogus.test.zone.signed");
        var bogus = await File.ReadAllTextAsync(bogusPath);
        var tampered = TlsaLine().Replace(bogus, m => m.Groups[1].Value + (m.Groups[2].Value[0] == '0' ? '1' : '0') + m.Groups[2].Value[1..], 1);
        if (tampered == bogus)
        {
            throw new InvalidOperationException("signed bogus.test zone has no TLSA record to tamper with:\n" + bogus);
        }

        await File.WriteAllTextAsync(bogusPath, tampered);
        await File.WriteAllTextAsync(Path.Combine(dir, "anchors.key"), anchors.ToString());
        await File.WriteAllTextAsync(Path.Combine(dir, "nsd.conf"), NsdConfig(dir, nsdPort));
        await File.WriteAllTextAsync(Path.Combine(dir, "unbound.conf"), UnboundConfig(dir, unboundPort, nsdPort));

        Start(nsd, dir, "-d", "-c", Path.Combine(dir, "nsd.conf"));
        await WaitUntilAnsweringAsync(new IPEndPoint(IPAddress.Loopback, nsdPort), "nsd");
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

        Leaf.Dispose();
        Pki.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Our stub resolver pointed at the validating unbound on loopback (so the AD bit is trusted).</summary>
    public DnsStubResolver NewResolver() => new(new DnsResolverOptions
    {
        Servers = [Unbound],
        Timeout = TimeSpan.FromSeconds(3),
        Attempts = 2,
        ResolvConfPath = "/nonexistent",
    });

    [GeneratedRegex(@"(\tTLSA\t3 1 1 )([0-9a-fA-F]+)")]
    private static partial Regex TlsaLine();

    private static string Hex(X509Certificate2 cert, byte selector, byte matching) =>
        Convert.ToHexString(Postern.Delivery.TlsPolicy.DaneVerifier.ComputeAssociationData(cert, selector, matching));

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

        throw new InvalidOperationException($"'{program}' not found: install the Debian package '{package}' (scripts/test-deps/tls-policy.txt).");
    }

    private static int FreePort(int except)
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

    private static async Task<string> RunAsync(string program, string dir, params string[] args)
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
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
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
        process.OutputDataReceived += (_, e) => Append(program, e.Data);
        process.ErrorDataReceived += (_, e) => Append(program, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
    }

    private void Append(string program, string? line)
    {
        if (line is not null)
        {
            lock (_log)
            {
                _log.Append(Path.GetFileName(program)).Append(": ").AppendLine(line);
            }
        }
    }

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
            var result = await probe.ResolveAsync("dane.test", DnsRecordType.SOA);
            if (result.IsSuccess)
            {
                return;
            }

            if (result.Status == DnsStatus.NetworkError)
            {
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
          name: dane.test
          zonefile: dane.test.zone.signed
        zone:
          name: bogus.test
          zonefile: bogus.test.zone.signed
        zone:
          name: plain.test
          zonefile: plain.test.zone

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
          do-daemonize: no
          do-not-query-localhost: no
          num-threads: 1
          so-reuseport: no
          module-config: "validator iterator"
          trust-anchor-file: "{dir}/anchors.key"
          trust-anchor-signaling: no
          qname-minimisation: no
          local-zone: "test." nodefault
        remote-control:
          control-enable: no
        stub-zone:
          name: "."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "dane.test."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "bogus.test."
          stub-addr: 127.0.0.1@{nsdPort}
        stub-zone:
          name: "plain.test."
          stub-addr: 127.0.0.1@{nsdPort}

        """;
}
