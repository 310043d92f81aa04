using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Postern.Bench;

/// <summary>
/// SMTP latency load (issue 4 "Speed"): S sessions, each looping connect → EHLO → MAIL → RCPT → DATA → body →
/// 250 → QUIT, one message per connection like smtp-source. The latency of a message is the time from the start
/// of the connect to the 250 after the body. Plain sockets, no pipelining, no TLS; each message has its own
/// Message-ID. Prints one RESULT line on stdout (count, msg/s, p50, p90, p99, max in ms).
/// </summary>
internal static class SmtpLatency
{
    private const string Usage =
        "usage: Postern.Bench smtp-latency HOST:PORT [--sessions S] [--count N] [--size BYTES] [--rcpt ADDR] [--from ADDR]\n" +
        "                     [--warmup N] [--timeout SECONDS] [--name LABEL]";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 1 || !TryParseEndpoint(args[0], out var host, out var port))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }

        var options = new Options();
        for (var i = 1; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : null;
            if (value is null)
            {
                Console.Error.WriteLine(Usage);
                return 2;
            }

            switch (args[i])
            {
                case "--sessions": options.Sessions = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--count": options.Count = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--size": options.Size = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--rcpt": options.Recipient = value; break;
                case "--from": options.Sender = value; break;
                case "--warmup": options.Warmup = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--timeout": options.TimeoutSeconds = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--name": options.Name = value; break;
                default:
                    Console.Error.WriteLine(Usage);
                    return 2;
            }

            i++;
        }

        if (options.Sessions < 1 || options.Count < 1 || options.Size < 256)
        {
            Console.Error.WriteLine("sessions and count must be at least 1, size at least 256");
            return 2;
        }

        var filler = BuildFiller(options.Size);
        var runId = Guid.NewGuid().ToString("N")[..12];
        if (options.Warmup > 0)
        {
            var warm = await LoadAsync(host, port, options, filler, runId + "w", options.Warmup);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"warm-up: {warm.Latencies.Count} ok, {warm.Failures} failed in {warm.Elapsed.TotalSeconds:F1} s"));
        }

        var run = await LoadAsync(host, port, options, filler, runId, options.Count);
        var sorted = run.Latencies.ToArray();
        Array.Sort(sorted);
        var ok = sorted.Length;
        var rate = ok / run.Elapsed.TotalSeconds;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"RESULT {options.Name} count={options.Count} ok={ok} failed={run.Failures} sessions={options.Sessions} size={options.Size} " +
            $"elapsed_s={run.Elapsed.TotalSeconds:F2} msg_per_s={rate:F1} p50_ms={Percentile(sorted, 0.50):F2} " +
            $"p90_ms={Percentile(sorted, 0.90):F2} p99_ms={Percentile(sorted, 0.99):F2} max_ms={(ok > 0 ? sorted[^1] : double.NaN):F2}");
        if (run.FirstError is not null)
        {
            Console.Error.WriteLine("first error: " + run.FirstError);
        }

        Console.WriteLine(line);
        return run.Failures == 0 ? 0 : 1;
    }

    private sealed class Options
    {
        public int Sessions { get; set; } = 1;

        public int Count { get; set; } = 1000;

        public int Size { get; set; } = 4096;

        public string Recipient { get; set; } = "user@example.test";

        public string Sender { get; set; } = "bench@sender.test";

        public int Warmup { get; set; }

        public double TimeoutSeconds { get; set; } = 85;

        public string Name { get; set; } = "smtp_latency";
    }

    private sealed record RunResult(List<double> Latencies, int Failures, TimeSpan Elapsed, string? FirstError);

    private static bool TryParseEndpoint(string text, out string host, out int port)
    {
        var colon = text.LastIndexOf(':');
        host = colon > 0 ? text[..colon] : "";
        port = 0;
        return colon > 0 && int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;
    }

    /// <summary>The lines after the headers: 76 letters and CRLF each (none starts with a dot), then ".\r\n".</summary>
    private static byte[] BuildFiller(int size)
    {
        const int HeaderEstimate = 200; // the headers written per message are about this long
        var text = new StringBuilder(size + 100);
        var line = 0;
        while (text.Length + HeaderEstimate < size)
        {
            var letter = (char)('a' + (line++ % 26));
            text.Append(letter, 76).Append("\r\n");
        }

        text.Append(".\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    private static double Percentile(double[] sorted, double q)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = (int)Math.Ceiling(q * sorted.Length); // nearest rank
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    private static async Task<RunResult> LoadAsync(string host, int port, Options options, byte[] filler, string runId, int count)
    {
        var latencies = new List<double>(count);
        var failures = 0;
        string? firstError = null;
        var next = 0;
        var gate = new object();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
        var clock = Stopwatch.StartNew();

        async Task SessionAsync()
        {
            var buffer = new byte[8192];
            while (true)
            {
                var n = Interlocked.Increment(ref next);
                if (n > count || deadline.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    var ms = await OneMessageAsync(host, port, options, filler, $"{runId}.{n}", buffer, deadline.Token);
                    lock (gate)
                    {
                        latencies.Add(ms);
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or SmtpReplyException)
                {
                    lock (gate)
                    {
                        failures++;
                        firstError ??= $"message {n}: {e.GetType().Name}: {e.Message}";
                    }
                }
            }
        }

        var sessions = Enumerable.Range(0, options.Sessions).Select(_ => Task.Run(SessionAsync)).ToArray();
        await Task.WhenAll(sessions);
        clock.Stop();
        var notSent = Math.Max(0, count - latencies.Count - failures);
        return new RunResult(latencies, failures + notSent, clock.Elapsed, firstError ?? (notSent > 0 ? $"{notSent} not sent before the time-out" : null));
    }

    private static async Task<double> OneMessageAsync(string host, int port, Options options, byte[] filler, string id, byte[] buffer, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(host, port, ct);
        var reader = new ReplyReader(socket, buffer);
        await reader.ExpectAsync(220, ct);
        await SendAsync(socket, "EHLO client.bench.test\r\n", ct);
        await reader.ExpectAsync(250, ct);
        await SendAsync(socket, $"MAIL FROM:<{options.Sender}>\r\n", ct);
        await reader.ExpectAsync(250, ct);
        await SendAsync(socket, $"RCPT TO:<{options.Recipient}>\r\n", ct);
        await reader.ExpectAsync(250, ct);
        await SendAsync(socket, "DATA\r\n", ct);
        await reader.ExpectAsync(354, ct);
        var headers = string.Create(CultureInfo.InvariantCulture,
            $"From: <{options.Sender}>\r\nTo: <{options.Recipient}>\r\nSubject: latency {id}\r\n" +
            $"Date: {DateTimeOffset.UtcNow:ddd, dd MMM yyyy HH:mm:ss} +0000\r\nMessage-ID: <{id}@bench.test>\r\n\r\n");
        await SendAsync(socket, headers, ct);
        await socket.SendAsync(filler, SocketFlags.None, ct);
        await reader.ExpectAsync(250, ct);
        var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;

        // After the measurement: QUIT, then wait for the server to close first (its side keeps TIME_WAIT).
        await SendAsync(socket, "QUIT\r\n", ct);
        try
        {
            await reader.ExpectAsync(221, ct);
            using var linger = CancellationTokenSource.CreateLinkedTokenSource(ct);
            linger.CancelAfter(TimeSpan.FromSeconds(1));
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, linger.Token) > 0)
            {
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or SmtpReplyException)
        {
            // the message was accepted; how the session ends does not matter here
        }

        return elapsed;
    }

    private static async Task SendAsync(Socket socket, string text, CancellationToken ct)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        var sent = 0;
        while (sent < bytes.Length)
        {
            sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None, ct);
        }
    }

    /// <summary>Reads one SMTP reply (possibly multi-line) and checks its code.</summary>
    private sealed class ReplyReader(Socket socket, byte[] buffer)
    {
        private int _start;
        private int _end;

        public async Task ExpectAsync(int code, CancellationToken ct)
        {
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var got))
                {
                    throw new SmtpReplyException("malformed reply: " + line);
                }

                if (line.Length > 3 && line[3] == '-')
                {
                    continue; // more lines follow
                }

                if (got != code)
                {
                    throw new SmtpReplyException($"expected {code}, got: {line}");
                }

                return;
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                var lf = Array.IndexOf(buffer, (byte)'\n', _start, _end - _start);
                if (lf >= 0)
                {
                    var length = lf - _start;
                    if (length > 0 && buffer[lf - 1] == '\r')
                    {
                        length--;
                    }

                    var line = Encoding.ASCII.GetString(buffer, _start, length);
                    _start = lf + 1;
                    return line;
                }

                if (_start > 0)
                {
                    Buffer.BlockCopy(buffer, _start, buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == buffer.Length)
                {
                    throw new SmtpReplyException("reply line too long");
                }

                var n = await socket.ReceiveAsync(buffer.AsMemory(_end), SocketFlags.None, ct);
                if (n == 0)
                {
                    throw new IOException("connection closed by the server");
                }

                _end += n;
            }
        }
    }
}

internal sealed class SmtpReplyException(string message) : Exception(message);
