using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy.EndToEnd;

/// <summary>
/// The STARTTLS certificate checks against a TLS server we did not write: <c>openssl s_server</c> (Debian openssl,
/// scripts/test-deps/tls-policy.txt), sending the chain as OpenSSL builds it, and switching certificates on the
/// SNI name the way mail servers with several names do.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class OpenSslServerTests : IDisposable
{
    private const string Mx = "mx.example.com";
    private readonly TestPki _pki = new("OpenSSL Peer");
    private readonly X509Certificate2 _leaf;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("postern-openssl-peer-");

    public OpenSslServerTests()
    {
        _leaf = _pki.Leaf([Mx]);
    }

    public void Dispose()
    {
        _leaf.Dispose();
        _pki.Dispose();
        _dir.Delete(recursive: true);
    }

    private TlsVerificationOptions Options(bool trustRoots = true) =>
        new() { TrustRoots = trustRoots ? _pki.Roots : null, Time = new ManualClock(TestPki.Now) };

    private static TlsRequirement Requirement(TlsLevel level, params TlsaRecord[] tlsa) => new()
    {
        Level = level,
        Source = level == TlsLevel.Dane ? TlsPolicySource.Dane : TlsPolicySource.AdminPolicy,
        Domain = "example.com",
        MxHost = Mx,
        ReferenceNames = [Mx],
        TlsaRecords = tlsa,
    };

    [Fact]
    public async Task DANE_TA_for_the_root_and_verify_both_accept_the_chain_openssl_sends()
    {
        await using var server = await StartAsync("-cert", Pem("leaf.pem", _leaf), "-key", Key("leaf.key", _leaf),
            "-cert_chain", Pem("chain.pem", _pki.Intermediate, _pki.Root));

        var dane = new TlsPeerVerifier(Requirement(TlsLevel.Dane, TestPki.Tlsa(_pki.Root, 2, 0, 1, Mx)), Options(trustRoots: false));
        var verify = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Options());
        var untrusted = new TlsPeerVerifier(Requirement(TlsLevel.Verify), Options(trustRoots: false));

        Assert.True(await ConnectAsync(server.Port, dane), dane.Outcome?.Detail);
        Assert.True(await ConnectAsync(server.Port, verify), verify.Outcome?.Detail);
        Assert.False(await ConnectAsync(server.Port, untrusted));
        Assert.Equal(TlsPeerTrust.Verified, dane.Outcome!.Trust);
        Assert.Equal(TlsPeerTrust.Untrusted, untrusted.Outcome!.Trust);
    }

    [Fact]
    public async Task SNI_carries_the_MX_name_so_the_server_presents_the_certificate_DANE_pins()
    {
        // openssl presents the self-signed certificate only to clients whose SNI is mx.example.com.
        using var pinned = TestPki.SelfSigned("localhost");
        await using var server = await StartAsync("-cert", Pem("leaf.pem", _leaf), "-key", Key("leaf.key", _leaf),
            "-servername", Mx, "-cert2", Pem("pinned.pem", pinned), "-key2", Key("pinned.key", pinned));

        var verifier = new TlsPeerVerifier(Requirement(TlsLevel.Dane, TestPki.Tlsa(pinned, 3, 1, 1, Mx)), Options());

        Assert.True(await ConnectAsync(server.Port, verifier), verifier.Outcome?.Detail);
        Assert.Contains($"Hostname in TLS extension: \"{Mx}\"", await server.OutputAsync(), StringComparison.Ordinal);
    }

    private static async Task<bool> ConnectAsync(int port, TlsPeerVerifier verifier)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(client.GetStream());
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await tls.AuthenticateAsClientAsync(verifier.CreateClientOptions(), timeout.Token);
            return true;
        }
        catch (AuthenticationException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private string Pem(string name, params X509Certificate2[] certificates)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, string.Concat(certificates.Select(c => c.ExportCertificatePem() + "\n")));
        return path;
    }

    private string Key(string name, X509Certificate2 certificate)
    {
        var path = Path.Combine(_dir.FullName, name);
        using var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("no ECDSA key");
        File.WriteAllText(path, key.ExportPkcs8PrivateKeyPem());
        return path;
    }

    private static async Task<OpenSslServer> StartAsync(params string[] args)
    {
        const string openssl = "/usr/bin/openssl";
        if (!File.Exists(openssl))
        {
            throw new InvalidOperationException("/usr/bin/openssl not found: install the Debian package 'openssl' (scripts/test-deps/tls-policy.txt).");
        }

        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            var info = new ProcessStartInfo(openssl)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var a in new[] { "s_server", "-accept", $"127.0.0.1:{port}" }.Concat(args))
            {
                info.ArgumentList.Add(a);
            }

            var server = new OpenSslServer(Process.Start(info) ?? throw new InvalidOperationException("cannot start openssl"), port);
            if (await server.WaitReadyAsync())
            {
                return server;
            }

            var output = await server.OutputAsync();
            await server.DisposeAsync();
            if (attempt >= 3)
            {
                throw new InvalidOperationException("openssl s_server did not start: " + output);
            }
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private sealed class OpenSslServer : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _output = new();
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public OpenSslServer(Process process, int port)
        {
            _process = process;
            Port = port;
            process.OutputDataReceived += (_, e) => Append(e.Data);
            process.ErrorDataReceived += (_, e) => Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        public int Port { get; }

        public async Task<bool> WaitReadyAsync()
        {
            var done = await Task.WhenAny(_ready.Task, _process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(20)));
            return done == _ready.Task;
        }

        /// <summary>What the server printed (after a short pause, so that the last connection's lines are in).</summary>
        public async Task<string> OutputAsync()
        {
            await Task.Delay(200);
            lock (_output)
            {
                return _output.ToString();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        private void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(line);
            }

            if (line.Contains("ACCEPT", StringComparison.Ordinal))
            {
                _ready.TrySetResult();
            }
        }
    }
}
