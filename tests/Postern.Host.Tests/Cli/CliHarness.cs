using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Postern.Host.Cli;

namespace Postern.Host.Tests.Cli;

/// <summary>The output of one <c>postern</c> invocation.</summary>
public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public JsonElement Json() => JsonDocument.Parse(Out).RootElement.Clone();

    public JsonElement ErrorJson() => JsonDocument.Parse(Error).RootElement.Clone();

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}

/// <summary>Runs the real command tree in-process against a fresh data folder (deleted on dispose).</summary>
public sealed class CliHarness : IDisposable
{
    public const string Hostname = "mx.postern.test";

    public CliHarness()
    {
        DataFolder = Path.Combine(Path.GetTempPath(), "postern-cli-" + Guid.NewGuid().ToString("N"));
    }

    public string DataFolder { get; }

    public Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    /// <summary>Runs <c>postern ARGS --data FOLDER</c>; <paramref name="stdin"/> is what <c>--password-stdin</c> or <c>import -</c> read.</summary>
    public async Task<CliResult> RunWithInputAsync(string? stdin, params string[] args)
    {
        using var output = new StringWriter(CultureInfo.InvariantCulture);
        using var error = new StringWriter(CultureInfo.InvariantCulture);
        using var input = new StringReader(stdin ?? string.Empty);
        using var redirect = CliPasswords.RedirectInput(input);
        var code = await PosternCommandLine.InvokeAsync(
            [.. args, "--data", DataFolder, "--set", "Server:Hostname=" + Hostname],
            new InvocationConfiguration { Output = output, Error = error });
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Runs a command that must succeed.</summary>
    public async Task<CliResult> OkAsync(params string[] args)
    {
        var result = await RunAsync(args);
        Assert.True(result.ExitCode == 0, $"postern {string.Join(' ', args)}\n{result}");
        return result;
    }

    /// <summary>The directory counts from <c>postern status --json</c>.</summary>
    public async Task<string> CountsAsync()
    {
        var status = await OkAsync("status", "--json");
        return status.Json().GetProperty("counts").GetRawText();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(DataFolder))
        {
            Directory.Delete(DataFolder, recursive: true);
        }
    }
}
