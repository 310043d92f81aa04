using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Postern.Delivery.Srs;

namespace Postern.Delivery.Tests.EndToEnd;

/// <summary>
/// Interoperability with postsrsd (Debian package postsrsd, listed in scripts/test-deps/srs.txt), the SRS daemon
/// people run beside Postfix: it is started on loopback with our secret and queried through Postfix's tcp_table
/// protocol (<c>get &lt;address&gt;</c>, %XX-encoded), exactly as Postfix would.
/// </summary>
[Trait("Category", "EndToEnd")]
public sealed class PostsrsdInteropTests(PostsrsdDaemon daemon) : IClassFixture<PostsrsdDaemon>
{
    private const string Secret = PostsrsdDaemon.Secret;
    private const string Domain = PostsrsdDaemon.Domain;
    private readonly int _forwardPort = daemon.ForwardPort;
    private readonly int _reversePort = daemon.ReversePort;

    public static TheoryData<string> Senders => new()
    {
        "alice@example.org",
        "Bob.Smith+tag@Mail.Example.COM",
        "o'brien=x@example.net",
        "\"john doe\"@example.org",
        "josé@example.org",
        "用户@xn--fiqs8s.example",
        "SRS0=ABCD=XY=example.org=bob@first.example",
    };

    [Theory]
    [MemberData(nameof(Senders))]
    public async Task Postsrsd_reverses_what_we_make(string sender)
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = Domain }, new SrsKeyRing([Secret]));
        var made = ours.Forward(sender);
        Assert.True(made.IsRewritten);
        Assert.True(SrsAddressSyntax.TrySplit(made.Address, out var local, out var domain));

        var (code, answer) = await QueryAsync(_reversePort, local + "@" + domain);
        Assert.True(code == 200, $"{made.Address}: {code} {answer}");
        Assert.True(SrsAddressSyntax.TrySplit(ours.Reverse(made.Address).Address!, out var expectedLocal, out var expectedDomain));
        Assert.Equal(expectedLocal + "@" + expectedDomain, answer);
    }

    [Theory]
    [MemberData(nameof(Senders))]
    public async Task We_reverse_what_postsrsd_makes(string sender)
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = Domain }, new SrsKeyRing(["a-newer-secret", Secret]));
        Assert.True(SrsAddressSyntax.TrySplit(sender, out var local, out var domain));
        var (code, made) = await QueryAsync(_forwardPort, local + "@" + domain);
        Assert.Equal(200, code);
        Assert.True(SrsAddressSyntax.TrySplit(made, out var srsLocal, out var srsDomain));
        Assert.Equal(Domain, srsDomain);

        var back = ours.Reverse(SrsAddressSyntax.Join(srsLocal, srsDomain));
        Assert.True(back.IsValid, $"{made}: {back.Reason}");
        Assert.True(SrsAddressSyntax.TrySplit(back.Address!, out var backLocal, out var backDomain));
        Assert.Equal(local, backLocal);
        Assert.Equal(domain, backDomain, ignoreCase: true);
    }

    [Fact]
    public async Task Postsrsd_refuses_our_address_once_forged()
    {
        var ours = new SrsRewriter(new SrsOptions { Domain = Domain }, new SrsKeyRing([Secret]));
        var forged = ours.Forward("alice@example.org").Address.Replace("=alice@", "=mallory@", StringComparison.Ordinal);
        var (code, _) = await QueryAsync(_reversePort, forged);
        Assert.Equal(500, code);
        Assert.Equal(SrsReverseStatus.BadHash, ours.Reverse(forged).Status);
    }

    /// <summary>One Postfix tcp_table lookup: "get " + %XX-encoded key; the answer is "200 value" or "4xx/5xx reason".</summary>
    private static async Task<(int Code, string Text)> QueryAsync(int port, string key)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("get " + Encode(key) + "\n"));
        var buffer = new byte[4096];
        var received = new List<byte>();
        while (!received.Contains((byte)'\n'))
        {
            var n = await stream.ReadAsync(buffer);
            if (n == 0)
            {
                break;
            }

            received.AddRange(buffer.AsSpan(0, n).ToArray());
        }

        var line = Encoding.ASCII.GetString(received.ToArray()).TrimEnd('\r', '\n');
        return (int.Parse(line[..3], System.Globalization.CultureInfo.InvariantCulture), Decode(line[4..]));
    }

    private static string Encode(string text)
    {
        var sb = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            if (b <= 32 || b >= 127 || b == '%')
            {
                sb.Append('%').Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append((char)b);
            }
        }

        return sb.ToString();
    }

    private static string Decode(string text)
    {
        var bytes = new List<byte>();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == '%' && i + 2 < text.Length)
            {
                bytes.Add(Convert.ToByte(text.Substring(i + 1, 2), 16));
                i += 2;
            }
            else
            {
                bytes.Add((byte)text[i]);
            }
        }

        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}

/// <summary>One postsrsd on loopback ports for the test class, with a secret file in a temporary folder.</summary>
public sealed class PostsrsdDaemon : IDisposable
{
    public const string Secret = "postsrsd-interop-secret";
    public const string Domain = "fwd.example.net";
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "postern-postsrsd-" + Guid.NewGuid().ToString("N"));
    private readonly Process _daemon;

    public PostsrsdDaemon()
    {
        const string Program = "/usr/sbin/postsrsd";
        Assert.True(File.Exists(Program), "postsrsd is not installed: install the Debian package 'postsrsd' (listed in scripts/test-deps/srs.txt).");
        Directory.CreateDirectory(_folder);
        var secretFile = Path.Combine(_folder, "secret");
        File.WriteAllText(secretFile, Secret + "\n");
        ForwardPort = FreePort();
        do
        {
            ReversePort = FreePort();
        }
        while (ReversePort == ForwardPort);
        var psi = new ProcessStartInfo(Program) { UseShellExecute = false };
        foreach (var arg in new[] { "-s" + secretFile, "-d" + Domain, "-l127.0.0.1", "-4", "-f" + ForwardPort, "-r" + ReversePort, "-t5" })
        {
            psi.ArgumentList.Add(arg);
        }

        _daemon = Process.Start(psi)!;
        WaitUntilListening(ForwardPort);
        WaitUntilListening(ReversePort);
    }

    public int ForwardPort { get; }

    public int ReversePort { get; }

    public void Dispose()
    {
        if (!_daemon.HasExited)
        {
            // postsrsd forks a child per connection: end them all.
            _daemon.Kill(entireProcessTree: true);
            _daemon.WaitForExit(TimeSpan.FromSeconds(10));
        }

        _daemon.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void WaitUntilListening(int port)
    {
        for (var i = 0; i < 100; i++)
        {
            Assert.False(_daemon.HasExited, $"postsrsd exited with {(_daemon.HasExited ? _daemon.ExitCode : 0)}");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }

        Assert.Fail($"postsrsd did not listen on port {port}");
    }
}
