using System.Diagnostics;

namespace Postern.Host.Tests.Cli;

/// <summary>The built <c>postern</c> binary as a separate process: real exit codes, stdout and stderr.</summary>
public sealed class CliProcessTests : IDisposable
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "postern-cli-proc-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_data))
        {
            Directory.Delete(_data, recursive: true);
        }
    }

    [Fact]
    public async Task The_binary_exits_with_the_documented_codes()
    {
        Assert.Equal(0, (await RunAsync("customer", "add", "Acme")).ExitCode);

        var first = await RunAsync("domain", "add", "example.com", "--customer", "Acme");
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Equal("added domain example.com (hosted) for customer Acme\n", first.Out);
        Assert.Equal(string.Empty, first.Error);

        var second = await RunAsync("domain", "add", "example.com", "--customer", "Acme");
        Assert.True(second.ExitCode == 4, second.ToString());
        Assert.Equal(string.Empty, second.Out);
        Assert.StartsWith("postern: domain: ", second.Error, StringComparison.Ordinal);
        Assert.Contains("example.com", second.Error, StringComparison.Ordinal);

        var badConfig = await RunAsync("domain", "list", "--set", "Server:Ports=bogus");
        Assert.True(badConfig.ExitCode == 2, badConfig.ToString());
        Assert.Contains("Server:Ports", badConfig.Error, StringComparison.Ordinal);
        Assert.Equal(string.Empty, badConfig.Out);

        var usage = await RunAsync("domain", "add", "other.example");
        Assert.True(usage.ExitCode == 2, usage.ToString());
        Assert.Contains("--customer", usage.Error, StringComparison.Ordinal);
    }

    private async Task<CliResult> RunAsync(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "postern.dll");
        Assert.True(File.Exists(dll), $"{dll} is not next to the tests");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.ArgumentList.Add("--data");
        start.ArgumentList.Add(_data);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return new CliResult(process.ExitCode, await output, await error);
    }
}
