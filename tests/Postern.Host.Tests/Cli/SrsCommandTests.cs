using Postern.Delivery.Srs;
using Postern.Host.Cli;
using Postern.Host.Embedded;
using Postern.Host.Tests.Smtp;

namespace Postern.Host.Tests.Cli;

/// <summary><c>postern srs show|rotate|add-secret</c>, and a running server following a rotation without a restart.</summary>
public sealed class SrsCommandTests : IDisposable
{
    private readonly CliHarness _cli = new();

    public void Dispose() => _cli.Dispose();

    private static List<(string Role, string Fingerprint)> Secrets(CliResult result) =>
        [.. result.Json().GetProperty("secrets").EnumerateArray().Select(s => (s.GetProperty("role").GetString()!, s.GetProperty("fingerprint").GetString()!))];

    [Fact]
    public async Task Show_rotate_and_add_secret_round_trip_without_printing_secrets_unless_asked()
    {
        var empty = await _cli.OkAsync("srs", "show", "--json");
        Assert.Equal(0, empty.Json().GetProperty("count").GetInt32());

        var first = Secrets(await _cli.OkAsync("srs", "rotate", "--json"));
        Assert.Equal("signs", Assert.Single(first).Role);

        var second = Secrets(await _cli.OkAsync("srs", "rotate", "--keep", "1", "--json"));
        Assert.Equal([("signs", second[0].Fingerprint), ("verifies", first[0].Fingerprint)], second);

        // A postsrsd secret read from standard input, made the signer: the others are kept for verification.
        var added = await _cli.RunWithInputAsync("postsrsd-secret-text\n", "srs", "add-secret", "-", "--sign", "--json");
        Assert.Equal(0, added.ExitCode);
        Assert.Equal([("signs", SrsCommands.Fingerprint("postsrsd-secret-text")), ("verifies", second[0].Fingerprint), ("verifies", first[0].Fingerprint)], Secrets(added));

        var shown = await _cli.OkAsync("srs", "show");
        Assert.Contains("3 secrets", shown.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("postsrsd-secret-text", shown.Out + added.Out, StringComparison.Ordinal);
        Assert.Contains("postsrsd-secret-text", (await _cli.OkAsync("srs", "show", "--reveal")).Out, StringComparison.Ordinal);

        // Rotating with --keep 0 leaves only the new signer.
        var alone = Secrets(await _cli.OkAsync("srs", "rotate", "--keep", "0", "--json"));
        Assert.Equal("signs", Assert.Single(alone).Role);
        Assert.DoesNotContain(alone[0].Fingerprint, new[] { first[0].Fingerprint, second[0].Fingerprint, SrsCommands.Fingerprint("postsrsd-secret-text") });
    }

    [Fact]
    public async Task Bad_input_is_refused_and_changes_nothing()
    {
        await _cli.OkAsync("srs", "rotate");
        var before = (await _cli.OkAsync("srs", "show", "--json")).Out;

        var keep = await _cli.RunAsync("srs", "rotate", "--keep", "-1", "--json");
        Assert.Equal(ExitCodes.Usage, keep.ExitCode);
        Assert.Equal("keep", keep.ErrorJson().GetProperty("field").GetString());
        var empty = await _cli.RunWithInputAsync("\n", "srs", "add-secret", "-");
        Assert.Equal(ExitCodes.Refused, empty.ExitCode);
        Assert.Equal(ExitCodes.Usage, (await _cli.RunAsync("srs")).ExitCode);
        Assert.Equal(before, (await _cli.OkAsync("srs", "show", "--json")).Out);
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public async Task A_running_server_follows_a_rotation_on_sighup_keeping_bounces_to_the_previous_secret()
    {
        using var bed = new SmtpTestBed();
        await bed.SetUpDirectoryAsync();
        var server = await bed.StartServerAsync();
        var smtp = "127.0.0.1:" + SmtpTestBed.Port(server, "smtp");
        var first = await RevealedSigningSecretAsync(bed.DataPath);
        var signedWithFirst = new SrsRewriter(new SrsOptions { Domain = "mx.example.test" }, new SrsKeyRing([first])).Forward("carol@origin.test").Address;

        // Rotate twice while the server runs (keeping one each time): the first secret is dropped after the second.
        foreach (var expected in new[] { "250 2.0.0", "550 5.1.1" })
        {
            var (code, stdout, stderr) = await PosternProcess.RunAsync("srs", "rotate", "--keep", "1", "--data", bed.DataPath);
            Assert.True(code == 0, stdout + stderr);
            var changes = Count(server.Stdout, "SRS secrets changed");
            server.Signal(Signals.SIGHUP);
            for (var i = 0; i < 100 && Count(server.Stdout, "SRS secrets changed") == changes; i++)
            {
                await Task.Delay(100);
            }

            Assert.True(Count(server.Stdout, "SRS secrets changed") > changes, "the server did not re-read the secrets:\n" + server.Stdout);
            var bounce = await SmtpTestBed.SwaksAsync("--server", smtp, "--from", "<>", "--to", signedWithFirst, "--header", "Subject: Undelivered Mail");
            Assert.Contains(expected, bounce.Output, StringComparison.Ordinal);
            if (expected.StartsWith("550", StringComparison.Ordinal))
            {
                Assert.Contains("matches none of our secrets", bounce.Output, StringComparison.Ordinal);
            }
        }

        await SmtpTestBed.StopAsync(server);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        using var backend = EmbeddedBackend.Open(DataFolder.Prepare(bed.DataPath));
        var queued = await backend.Mail.Queue.ListAsync(new Core.Storage.Queue.QueueQuery(Limit: 10), default);
        var message = Assert.Single(queued.Messages);
        Assert.Equal((string.Empty, "carol@origin.test"), (message.ReversePath, Assert.Single(message.Recipients).Address));
    }

    private static int Count(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static async Task<string> RevealedSigningSecretAsync(string data)
    {
        var (code, stdout, stderr) = await PosternProcess.RunAsync("srs", "show", "--reveal", "--json", "--data", data);
        Assert.True(code == 0, stdout + stderr);
        using var json = System.Text.Json.JsonDocument.Parse(stdout);
        return json.RootElement.GetProperty("secrets")[0].GetProperty("secret").GetString()!;
    }
}
