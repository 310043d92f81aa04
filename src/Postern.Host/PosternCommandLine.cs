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
}
