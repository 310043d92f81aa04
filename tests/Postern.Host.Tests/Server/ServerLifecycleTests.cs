using System.Security.Cryptography.X509Certificates;
using System.Text.Json;

namespace Postern.Host.Tests.Server;

public sealed class ServerLifecycleTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private string[] RunArgs(params string[] extra) =>
        ["run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Server:Hostname=mail.example.test", "--set", "Listeners:https:Port=0", .. extra];

    private static HttpClient InsecureClient() => new(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true });

    [Fact]
    public async Task First_start_creates_the_data_folder_certificate_and_admin_and_a_second_start_reuses_them()
    {
        string firstThumbprint;
        using (var first = PosternProcess.Start(RunArgs()))
        {
            await first.WaitReadyAsync();
            Assert.Contains("(created)", first.Stdout, StringComparison.Ordinal);
            Assert.Matches("first admin: 'admin', one-time password: [A-Za-z0-9]{20}", first.Stdout);
            Assert.Contains("listener smtp", first.Stdout, StringComparison.Ordinal);
            Assert.Contains("not available in this build yet", first.Stdout, StringComparison.Ordinal);
            first.Signal(Signals.SIGTERM);
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            var password = System.Text.RegularExpressions.Regex.Match(first.Stdout, "one-time password: ([A-Za-z0-9]{20})").Groups[1].Value;
            Assert.Single(first.Stdout.Split('\n'), l => l.Contains(password, StringComparison.Ordinal));
        }

        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_data.Path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data.Path, "tls", "selfsigned.key.pem")));
        }

        using (var cert = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_data.Path, "tls", "selfsigned.crt.pem"))))
        {
            firstThumbprint = cert.Thumbprint;
            Assert.Contains("mail.example.test", cert.GetNameInfo(X509NameType.DnsName, false), StringComparison.Ordinal);
        }

        using var second = PosternProcess.Start(RunArgs());
        await second.WaitReadyAsync();
        Assert.DoesNotContain("(created)", second.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("first admin", second.Stdout, StringComparison.Ordinal);
        using var client = InsecureClient();
        string? served = null;
        using (var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, c, _, _) =>
            {
                served = c!.Thumbprint;
                return true;
            },
        })
        using (var pinned = new HttpClient(handler))
        {
            Assert.Equal("ok\n", await pinned.GetStringAsync(new Uri($"https://127.0.0.1:{second.ListenerPort("https")}/healthz")));
        }

        Assert.Equal(firstThumbprint, served);
        second.Signal(Signals.SIGTERM);
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("Stopped", second.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_configured_admin_password_is_used_and_never_printed()
    {
        const string secret = "Sup3r-Secret-Admin-Pw";
        using var p = PosternProcess.Start(RunArgs(), new Dictionary<string, string> { ["POSTERN__ADMIN__INITIALPASSWORD"] = secret, ["POSTERN__ADMIN__INITIALLOGIN"] = "root-admin" });
        await p.WaitReadyAsync();
        Assert.Contains("first admin: 'root-admin' created with the configured password", p.Stdout, StringComparison.Ordinal);
        p.Signal(Signals.SIGINT);
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.DoesNotContain(secret, p.Stdout + p.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_are_served_in_prometheus_text_format()
    {
        using var p = PosternProcess.Start(RunArgs());
        await p.WaitReadyAsync();
        using var client = InsecureClient();
        using var response = await client.GetAsync(new Uri($"https://127.0.0.1:{p.ListenerPort("https")}/metrics"));
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync();
        Assert.Matches(@"(?m)^process_resident_memory_bytes \d+", text);
        Assert.Contains("# TYPE process_cpu_seconds_total counter", text, StringComparison.Ordinal);
        p.Signal(Signals.SIGTERM);
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Json_logs_are_one_object_per_line()
    {
        using var p = PosternProcess.Start(RunArgs("--set", "Log:Format=json"));
        await p.WaitReadyAsync();
        p.Signal(Signals.SIGTERM);
        Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var logLines = p.Stdout.Split('\n').Where(l => l.StartsWith('{')).ToList();
        Assert.NotEmpty(logLines);
        foreach (var line in logLines)
        {
            using var doc = JsonDocument.Parse(line);
            Assert.True(doc.RootElement.TryGetProperty("EventId", out _));
            Assert.True(doc.RootElement.TryGetProperty("Category", out _));
        }

        Assert.Contains(logLines, l => l.Contains("\"EventId\":3", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Sighup_reloads_and_a_bad_new_configuration_is_refused_while_the_server_keeps_running()
    {
        var config = Path.Combine(Path.GetTempPath(), "postern-cfg-" + Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(config, """{ "Server": { "Hostname": "mail.example.test" } }""");
        try
        {
            using var p = PosternProcess.Start(RunArgs("--config", config));
            await p.WaitReadyAsync();
            p.Signal(Signals.SIGHUP);
            await WaitForAsync(() => p.Stdout.Contains("Configuration and certificates reloaded", StringComparison.Ordinal));
            await File.WriteAllTextAsync(config, """{ "Server": { "Ports": "sideways" } }""");
            p.Signal(Signals.SIGHUP);
            await WaitForAsync(() => p.Stdout.Contains("Reload refused", StringComparison.Ordinal));
            Assert.Contains("Server:Ports", p.Stdout, StringComparison.Ordinal);
            using var client = InsecureClient();
            Assert.Equal("ok\n", await client.GetStringAsync(new Uri($"https://127.0.0.1:{p.ListenerPort("https")}/healthz")));
            p.Signal(Signals.SIGTERM);
            Assert.Equal(0, await p.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_second_stop_signal_exits_at_once()
    {
        using var p = PosternProcess.Start(RunArgs());
        await p.WaitReadyAsync();
        p.Signal(Signals.SIGTERM);
        p.Signal(Signals.SIGTERM);
        var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(code is 0 or 130, $"exit code {code}");
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new Xunit.Sdk.XunitException("condition not met in 30 s");
            }

            await Task.Delay(50);
        }
    }
}
