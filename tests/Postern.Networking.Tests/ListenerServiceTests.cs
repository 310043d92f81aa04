using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Postern.Networking.Tests;

public class ListenerServiceTests
{
    [Fact]
    public async Task Accepts_a_connection_and_runs_the_handler_with_the_client_address()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        Assert.NotEqual(0, listener.EndPoints[0].Port);

        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        var greeting = await client.ReadLineAsync();
        Assert.StartsWith("+OK ", greeting);
        Assert.Contains("remote=127.0.0.1:", greeting);
        Assert.Contains("tls=False", greeting);

        await client.SendAsync("hello\r\nworld\r\n");
        Assert.Equal("ECHO hello", await client.ReadLineAsync());
        Assert.Equal("ECHO world", await client.ReadLineAsync());
        await client.SendAsync("QUIT\r\n");
        Assert.Equal("+BYE", await client.ReadLineAsync());
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task The_handler_learns_that_the_peer_went_away()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());
        Assert.False(handler.PeerGone.Task.IsCompleted);

        await client.DisposeAsync();

        await handler.PeerGone.Task.WaitAsync(LineClient.Guard);
        await WaitUntilAsync(() => listener.ActiveConnections == 0);
    }

    [Fact]
    public async Task A_flood_over_the_limit_gets_no_reply_beyond_the_over_limit_allowance()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new EchoHandler { OnConnected = c => c.Limit == ConnectionLimit.None ? Task.CompletedTask : release.Task };
        var options = Listeners.Options() with { MaxConnections = 1, MaxOverLimitConnections = 1 };
        await using var listener = await Listeners.StartAsync(options, handler);

        await using var normal = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await normal.ReadLineAsync());
        await using var over = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await WaitUntilAsync(() => handler.Connections.Count == 2);
        await using var flood = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.Null(await flood.ReadLineAsync());

        release.SetResult();
        Assert.Equal("-ERR too many connections TotalExceeded", await over.ReadLineAsync());
        Assert.Equal(2, handler.Connections.Count);
    }

    [Fact]
    public async Task The_last_reply_survives_unread_input_when_the_server_closes()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        var junk = string.Concat(Enumerable.Repeat("junk line that is never read\r\n", 1000));
        await client.SendAsync("QUIT\r\n" + junk);

        Assert.Equal("+BYE", await client.ReadLineAsync());
        using var guard = new CancellationTokenSource(LineClient.Guard);
        var end = await client.Stream.ReadAsync(new byte[1], guard.Token); // a reset would throw instead
        Assert.Equal(0, end);
        Assert.Equal(["QUIT"], handler.Commands);
    }

    [Fact]
    public async Task Dual_stack_listener_reports_ipv4_clients_as_plain_ipv4()
    {
        var handler = new EchoHandler();
        var options = Listeners.Options() with { EndPoints = [new IPEndPoint(IPAddress.IPv6Any, 0)] };
        await using var listener = await Listeners.StartAsync(options, handler);

        await using var v4 = await LineClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, listener.EndPoints[0].Port));
        var greeting = await v4.ReadLineAsync();
        Assert.Contains("remote=127.0.0.1:", greeting);
        Assert.Contains("local=127.0.0.1:", greeting);

        await using var v6 = await LineClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, listener.EndPoints[0].Port));
        Assert.Contains("remote=[::1]:", await v6.ReadLineAsync());
    }

    [Fact]
    public async Task Session_ids_are_distinct_and_every_log_line_of_a_session_carries_its_id()
    {
        var logger = new RecordingLogger();
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler, logger: logger);

        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
            ids.Add((await client.ReadLineAsync())!.Split(' ')[1]);
            await client.SendAsync("QUIT\r\n");
            await client.ReadToEndAsync();
        }

        Assert.Equal(3, ids.Distinct().Count());
        await listener.StopAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var sessionLines = logger.Entries.Where(e => e.Id.Id is 3001 or 3002).ToList();
        Assert.Equal(6, sessionLines.Count);
        foreach (var id in ids)
        {
            Assert.Equal(2, sessionLines.Count(e => e.Scopes.Any(s => s is IEnumerable<KeyValuePair<string, object?>> kv && kv.Any(p => p.Key == "SessionId" && Equals(p.Value, id)))));
        }
    }

    [Fact]
    public async Task A_handler_exception_is_logged_and_the_listener_keeps_serving()
    {
        var logger = new RecordingLogger();
        var calls = 0;
        var handler = new EchoHandler
        {
            OnConnected = _ => Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("boom") : Task.CompletedTask,
        };
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler, logger: logger);

        await using (var first = await LineClient.ConnectAsync(LineClient.Loopback(listener)))
        {
            Assert.Null(await first.ReadLineAsync());
        }

        await using var second = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await second.ReadLineAsync());
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Error && e.Exception?.Message == "boom");
    }

    [Fact]
    public async Task Binding_a_port_in_use_fails_with_a_clear_message()
    {
        using var occupant = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        occupant.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        occupant.Listen();
        var port = ((IPEndPoint)occupant.LocalEndPoint!).Port;

        var options = Listeners.Options("smtp") with { EndPoints = [new IPEndPoint(IPAddress.Loopback, port)] };
        await using var listener = new ListenerService(options, new EchoHandler());
        var error = await Assert.ThrowsAsync<ListenerBindException>(() => listener.StartAsync(CancellationToken.None));
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketError);
        Assert.Contains("'smtp'", error.Message);
        Assert.Contains("address already in use", error.Message);
    }

    [Fact]
    public async Task A_unix_socket_listener_serves_local_clients_and_removes_its_file_on_stop()
    {
        var path = Path.Combine(Path.GetTempPath(), "postern-" + Guid.NewGuid().ToString("N")[..8], "lmtp.sock");
        File.WriteAllText(EnsureFolder(path), "stale");
        var handler = new EchoHandler();
        var listener = new ListenerService(Listeners.Options("lmtp") with { EndPoints = [], UnixSocketPath = path }, handler);
        await listener.StartAsync(CancellationToken.None);
        try
        {
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(path));
            }

            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path));
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            using var reader = new StreamReader(stream);
            Assert.StartsWith("+OK", await reader.ReadLineAsync());
            await stream.WriteAsync("QUIT\r\n"u8.ToArray());
            await reader.ReadToEndAsync();
            Assert.True(handler.Connections.TryPeek(out var context));
            Assert.Equal(IPAddress.Loopback, context!.RemoteEndPoint.Address);
        }
        finally
        {
            await listener.StopAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
            await listener.DisposeAsync();
        }

        Assert.False(File.Exists(path));
        Directory.Delete(Path.GetDirectoryName(path)!);
    }

    [Fact]
    public async Task A_unix_socket_another_process_listens_on_is_not_taken_over()
    {
        var path = Path.Combine(Path.GetTempPath(), "postern-" + Guid.NewGuid().ToString("N")[..8], "lmtp.sock");
        using var other = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        other.Bind(new UnixDomainSocketEndPoint(EnsureFolder(path)));
        other.Listen(1);
        try
        {
            await using var listener = new ListenerService(Listeners.Options("lmtp") with { EndPoints = [], UnixSocketPath = path }, new EchoHandler());
            var error = await Assert.ThrowsAsync<ListenerBindException>(() => listener.StartAsync(CancellationToken.None));
            Assert.Contains("another process is listening", error.Message);
            Assert.True(File.Exists(path));
        }
        finally
        {
            other.Dispose();
            File.Delete(path);
            Directory.Delete(Path.GetDirectoryName(path)!);
        }
    }

    [Fact]
    public async Task A_unix_socket_path_too_long_for_sockaddr_un_is_refused_with_the_reason()
    {
        var path = "/tmp/" + new string('p', 120) + ".sock";
        await using var listener = new ListenerService(Listeners.Options("lmtp") with { EndPoints = [], UnixSocketPath = path }, new EchoHandler());
        var error = await Assert.ThrowsAsync<ListenerBindException>(() => listener.StartAsync(CancellationToken.None));
        Assert.Contains("107 bytes", error.Message);
        Assert.False(File.Exists(path));
    }

    private static string EnsureFolder(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }

    [Fact]
    public void Permission_denied_on_a_low_port_explains_the_capability()
    {
        var error = new ListenerBindException("smtp", new IPEndPoint(IPAddress.Any, 25), SocketError.AccessDenied, new SocketException((int)SocketError.AccessDenied));
        Assert.Contains("CAP_NET_BIND_SERVICE", error.Message);
    }

    [Fact]
    public async Task Over_the_per_address_limit_the_handler_is_told_and_answers_itself()
    {
        var handler = new EchoHandler();
        var options = Listeners.Options() with { MaxConnectionsPerAddress = 1 };
        await using var listener = await Listeners.StartAsync(options, handler);

        await using var first = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await first.ReadLineAsync());
        await using var second = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.Equal("-ERR too many connections PerAddressExceeded", await second.ReadLineAsync());
        Assert.Null(await second.ReadLineAsync());

        await first.SendAsync("QUIT\r\n");
        await first.ReadToEndAsync();
        await WaitUntilAsync(() => listener.ActiveConnections == 0);
        await using var third = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await third.ReadLineAsync());
    }

    [Fact]
    public async Task Over_the_total_limit_the_handler_is_told_and_answers_itself()
    {
        var handler = new EchoHandler();
        var options = Listeners.Options() with { MaxConnections = 1 };
        await using var listener = await Listeners.StartAsync(options, handler);

        await using var first = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await first.ReadLineAsync());
        await using var second = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.Equal("-ERR too many connections TotalExceeded", await second.ReadLineAsync());
    }

    [Fact]
    public async Task Graceful_stop_tells_an_idle_session_to_go_and_the_client_gets_the_goodbye()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        var result = await listener.StopAsync(TimeSpan.FromMilliseconds(100), CancellationToken.None);

        Assert.Equal("-BYE shutting down", await client.ReadLineAsync());
        Assert.Null(await client.ReadLineAsync());
        Assert.Equal(new ShutdownResult(0, 1, 0), result);
        Assert.Equal(0, listener.ActiveConnections);
    }

    [Fact]
    public async Task Graceful_stop_lets_a_session_finish_and_accepts_nothing_new()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        var endPoint = LineClient.Loopback(listener);
        await using var client = await LineClient.ConnectAsync(endPoint);
        Assert.StartsWith("+OK", await client.ReadLineAsync());

        var stopping = listener.StopAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
        await handler.ShutdownSeen.Task.WaitAsync(LineClient.Guard);
        Assert.True(listener.IsStopping);

        await Assert.ThrowsAnyAsync<SocketException>(async () =>
        {
            using var late = new TcpClient();
            await late.ConnectAsync(endPoint);
        });

        await client.SendAsync("last words\r\nQUIT\r\n");
        Assert.Equal("ECHO last words", await client.ReadLineAsync());
        Assert.Equal("+BYE", await client.ReadLineAsync());
        Assert.Equal(new ShutdownResult(1, 0, 0), await stopping.WaitAsync(LineClient.Guard));
    }

    [Fact]
    public async Task A_handler_that_ignores_the_deadline_is_aborted()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new StubbornHandler(entered);
        var options = Listeners.Options() with { ShutdownGrace = TimeSpan.FromMilliseconds(100) };
        await using var listener = await Listeners.StartAsync(options, handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await entered.Task.WaitAsync(LineClient.Guard);

        var result = await listener.StopAsync(TimeSpan.FromMilliseconds(50), CancellationToken.None);

        Assert.Equal(new ShutdownResult(0, 0, 1), result);
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task Listener_host_starts_enabled_listeners_only_and_adds_up_stop_results()
    {
        var handler = new EchoHandler();
        var enabled = new ListenerService(Listeners.Options("a"), handler);
        var disabled = new ListenerService(Listeners.Options("b") with { Enabled = false }, handler);
        await using var host = new ListenerHost([enabled, disabled]);
        await host.StartAsync(CancellationToken.None);

        Assert.Single(host.Listeners);
        Assert.Empty(disabled.EndPoints);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(enabled));
        Assert.StartsWith("+OK", await client.ReadLineAsync());
        Assert.Equal(1, host.ActiveConnections);
        Assert.Equal(new ShutdownResult(0, 1, 0), await host.StopAsync(TimeSpan.Zero, CancellationToken.None));
    }

    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var guard = new CancellationTokenSource(LineClient.Guard);
        while (!condition())
        {
            await Task.Delay(10, guard.Token);
        }
    }

    private sealed class StubbornHandler(TaskCompletionSource entered) : IConnectionHandler
    {
        public async Task HandleAsync(ConnectionContext connection)
        {
            entered.TrySetResult();
            while (true)
            {
                var result = await connection.Transport.Input.ReadAsync();
                if (result.IsCompleted)
                {
                    return;
                }

                connection.Transport.Input.AdvanceTo(result.Buffer.End);
            }
        }
    }
}

