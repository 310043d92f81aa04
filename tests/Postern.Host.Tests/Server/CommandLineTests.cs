namespace Postern.Host.Tests.Server;

public sealed class CommandLineTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task A_mistyped_command_exits_with_the_usage_code()
    {
        var (code, _, stderr) = await PosternProcess.RunAsync("domian", "list", "--data", _data.Path);
        Assert.Equal(2, code);
        Assert.Contains("postern: usage:", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_at_sign_argument_is_a_catch_all_address_not_a_response_file()
    {
        Assert.Equal(0, (await PosternProcess.RunAsync("customer", "add", "C", "--data", _data.Path)).ExitCode);
        Assert.Equal(0, (await PosternProcess.RunAsync("domain", "add", "example.com", "--customer", "C", "--kind", "hosted", "--data", _data.Path)).ExitCode);
        Assert.Equal(0, (await PosternProcess.RunAsync("account", "add", "bob@example.com", "--password", "pw-for-bob", "--data", _data.Path)).ExitCode);
        var (code, stdout, stderr) = await PosternProcess.RunAsync("alias", "add", "@example.com", "bob@example.com", "--data", _data.Path);
        Assert.True(code == 0, stdout + stderr);
        var resolved = await PosternProcess.RunAsync("resolve", "anything@example.com", "--json", "--data", _data.Path);
        Assert.Equal(0, resolved.ExitCode);
        Assert.Contains("catch-all", resolved.Stdout, StringComparison.Ordinal);
    }
}
