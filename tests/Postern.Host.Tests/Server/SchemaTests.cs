using Postern.Storage.Sqlite;
using Postern.Storage.Sqlite.Tenants;

namespace Postern.Host.Tests.Server;

public sealed class SchemaTests : IDisposable
{
    private readonly TempFolder _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task A_data_folder_from_a_newer_build_stops_start_up_with_exit_code_5()
    {
        Directory.CreateDirectory(_data.Path);
        using (var store = SqliteDirectoryStore.Open(_data.Path))
        {
            store.Database.Write((c, tx) => c.Execute("PRAGMA user_version = 4242", tx));
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var (code, stdout, stderr) = await PosternProcess.RunAsync("run", "--data", _data.Path, "--set", "Server:AllowRoot=true", "--set", "Listeners:https:Port=0");
        Assert.Equal(5, code);
        Assert.Contains("schema version 4242", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("ready in", stdout, StringComparison.Ordinal);

        var status = await PosternProcess.RunAsync("status", "--data", _data.Path);
        Assert.Equal(5, status.ExitCode);
    }
}
