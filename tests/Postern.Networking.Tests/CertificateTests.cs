using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Postern.Networking.Tests;

public sealed class CertificateTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Self_signed_certificate_is_created_once_with_the_names_and_a_private_key_file_only_the_owner_reads()
    {
        var folder = _folder.Sub("tls");
        using var created = SelfSignedCertificate.CreateOrLoad(folder, "mx.example.test");

        Assert.True(created.HasPrivateKey);
        Assert.Equal("CN=mx.example.test", created.Subject);
        var san = created.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames().ToList();
        Assert.Equal(["mx.example.test", "localhost"], san);
        Assert.InRange((created.NotAfter - created.NotBefore).TotalDays, 700, 740);
        Assert.NotNull(created.GetECDsaPublicKey());
        var keyPath = Path.Combine(folder, SelfSignedCertificate.KeyFileName);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        }

        using var loaded = SelfSignedCertificate.CreateOrLoad(folder, "mx.example.test");
        Assert.Equal(created.Thumbprint, loaded.Thumbprint);
        Assert.True(loaded.HasPrivateKey);
    }

    [Fact]
    public void Store_loads_rsa_and_ecdsa_pem_files_with_their_chain()
    {
        var rsaFiles = WriteRsaChain("rsa.test");
        using var store = new CertificateStore([_folder.MakeCertificate("ec.test", isDefault: true), rsaFiles]);

        Assert.NotNull(store.SelectCertificate("ec.test")!.GetECDsaPrivateKey());
        using var rsa = store.SelectCertificate("rsa.test")!.GetRSAPrivateKey();
        Assert.NotNull(rsa);
        Assert.NotNull(store.SelectContext("rsa.test"));
        Assert.Equal("CN=ec.test", store.SelectCertificate(null)!.Subject);
    }

    [Fact]
    public void Store_refuses_to_start_when_a_file_is_missing_and_names_it()
    {
        var missing = new CertificateFiles(["x.test"], _folder.Sub("missing.crt.pem"), _folder.Sub("missing.key.pem"));
        var error = Assert.Throws<InvalidOperationException>(() => new CertificateStore([missing]));
        Assert.Contains("missing.crt.pem", error.Message);
    }

    [Fact]
    public void A_bad_new_file_keeps_the_old_certificate_and_reports_the_error()
    {
        var logger = new RecordingLogger();
        var files = _folder.MakeCertificate("keep.test", isDefault: true);
        using var store = new CertificateStore([files], logger);
        var original = store.SelectCertificate("keep.test")!.Thumbprint;

        File.WriteAllText(files.CertificatePath, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
        var result = store.Reload();

        Assert.False(result.Succeeded);
        Assert.Single(result.Errors);
        Assert.Equal(original, store.SelectCertificate("keep.test")!.Thumbprint);
        Assert.Contains(logger.Entries, e => e.Id.Id == 3021);
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("PRIVATE KEY", StringComparison.Ordinal));
    }

    [Fact]
    public void Manual_reload_picks_up_a_replaced_certificate()
    {
        var files = _folder.MakeCertificate("swap.test", isDefault: true);
        using var store = new CertificateStore([files]);
        var before = store.SelectCertificate("swap.test")!.Thumbprint;

        using var other = new TempFolder();
        using var fresh = SelfSignedCertificate.CreateOrLoad(other.Path, "swap.test");
        File.Copy(Path.Combine(other.Path, SelfSignedCertificate.CertificateFileName), files.CertificatePath, overwrite: true);
        File.Copy(Path.Combine(other.Path, SelfSignedCertificate.KeyFileName), files.KeyPath, overwrite: true);

        Assert.True(store.Reload().Succeeded);
        Assert.Equal(fresh.Thumbprint, store.SelectCertificate("swap.test")!.Thumbprint);
        Assert.NotEqual(before, fresh.Thumbprint);
    }

    private CertificateFiles WriteRsaChain(string hostName)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=Test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var leafKey = RSA.Create(2048);
        var leafRequest = new CertificateRequest("CN=" + hostName, leafKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var leaf = leafRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), [1, 2, 3, 4]);

        var certificatePath = _folder.Sub(hostName + ".crt.pem");
        var keyPath = _folder.Sub(hostName + ".key.pem");
        File.WriteAllText(certificatePath, leaf.ExportCertificatePem() + "\n" + ca.ExportCertificatePem() + "\n");
        File.WriteAllText(keyPath, leafKey.ExportRSAPrivateKeyPem());
        return new CertificateFiles([hostName], certificatePath, keyPath);
    }
}

public class ConnectionTimeoutTests
{
    [Fact]
    public void Idle_timeout_trips_after_silence_and_data_restarts_it()
    {
        var time = new ManualTimeProvider();
        using var timeout = new ConnectionTimeout(time);
        timeout.SetIdleTimeout(TimeSpan.FromSeconds(300));

        time.Advance(TimeSpan.FromSeconds(299));
        timeout.DataReceived(10);
        time.Advance(TimeSpan.FromSeconds(299));
        Assert.False(timeout.Token.IsCancellationRequested);

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(timeout.Token.IsCancellationRequested);
        Assert.Equal(TimeoutReason.Idle, timeout.Reason);
    }

    [Fact]
    public void A_cleared_idle_timeout_never_trips()
    {
        var time = new ManualTimeProvider();
        using var timeout = new ConnectionTimeout(time);
        timeout.SetIdleTimeout(TimeSpan.FromSeconds(10));
        timeout.Disarm();
        time.Advance(TimeSpan.FromHours(1));
        Assert.False(timeout.Token.IsCancellationRequested);
        Assert.Equal(TimeoutReason.None, timeout.Reason);
    }

    [Fact]
    public void Minimum_data_rate_trips_for_a_slow_sender_after_the_grace_period()
    {
        var time = new ManualTimeProvider();
        using var timeout = new ConnectionTimeout(time);
        timeout.SetMinimumDataRate(bytesPerSecond: 100, gracePeriod: TimeSpan.FromSeconds(5));

        for (var second = 0; second < 4; second++)
        {
            timeout.DataReceived(10);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.False(timeout.Token.IsCancellationRequested);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(timeout.Token.IsCancellationRequested);
        Assert.Equal(TimeoutReason.MinimumDataRate, timeout.Reason);
    }

    [Fact]
    public void Minimum_data_rate_leaves_a_fast_sender_alone()
    {
        var time = new ManualTimeProvider();
        using var timeout = new ConnectionTimeout(time);
        timeout.SetMinimumDataRate(bytesPerSecond: 100, gracePeriod: TimeSpan.FromSeconds(2));

        for (var second = 0; second < 60; second++)
        {
            timeout.DataReceived(150);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.False(timeout.Token.IsCancellationRequested);
        timeout.ClearMinimumDataRate();
        time.Advance(TimeSpan.FromMinutes(10));
        Assert.False(timeout.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task A_handler_armed_idle_timeout_ends_a_silent_session()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        await client.SendAsync("IDLE\r\n");
        Assert.Equal("+IDLE", await client.ReadLineAsync());
        Assert.Equal("-ERR timeout Idle", await client.ReadLineAsync());
        Assert.Null(await client.ReadLineAsync());
    }
}
