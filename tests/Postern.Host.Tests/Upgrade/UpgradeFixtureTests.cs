using System.Text;
using System.Text.Json;
using Postern.Host.Embedded;
using Postern.Host.Tests.Durability;

namespace Postern.Host.Tests.Upgrade;

/// <summary>Every data folder made by a released schema version (tests/fixtures/data-schema-N) opens, migrates and keeps its content.</summary>
public sealed class UpgradeFixtureTests : IDisposable
{
    private readonly TempFolder _copy = new();

    public void Dispose() => _copy.Dispose();

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var folder in Directory.GetDirectories(Path.Combine(RepositoryRoot(), "tests", "fixtures"), "data-schema-*").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(folder));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task A_fixture_data_folder_migrates_and_keeps_its_content(string fixture)
    {
        CopyDirectory(Path.Combine(RepositoryRoot(), "tests", "fixtures", fixture), _copy.Path);

        var (code, stdout, stderr) = await PosternProcess.RunAsync("status", "--json", "--data", _copy.Path);
        Assert.True(code == 0, stdout + stderr);
        using (var status = JsonDocument.Parse(stdout))
        {
            foreach (var store in status.RootElement.GetProperty("schemas").EnumerateObject())
            {
                Assert.Equal(store.Value.GetProperty("known").GetInt32(), store.Value.GetProperty("version").GetInt32());
            }

            var counts = status.RootElement.GetProperty("counts");
            Assert.True(counts.GetProperty("accounts").GetInt32() >= 2);
            Assert.True(counts.GetProperty("domains").GetInt32() >= 2);
        }

        // The fixture's message is still in Alice's INBOX, byte for byte readable.
        using (var backend = EmbeddedBackend.Open(DataFolder.Prepare(_copy.Path)))
        {
            var alice = await new Tenants.DirectoryService(backend.Directory, new PasswordHasherAdapter(Passwords.PasswordHasher.Default)).RequireAccountAsync("alice@fixture.example");
            var inbox = await backend.Mail.Mailboxes.GetFolderAsync(alice.Account.Id, "INBOX", default);
            var messages = await backend.Mail.Mailboxes.ListMessagesAsync(alice.Account.Id, inbox!.FolderId, 1, long.MaxValue, null, default);
            var message = Assert.Single(messages);
            await using var blob = await backend.Mail.Blobs.OpenReadAsync(message.Blob, default);
            using var reader = new StreamReader(blob!, Encoding.UTF8);
            Assert.Contains("Kept across upgrades.", await reader.ReadToEndAsync(), StringComparison.Ordinal);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        var delivered = await DeliverTests.DeliverAsync(_copy.Path, "Subject: after the upgrade\r\n\r\nhello\r\n", "sales@fixture.example");
        Assert.Equal(0, delivered.Code);
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Postern.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Postern.slnx not found above the test folder");
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}
