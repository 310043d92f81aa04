using System.CommandLine;
using Postern.Core.Storage;
using Postern.Host.Configuration;
using Postern.Host.Server;

namespace Postern.Host.Cli;

/// <summary><c>postern run</c>: starts the server in the foreground until SIGTERM or Ctrl-C.</summary>
public static partial class RunCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var command = new Command("run", "Start the server (SIGTERM or Ctrl-C stops it gracefully; a second signal stops it at once; SIGHUP reloads)");
        command.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            LoadedConfiguration config;
            try
            {
                config = ConfigurationLoader.Load(globals.Sources(parse));
            }
            catch (ConfigurationException e)
            {
                error.WriteLine(e.Message);
                return ExitCodes.Usage;
            }

            if (IsRoot() && !config.Options.Server.AllowRoot)
            {
                error.WriteLine("Configuration error:\n  Server:AllowRoot: Postern refuses to run as root. Run it as its own user (see deploy/postern.service: " +
                    "CAP_NET_BIND_SERVICE binds the low ports), or set Server:AllowRoot=true if you really mean it.");
                return ExitCodes.Usage;
            }

            try
            {
                await using var server = new PosternServer(config, parse.InvocationConfiguration.Output, globals.Sources(parse));
                return await server.RunAsync(ct).ConfigureAwait(false);
            }
            catch (StoreSchemaTooNewException e)
            {
                error.WriteLine(e.Message);
                return ExitCodes.StoreUnavailable;
            }
            catch (ConfigurationException e)
            {
                error.WriteLine(e.Message);
                return ExitCodes.Usage;
            }
        });
        return command;
    }

    private static bool IsRoot() => !OperatingSystem.IsWindows() && NativeMethods.geteuid() == 0;
}

internal static partial class NativeMethods
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "geteuid")]
    internal static partial uint geteuid();
}
