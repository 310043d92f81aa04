using System.Net;
using System.Net.Sockets;

namespace Postern.ImapTest;

/// <summary>The runner's \Recent state check, against a fake server that marks every fetched message \Recent.</summary>
public sealed class RecentCheckTests
{
    [Fact]
    public async Task A_message_recent_in_two_sessions_fails_the_group()
    {
        await using var fake = FakeServer.Start();
        const string text = "connections: 2\nstate: auth\n\n1 ok select box\n2 ok select box\n1 ok fetch 1 (uid flags)\n2 ok fetch 1 (uid flags)\n";
        var result = await new ScriptRunner(fake.Target).RunAsync(ImapScript.Parse("recent", text, "unused.mbox"), default);
        Assert.Equal(GroupOutcome.Failed, result.Outcome);
        Assert.Contains(result.Failures, f => f.Contains("\\Recent for UID 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_message_recent_in_one_session_passes()
    {
        await using var fake = FakeServer.Start();
        const string text = "connections: 2\nstate: auth\n\n1 ok select box\n2 ok select box\n1 ok fetch 1 (uid flags)\n1 ok fetch 1 (uid flags)\n2 ok noop\n";
        var result = await new ScriptRunner(fake.Target).RunAsync(ImapScript.Parse("recent", text, "unused.mbox"), default);
        Assert.Equal(GroupOutcome.Passed, result.Outcome);
    }

    private sealed class FakeServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public ImapTestServer Target => new("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port, "u", "p");

        public static FakeServer Start()
        {
            var s = new FakeServer();
            s._listener.Start();
            _ = s.AcceptAsync();
            return s;
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = ServeAsync(client);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private static async Task ServeAsync(TcpClient client)
        {
            using var _ = client;
            await using var stream = client.GetStream();
            using var reader = new StreamReader(stream);
            await using var writer = new StreamWriter(stream) { NewLine = "\r\n", AutoFlush = true };
            await writer.WriteLineAsync("* OK fake server");
            while (await reader.ReadLineAsync() is { } line)
            {
                var parts = line.Split(' ', 3);
                var command = parts.Length > 1 ? parts[1].ToUpperInvariant() : "";
                if (command == "FETCH")
                {
                    await writer.WriteLineAsync("* 1 FETCH (UID 1 FLAGS (\\Recent))");
                }
                else if (command == "SELECT")
                {
                    await writer.WriteLineAsync("* OK [UIDVALIDITY 7] ok");
                }
                else if (command == "LOGOUT")
                {
                    await writer.WriteLineAsync("* BYE bye");
                    await writer.WriteLineAsync(parts[0] + " OK done");
                    return;
                }

                await writer.WriteLineAsync(parts[0] + " OK done");
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