public class ProxyProtocolListenerTests
{
    private static ListenerOptions Trusting(string network) => Listeners.Options() with { ProxyProtocolTrustedNetworks = [IPNetwork.Parse(network)] };

    [Fact]
    public async Task V1_header_from_a_trusted_proxy_sets_the_remote_address()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("127.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\nfirst\r\n");
        Assert.Contains("remote=192.0.2.10:40000", await client.ReadLineAsync());
        Assert.Equal("ECHO first", await client.ReadLineAsync());
        var connection = Assert.Single(handler.Connections);
        Assert.Equal(IPAddress.Loopback, connection.PeerEndPoint.Address);
        Assert.Equal(1, connection.Proxy!.Value.Version);
    }

    [Fact]
    public async Task V2_header_from_a_trusted_proxy_sets_an_ipv6_remote_address()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("127.0.0.1/32"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        var payload = new byte[36 + 4];
        IPAddress.Parse("2001:db8::77").GetAddressBytes().CopyTo(payload, 0);
        IPAddress.Parse("2001:db8::1").GetAddressBytes().CopyTo(payload, 16);
        payload[32] = 0xC3;
        payload[33] = 0x50;
        payload[35] = 25;
        payload[36] = 0x04;
        payload[38] = 0x01;
        var header = ProxyHeaderParser.V2Signature.ToArray().Concat(new byte[] { 0x21, 0x21, 0, (byte)payload.Length }).Concat(payload).ToArray();
        await client.SendBytesAsync(header);

        Assert.Contains("remote=[2001:db8::77]:50000", await client.ReadLineAsync());
    }

    [Fact]
    public async Task V2_local_command_keeps_the_real_peer()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("127.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.SendBytesAsync([.. ProxyHeaderParser.V2Signature, 0x20, 0x00, 0x00, 0x00]);
        Assert.Contains("remote=127.0.0.1:", await client.ReadLineAsync());
    }

    [Fact]
    public async Task A_trusted_proxy_that_sends_no_header_is_disconnected_before_the_handler_runs()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("127.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.SendAsync("EHLO client.example\r\n");
        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(handler.Connections);
    }

    [Fact]
    public async Task A_proxy_header_from_an_untrusted_peer_is_refused_and_the_connection_closed()
    {
        var logger = new RecordingLogger();
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("10.0.0.0/8"), handler, logger: logger);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.Contains("remote=127.0.0.1:", await client.ReadLineAsync());
        await client.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\nsecond\r\n");
        Assert.Empty(await client.ReadToEndAsync());
        Assert.Empty(handler.Commands);
        Assert.Contains(logger.Entries, e => e.Id.Id == 3005);
    }

    [Fact]
    public async Task An_untrusted_peer_sending_ordinary_commands_is_served()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("10.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.StartsWith("+OK", await client.ReadLineAsync());
        await client.SendAsync("P");
        await client.SendAsync("ROBE\r\n");
        Assert.Equal("ECHO PROBE", await client.ReadLineAsync());
    }

    [Fact]
    public async Task A_header_arriving_one_byte_at_a_time_is_read_without_reading_past_it()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("127.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        foreach (var c in "PROXY TCP6 2001:db8::9 2001:db8::1 1234 25\r\n")
        {
            await client.SendAsync(c.ToString());
        }

        Assert.Contains("remote=[2001:db8::9]:1234", await client.ReadLineAsync());
        await client.SendAsync("next\r\n");
        Assert.Equal("ECHO next", await client.ReadLineAsync());
    }

    [Fact]
    public async Task A_trusted_proxy_that_stays_silent_is_disconnected_after_the_timeout()
    {
        var handler = new EchoHandler();
        var options = Trusting("127.0.0.0/8") with { TlsHandshakeTimeout = TimeSpan.FromMilliseconds(200) };
        await using var listener = await Listeners.StartAsync(options, handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.Null(await client.ReadLineAsync());
        Assert.Empty(handler.Connections);
    }

    [Fact]
    public async Task Proxy_header_then_implicit_tls_sets_the_address_and_completes_the_handshake()
    {
        using var folder = new TempFolder();
        using var store = new CertificateStore([folder.MakeCertificate("lb.test", isDefault: true)]);
        var handler = new EchoHandler();
        var options = Trusting("127.0.0.0/8") with { Tls = TlsMode.Implicit };
        await using var listener = await Listeners.StartAsync(options, handler, store);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        await client.SendAsync("PROXY TCP4 198.51.100.7 192.0.2.1 5555 465\r\n");
        await client.StartTlsAsync("lb.test");
        var greeting = await client.ReadLineAsync();
        Assert.Contains("remote=198.51.100.7:5555", greeting);
        Assert.Contains("tls=True", greeting);
    }

    [Fact]
    public async Task An_untrusted_client_whose_first_line_is_empty_gets_an_answer()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Trusting("10.0.0.0/8"), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.StartsWith("+OK", await client.ReadLineAsync());
        await client.SendAsync("\r\n");
        Assert.Equal("ECHO ", await client.ReadLineAsync());
    }

    [Fact]
    public async Task A_v2_header_from_an_untrusted_peer_is_refused_too()
    {
        var handler = new EchoHandler();
        await using var listener = await Listeners.StartAsync(Listeners.Options(), handler);
        await using var client = await LineClient.ConnectAsync(LineClient.Loopback(listener));

        Assert.StartsWith("+OK", await client.ReadLineAsync());
        await client.SendBytesAsync([.. ProxyHeaderParser.V2Signature, 0x20, 0x00, 0x00, 0x00, .. "QUIT\r\n"u8.ToArray()]);
        Assert.Empty(await client.ReadToEndAsync());
        Assert.Empty(handler.Commands);
    }

    [Fact]
    public async Task Limits_apply_to_the_address_from_the_proxy_header()
    {
        var handler = new EchoHandler();
        var options = Trusting("127.0.0.0/8") with { MaxConnectionsPerAddress = 1 };
        await using var listener = await Listeners.StartAsync(options, handler);

        await using var a = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await a.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.1 40000 25\r\n");
        Assert.StartsWith("+OK", await a.ReadLineAsync());
        await using var b = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await b.SendAsync("PROXY TCP4 192.0.2.11 198.51.100.1 40000 25\r\n");
        Assert.StartsWith("+OK", await b.ReadLineAsync());
        await using var c = await LineClient.ConnectAsync(LineClient.Loopback(listener));
        await c.SendAsync("PROXY TCP4 192.0.2.10 198.51.100.1 40001 25\r\n");
        Assert.Equal("-ERR too many connections PerAddressExceeded", await c.ReadLineAsync());
    }
}
