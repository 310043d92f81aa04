using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Postern.Storage.Sqlite;

namespace Postern.Host.Embedded;

/// <summary>One database file in a backup.</summary>
public sealed record BackupFile(string Store, string File, int SchemaVersion, long Length, string Sha256);

/// <summary><c>manifest.json</c> of a backup folder: what it holds and the checksums restore verifies.</summary>
public sealed record BackupManifest(int Format, string PosternVersion, DateTimeOffset Created, IReadOnlyList<BackupFile> Databases, int BlobCount, long BlobBytes);

/// <summary>A backup or restore that cannot go on; nothing half-done is left in the target.</summary>
public sealed class BackupException(string message) : Exception(message);

/// <summary>
/// Backup and restore of the embedded backend while the server runs. Each SQLite file is copied with
/// SQLite's online backup (a consistent snapshot of that file, writers keep going), then the blob files:
/// blobs are immutable and content-addressed, and a blob is deleted only after a grace period once no
/// message refers to it, so every blob a snapshot refers to is still there when the blobs are copied.
/// Every blob is checked against its SHA-256 name as it is copied, in both directions.
/// </summary>
public static class Backup
{
    public const string ManifestFile = "manifest.json";
    public const string BlobFolder = "blobs";
    private const int FormatVersion = 1;
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static async Task<BackupManifest> CreateAsync(IReadOnlyList<SqliteDatabase> databases, string dataFolder, string destination, TimeProvider time, CancellationToken cancellationToken)
    {
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any())
        {
            throw new BackupException($"'{destination}' is not empty: back up into a new folder");
        }

        var staging = destination + ".partial-" + Guid.NewGuid().ToString("N")[..8];
        CreatePrivateDirectory(staging);
        try
        {
            var files = new List<BackupFile>();
            foreach (var database in databases)
            {
                var file = Path.GetFileName(database.Path);
                var target = Path.Combine(staging, file);
                database.BackupTo(target);
                files.Add(new BackupFile(database.Name, file, database.SchemaVersion(), new FileInfo(target).Length, await HashFileAsync(target, cancellationToken).ConfigureAwait(false)));
            }

            var (count, bytes) = await CopyBlobsAsync(Path.Combine(dataFolder, BlobFolder), Path.Combine(staging, BlobFolder), cancellationToken).ConfigureAwait(false);
            var manifest = new BackupManifest(FormatVersion, Cli.StatusCommand.Version, time.GetUtcNow(), files, count, bytes);
            await File.WriteAllTextAsync(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(manifest, Json), cancellationToken).ConfigureAwait(false);
            if (Directory.Exists(destination))
            {
                Directory.Delete(destination);
            }

            Directory.Move(staging, destination);
            return manifest;
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    /// <summary>Restores a backup into <paramref name="dataFolder"/>, which must not exist or be empty.</summary>
    public static async Task<BackupManifest> RestoreAsync(string source, string dataFolder, CancellationToken cancellationToken)
    {
        var manifestPath = Path.Combine(source, ManifestFile);
        if (!File.Exists(manifestPath))
        {
            throw new BackupException($"'{source}' is not a Postern backup (no {ManifestFile})");
        }

        BackupManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BackupManifest>(await File.ReadAllTextAsync(manifestPath, cancellationToken).ConfigureAwait(false), Json)
                ?? throw new BackupException($"{manifestPath} is empty");
        }
        catch (JsonException e)
        {
            throw new BackupException($"{manifestPath} is not readable: {e.Message}");
        }

        if (manifest.Format != FormatVersion)
        {
            throw new BackupException($"backup format {manifest.Format.ToString(CultureInfo.InvariantCulture)} is not known to this build");
        }

        if (Directory.Exists(dataFolder) && Directory.EnumerateFileSystemEntries(dataFolder).Any())
        {
            throw new BackupException($"the data folder '{dataFolder}' is not empty: restore into a new folder (stop the server first)");
        }

        var staging = dataFolder.TrimEnd('/') + ".restoring-" + Guid.NewGuid().ToString("N")[..8];
        CreatePrivateDirectory(staging);
        try
        {
            foreach (var file in manifest.Databases)
            {
                if (file.File.Contains('/', StringComparison.Ordinal) || file.File.Contains("..", StringComparison.Ordinal))
                {
                    throw new BackupException($"the manifest names an unsafe file '{file.File}'");
                }

                var from = Path.Combine(source, file.File);
                if (!File.Exists(from))
                {
                    throw new BackupException($"'{file.File}' is missing from the backup");
                }

                var hash = await HashFileAsync(from, cancellationToken).ConfigureAwait(false);
                if (!string.Equals(hash, file.Sha256, StringComparison.Ordinal))
                {
                    throw new BackupException($"'{file.File}' is damaged: its SHA-256 does not match the manifest");
                }

                File.Copy(from, Path.Combine(staging, file.File));
            }

            var (count, _) = await CopyBlobsAsync(Path.Combine(source, BlobFolder), Path.Combine(staging, BlobFolder), cancellationToken).ConfigureAwait(false);
            if (count != manifest.BlobCount)
            {
                throw new BackupException($"the backup holds {count} blobs, the manifest says {manifest.BlobCount}");
            }

            if (Directory.Exists(dataFolder))
            {
                Directory.Delete(dataFolder);
            }

            Directory.Move(staging, dataFolder);
            return manifest;
        }
        catch
        {
            TryDelete(staging);
            throw;
        }
    }

    private static async Task<(int Count, long Bytes)> CopyBlobsAsync(string from, string to, CancellationToken cancellationToken)
    {
        var count = 0;
        long bytes = 0;
        if (!Directory.Exists(from))
        {
            return (0, 0);
        }

        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(file);
            if (name.Length != 64 || !name.All(char.IsAsciiHexDigitLower))
            {
                continue; // temporary files of writes in progress
            }

            var relative = Path.GetRelativePath(from, file);
            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await using (var input = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 81920, useAsync: true))
            await using (var output = new FileStream(target, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, useAsync: true))
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await input.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                    await output.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    bytes += read;
                }

                if (!string.Equals(Convert.ToHexStringLower(sha.GetHashAndReset()), name, StringComparison.Ordinal))
                {
                    throw new BackupException($"blob {name} is damaged: its content does not match its name");
                }

                await output.FlushAsync(cancellationToken).ConfigureAwait(false);
                output.Flush(flushToDisk: true);
            }

            count++;
        }

        return (count, bytes);
    }

    private static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false));
    }

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Leave it: the message of the original failure matters more.
        }
    }
}
