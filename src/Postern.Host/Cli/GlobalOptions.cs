using System.CommandLine;
using Postern.Core.Storage;
using Postern.Host.Configuration;
using Postern.Tenants;

namespace Postern.Host.Cli;

/// <summary>The options every command accepts, and the one way commands get a <see cref="CliContext"/>.</summary>
public sealed class GlobalOptions
{
    public Option<string?> Data { get; } = new("--data", "-d")
    {
        Description = "The data folder (default: Server:DataFolder from the configuration, ./data)",
        Recursive = true,
    };

    public Option<string?> Config { get; } = new("--config", "-c")
    {
        Description = "The configuration file (default: ./postern.json if it exists)",
        Recursive = true,
    };

    public Option<string[]> Set { get; } = new("--set")
    {
        Description = "Override a configuration key: --set Section:Key=value (repeatable)",
        Recursive = true,
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print JSON for scripts instead of text",
        Recursive = true,
    };

    public void AddTo(RootCommand root)
    {
        root.Options.Add(Data);
        root.Options.Add(Config);
        root.Options.Add(Set);
        root.Options.Add(Json);
    }

    public ConfigurationSources Sources(ParseResult parse) =>
        new(parse.GetValue(Config), parse.GetValue(Data), parse.GetValue(Set) ?? []);

    /// <summary>
    /// Loads the configuration, opens the data folder and runs <paramref name="action"/>; maps the
    /// directory's and the configuration's errors to messages on stderr and documented exit codes.
    /// </summary>
    public async Task<int> RunAsync(ParseResult parse, Func<CliContext, CancellationToken, Task<int>> action, CancellationToken cancellationToken)
    {
        var output = parse.InvocationConfiguration.Output;
        var error = parse.InvocationConfiguration.Error;
        var json = parse.GetValue(Json);
        try
        {
            var config = ConfigurationLoader.Load(Sources(parse));
            using var context = CliContext.Open(config, json, output, error);
            return await action(context, cancellationToken).ConfigureAwait(false);
        }
        catch (ConfigurationException e)
        {
            return Fail(error, json, ExitCodes.Usage, "configuration", e.Message);
        }
        catch (DirectoryValidationException e)
        {
            return Fail(error, json, ExitCodes.Refused, e.Field, e.Message);
        }
        catch (DirectoryObjectNotFoundException e)
        {
            return Fail(error, json, ExitCodes.NotFound, e.Field, e.Message);
        }
        catch (StoreSchemaTooNewException e)
        {
            return Fail(error, json, ExitCodes.StoreUnavailable, "store", e.Message);
        }
        catch (CliUsageException e)
        {
            return Fail(error, json, ExitCodes.Usage, e.Field, e.Message);
        }
    }

    private static int Fail(TextWriter error, bool json, int code, string field, string message)
    {
        error.WriteLine(json ? CliContext.ToJson(new { error = message, field, exitCode = code }) : $"postern: {field}: {message}");
        return code;
    }
}

/// <summary>A command was used wrongly in a way the parser cannot see (e.g. two options that exclude each other).</summary>
public sealed class CliUsageException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
