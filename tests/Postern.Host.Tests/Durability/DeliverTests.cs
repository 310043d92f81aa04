namespace Postern.Host.Tests.Durability;

public sealed class DeliverTests : IDisposable
{
    private const string Message = "From: someone@remote.test\r\nTo: alice@example.com\r\nSubject: local delivery\r\n\r\nHello.\r\n";
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    private async Task SetUpAsync()
    {
        foreach (var args in new[]
        {
            new[] { "customer", "add", "Example" },
            ["domain", "add", "example.com", "--customer", "Example", "--kind", "hosted"],
            ["account", "add", "alice@example.com", "--password", "Secret-pw-2026"],
        })
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync([.. args, "--data", _data.Path]);
            Assert.True(code == 0, $"{string.Join(' ', args)}: {code}\n{stdout}\n{stderr}");
        }
    }

    internal static async Task<(int Code, string Stdout, string Stderr)> DeliverAsync(string data, string message, params string[] recipients)
    {
        var args = new List<string> { "deliver", "--from", "someone@remote.test", "--data", data };
        foreach (var r in recipients)
        {
            args.Add("--to");
            args.Add(r);
        }

        using var p = PosternProcess.Start(args);
        p.WriteStdinAndClose(message);
        var code = await p.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return (code, p.Stdout, p.Stderr);
    }

    [Fact]
    public async Task Deliver_stores_the_message_and_uses_sysexits_codes()
    {
        await SetUpAsync();
        var ok = await DeliverAsync(_data.Path, Message, "alice@example.com");
        Assert.True(ok.Code == 0, ok.Stdout + ok.Stderr);
        Assert.Contains("alice@example.com: Delivered", ok.Stdout, StringComparison.Ordinal);

        var unknown = await DeliverAsync(_data.Path, Message, "nobody@example.com");
        Assert.Equal(67, unknown.Code);

        var empty = await DeliverAsync(_data.Path, string.Empty, "alice@example.com");
        Assert.Equal(65, empty.Code);

        var status = await PosternProcess.RunAsync("status", "--data", _data.Path);
        Assert.Equal(0, status.ExitCode);
    }
}
