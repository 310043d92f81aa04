using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Host.Tests.Server;

public sealed class TlsCertificateTests : IDisposable
{
    private readonly TempFolder _data = new();
    private readonly TempFolder _certs = new();

    public TlsCertificateTests() => Directory.CreateDirectory(_certs.Path);

    public void Dispose()
    {
        _data.Dispose();
        _certs.Dispose();
    }

    private (string Cert, string Key) Write(string name, string file)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var certPath = Path.Combine(_certs.Path, file + ".crt");
        var keyPath = Path.Combine(_certs.Path, file + ".key");
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        return (certPath, keyPath);
    }

    private static async Task<string> ServedSubjectAsync(int port, string sni)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = sni });
        return tls.RemoteCertificate!.Subject;
    }

    [Fact]
    public async Task Certificates_are_chosen_by_sni_and_a_replaced_file_is_served_after_sighup()
    {
        var main = Write("mx.example.test", "main");
        var other = Write("mail.customer.test", "customer");
        using var p = PosternProcess.Start(
        [
            "run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Server:Hostname=mx.example.test", "--set", "Listeners:https:Port=0",
            "--set", $"Tls:Certificate={main.Cert}", "--set", $"Tls:Key={main.Key}",
            "--set", "Tls:Certificates:0:Names:0=mail.customer.test", "--set", $"Tls:Certificates:0:Certificate={other.Cert}", "--set", $"Tls:Certificates:0:Key={other.Key}",
        ]);
        await p.WaitReadyAsync();
        var port = p.ListenerPort("https");
        Assert.Equal("CN=mx.example.test", await ServedSubjectAsync(port, "mx.example.test"));
        Assert.Equal("CN=mail.customer.test", await ServedSubjectAsync(port, "mail.customer.test"));
        Assert.Equal("CN=mx.example.test", await ServedSubjectAsync(port, "unknown.test"));

        Write("renewed.example.test", "main"); // the certificate is renewed in place (as certbot does)
        p.Signal(Signals.SIGHUP);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await ServedSubjectAsync(port, "mx.example.test") != "CN=renewed.example.test")
        {
            Assert.True(DateTime.UtcNow < deadline, "the renewed certificate was not served");
            await Task.Delay(100);
        }

        p.Signal(Signals.SIGTERM);
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task An_unreadable_certificate_file_stops_start_up_with_exit_code_2()
    {
        var bad = Path.Combine(_certs.Path, "bad.pem");
        await File.WriteAllTextAsync(bad, "not a certificate");
        var (code, _, stderr) = await PosternProcess.RunAsync("run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Listeners:https:Port=0",
            "--set", $"Tls:Certificate={bad}", "--set", $"Tls:Key={bad}");
        Assert.Equal(2, code);
        Assert.Contains("Tls", stderr, StringComparison.Ordinal);
    }
}
