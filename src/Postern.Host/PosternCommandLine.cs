using System.CommandLine;
using Postern.Host.Cli;

namespace Postern.Host;

/// <summary>The <c>postern</c> command: <c>run</c> starts the server; the other commands manage the same data folder (safe while it runs).</summary>
public static class PosternCommandLine
{
    public static RootCommand Build()
    {
        var globals = new GlobalOptions();
        var root = new RootCommand("Postern: mail server and email-security gateway");
        globals.AddTo(root);
        root.Subcommands.Add(RunCommand.Create(globals));
        root.Subcommands.Add(StatusCommand.Create(globals));
        foreach (var command in BackupCommands.Create(globals))
        {
            root.Subcommands.Add(command);
        }

        root.Subcommands.Add(DeliverCommand.Create(globals));
        CliCommands.AddTo(root, globals);
        return root;
    }

    /// <summary>
    /// Parses without response files: <c>@example.com</c> is a catch-all address here, never a file to read
    /// arguments from.
    /// </summary>
    public static ParseResult Parse(IReadOnlyList<string> args) =>
        Build().Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });

    /// <summary>Runs a command line; usage errors (unknown command or option, bad value) exit with code 2.</summary>
    public static async Task<int> InvokeAsync(IReadOnlyList<string> args, InvocationConfiguration? configuration = null)
    {
        configuration ??= new InvocationConfiguration();
        var parse = Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not { ClearsParseErrors: true })
        {
            // Commands that report their own usage errors (in JSON with --json) clear them; the rest, such as a
            // mistyped command name, end here rather than in the parser's default handler (which exits 1).
            var message = string.Join("; ", parse.Errors.Select(e => e.Message));
            await configuration.Error.WriteLineAsync($"postern: usage: {message} (see 'postern --help')").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        return await parse.InvokeAsync(configuration).ConfigureAwait(false);
    }
}
