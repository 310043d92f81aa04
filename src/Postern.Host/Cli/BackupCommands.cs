using System.CommandLine;
using Postern.Host.Configuration;
using Postern.Host.Embedded;

namespace Postern.Host.Cli;

/// <summary><c>postern backup DIR</c> (safe while the server runs) and <c>postern restore DIR</c>.</summary>
public static class BackupCommands
{
    public static IEnumerable<Command> Create(GlobalOptions globals)
    {
        var backupTarget = new Argument<string>("folder") { Description = "A new (or empty) folder for the backup" };
        var backup = new Command("backup", "Back up the data folder (SQLite online backup plus the blobs); safe while the server runs");
        backup.Arguments.Add(backupTarget);
        backup.SetAction((parse, ct) => globals.RunAsync(parse, async (context, token) =>
        {
            try
            {
                var manifest = await Backup.CreateAsync(context.Storage.Databases, context.Config.DataFolder, Path.GetFullPath(parse.GetValue(backupTarget)!), TimeProvider.System, token).ConfigureAwait(false);
                context.Write(manifest, o =>
                {
                    o.WriteLine($"backup written to {Path.GetFullPath(parse.GetValue(backupTarget)!)}");
                    foreach (var f in manifest.Databases)
                    {
                        o.WriteLine($"  {f.File}: {f.Store} store, schema {f.SchemaVersion}, {f.Length} bytes");
                    }

                    o.WriteLine($"  {manifest.BlobCount} blobs, {manifest.BlobBytes} bytes");
                });
                return ExitCodes.Ok;
            }
            catch (BackupException e)
            {
                throw new CliUsageException("folder", e.Message);
            }
        }, ct));

        var restoreSource = new Argument<string>("folder") { Description = "A folder written by postern backup" };
        var restore = new Command("restore", "Restore a backup into the data folder given with --data (it must be new or empty; stop the server first)");
        restore.Arguments.Add(restoreSource);
        restore.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var json = parse.GetValue(globals.Json);
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

            try
            {
                var manifest = await Backup.RestoreAsync(Path.GetFullPath(parse.GetValue(restoreSource)!), config.DataFolder, ct).ConfigureAwait(false);

                // Open once: migrations bring a backup from an older version up to this build's schemas.
                using (var storage = EmbeddedBackend.Open(DataFolder.Prepare(config.DataFolder)))
                {
                    _ = storage.Databases.Count;
                }

                output.WriteLine(json ? CliContext.ToJson(manifest) : $"restored {manifest.Databases.Count} databases and {manifest.BlobCount} blobs into {config.DataFolder}");
                return ExitCodes.Ok;
            }
            catch (BackupException e)
            {
                error.WriteLine(json ? CliContext.ToJson(new { error = e.Message, field = "folder", exitCode = ExitCodes.Refused }) : $"postern: restore: {e.Message}");
                return ExitCodes.Refused;
            }
        });
        return [backup, restore];
    }
}
