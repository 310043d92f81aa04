using System.CommandLine;
using System.Reflection;

namespace Postern.Host.Cli;

/// <summary><c>postern status</c>: version, data folder, store schema versions, counts.</summary>
public static class StatusCommand
{
    public static Command Create(GlobalOptions globals)
    {
        var command = new Command("status", "Show the version, the data folder, the store schema versions and counts");
        command.SetAction((parse, ct) => globals.RunAsync(parse, async (context, token) =>
        {
            var counts = await context.Store.CountAsync(token).ConfigureAwait(false);
            var schemas = context.Storage.Databases.ToDictionary(d => d.Name, d => new { version = d.SchemaVersion(), known = d.KnownSchemaVersion });
            var model = new
            {
                version = Version,
                dataFolder = context.Config.DataFolder,
                hostname = context.Config.Hostname,
                schemas,
                counts,
            };
            context.Write(model, o =>
            {
                o.WriteLine($"Postern {Version}");
                o.WriteLine($"data folder: {context.Config.DataFolder}");
                o.WriteLine($"hostname:    {context.Config.Hostname}");
                foreach (var (name, s) in schemas)
                {
                    o.WriteLine($"store {name}: schema {s.version} (this build knows up to {s.known})");
                }

                o.WriteLine($"resellers {counts.Resellers}, customers {counts.Customers}, domains {counts.Domains} (+{counts.DomainAliases} aliases), " +
                    $"accounts {counts.Accounts}, aliases {counts.Aliases}, lists {counts.Lists}, admins {counts.Admins}");
            });
            return ExitCodes.Ok;
        }, ct));
        return command;
    }

    public static string Version { get; } =
        typeof(StatusCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";
}
