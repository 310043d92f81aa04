namespace Postern.Host.Tests.Server;

public sealed class ConfigurationErrorTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Theory]
    [InlineData("Listeners:smtp:Port=99999", "Listeners:smtp:Port")]
    [InlineData("Listeners:smtp:Port=abc", "Listeners:smtp:Port")]
    [InlineData("Listeners:gopher:Port=70", "Listeners:gopher")]
    [InlineData("Server:Ports=sideways", "Server:Ports")]
    [InlineData("Server:Hostname=not a host", "Server:Hostname")]
    [InlineData("Server:Nonsense=1", "Nonsense")]
    [InlineData("Log:Format=xml", "Log:Format")]
    [InlineData("Server:TimeZone=Mars/Olympus", "Server:TimeZone")]
    [InlineData("Tls:Certificate=/nonexistent.pem", "Tls:Certificate")]
    [InlineData("Storage:Backend=oracle", "Storage:Backend")]
    [InlineData("Listeners:imap:ProxyProtocolFrom:0=10.0.0.0/99", "Listeners:imap:ProxyProtocolFrom")]
    [InlineData("Listeners:smtp:UnixSocket=/tmp/smtp.sock", "Listeners:smtp:UnixSocket")]
    [InlineData("Smtp:MaxLineLength=100", "Smtp:MaxLineLength")]
    [InlineData("Dns:Servers:0=resolver.example", "Dns:Servers")]
    [InlineData("Dns:Attempts=9", "Dns:Attempts")]
    [InlineData("Smtp:MaxSessionTime=00:00:05", "Smtp:MaxSessionTime")]
    [InlineData("Listeners:lmtp:UnixSocketMode=rw-rw----", "Listeners:lmtp:UnixSocketMode")]
    [InlineData("RecipientVerification:ProbeTimeout=00:10:00", "RecipientVerification:ProbeTimeout")]
    [InlineData("RecipientVerification:NegativeCacheTime=-00:01:00", "RecipientVerification:NegativeCacheTime")]
    public async Task Bad_configuration_stops_start_up_with_exit_code_2_naming_the_key(string setting, string key)
    {
        var (code, stdout, stderr) = await PosternProcess.RunAsync("run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", setting);
        Assert.Equal(2, code);
        Assert.Contains(key, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("ready in", stdout, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_data.Path), "nothing half-starts: the data folder was not created");
    }

    [Fact]
    public async Task A_broken_json_file_is_reported()
    {
        var config = Path.Combine(Path.GetTempPath(), "postern-bad-" + Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(config, "{ \"Server\": { ");
        try
        {
            var (code, _, stderr) = await PosternProcess.RunAsync("run", "--config", config, "--data", _data.Path);
            Assert.Equal(2, code);
            Assert.Contains(config, stderr, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task A_missing_config_file_is_reported()
    {
        var (code, _, stderr) = await PosternProcess.RunAsync("run", "--config", "/nonexistent/postern.json", "--data", _data.Path);
        Assert.Equal(2, code);
        Assert.Contains("--config", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Running_as_root_is_refused_unless_allowed()
    {
        if (Environment.UserName == "root")
        {
            var (code, _, stderr) = await PosternProcess.RunAsync("run", "--data", _data.Path, "--set", "Listeners:https:Port=0", "--set", "Server:Hostname=mail.example.test");
            Assert.Equal(2, code);
            Assert.Contains("Server:AllowRoot", stderr, StringComparison.Ordinal);
        }
        else
        {
            // Not root: the root check must not fire; another error proves the process got that far.
            var (code, stdout, stderr) = await PosternProcess.RunAsync("run", "--data", _data.Path, "--set", "Server:Ports=bogus");
            Assert.Equal(2, code);
            Assert.DoesNotContain("Server:AllowRoot", stderr + stdout, StringComparison.Ordinal);
        }
    }
}
