using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Postern.Host.Tests.Smtp;

/// <summary>
/// A load client of ours for the crash-safety test: several concurrent SMTP sessions send numbered messages with
/// unique Message-IDs and record which ones got a 250 after the data. Like a real MTA it retries a message that
/// got no final answer (the server died) or a temporary error, with the same Message-ID, until it gets 250; a
/// message whose end of data was written but whose reply never came is counted as "in flight" (ambiguous):
/// only those may be stored twice.
/// </summary>
internal sealed class SmtpLoadClient
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<int, int> _acked = new();
    private readonly ConcurrentDictionary<int, int> _inFlightLost = new();
    private readonly ConcurrentQueue<string> _permanentFailures = new();
    private int _next = -1;
    private int _temporaryFailures;
    private int _connectFailures;
    private int _sessions;
    private volatile bool _stopTaking;

    /// <param name="run">Makes the Message-IDs of this run unique.</param>
    /// <param name="port">The server's current SMTP port (it changes when the server is restarted).</param>
    /// <param name="recipients">Message n goes to recipients[n % count].</param>
    /// <param name="messages">How many messages to send at most.</param>
    /// <param name="seed">Makes the body lengths repeatable.</param>
    public SmtpLoadClient(string run, Func<int> port, IReadOnlyList<string> recipients, int messages, int seed)
    {
        Run = run;
        Port = port;
        Recipients = recipients;
        Messages = messages;
        Seed = seed;
    }

    public string Run { get; }

    public Func<int> Port { get; }

    public IReadOnlyList<string> Recipients { get; }

    /// <summary>Messages to send at most (numbered 0 .. Messages-1).</summary>
    public int Messages { get; }

    public int Seed { get; }

    /// <summary>Messages that got 250 at least once, with how many times.</summary>
    public IReadOnlyDictionary<int, int> Acked => _acked;

    /// <summary>Messages whose final dot was written but whose reply never arrived, with how many times.</summary>
    public IReadOnlyDictionary<int, int> InFlightLost => _inFlightLost;

    public int InFlightLostTotal => _inFlightLost.Values.Sum();

    public IReadOnlyCollection<string> PermanentFailures => _permanentFailures;

    public int TemporaryFailures => _temporaryFailures;

    public int ConnectFailures => _connectFailures;

    public int SessionsOpened => _sessions;

    /// <summary>How many message numbers were handed out (each is then retried until it gets an answer).</summary>
    public int Started => Math.Min(_next + 1, Messages);

    public string MessageId(int n) => $"crash-{Run}-{n.ToString(CultureInfo.InvariantCulture)}@load.test";

    public string RecipientOf(int n) => Recipients[n % Recipients.Count];

    /// <summary>After this, sessions finish the message they hold and take no new one.</summary>
    public void StopTakingNewMessages() => _stopTaking = true;

    /// <summary>The message as sent: headers, then a body of a length that varies with the number (checked on read-back).</summary>
    public string Message(int n)
    {
        var random = new Random(HashCode.Combine(Seed, n));
        var lines = random.Next(1, 64);
        var body = new StringBuilder();
        for (var i = 0; i < lines; i++)
        {
            body.Append(CultureInfo.InvariantCulture, $"line {i} of message {n}: ").Append('x', random.Next(0, 120)).Append("\r\n");
        }

        return $"Message-ID: <{MessageId(n)}>\r\nFrom: load@remote.test\r\nTo: {RecipientOf(n)}\r\nSubject: crash safety {n.ToString(CultureInfo.InvariantCulture)}\r\n"
            + $"X-Load-Body-Length: {body.Length.ToString(CultureInfo.InvariantCulture)}\r\n\r\n{body}";
    }

    /// <summary>Runs <paramref name="sessions"/> sessions until every message handed out got its answer.</summary>
    public Task RunAsync(int sessions, CancellationToken cancellationToken) =>
        Task.WhenAll(Enumerable.Range(0, sessions).Select(_ => Task.Run(() => SessionLoopAsync(cancellationToken), cancellationToken)));

    private async Task SessionLoopAsync(CancellationToken cancellationToken)
    {
        Connection? connection = null;
        int? current = null;
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (current is null)
                {
                    if (_stopTaking)
                    {
                        return;
                    }

                    var n = Interlocked.Increment(ref _next);
                    if (n >= Messages)
                    {
                        return;
                    }

                    current = n;
                }

                if (connection is null)
                {
                    connection = await ConnectAsync(cancellationToken);
                    if (connection is null)
                    {
                        Interlocked.Increment(ref _connectFailures);
                        await Task.Delay(50, cancellationToken);
                        continue;
                    }

                    Interlocked.Increment(ref _sessions);
                }

                var number = current.Value;
                var dotWritten = false;
                try
                {
                    var outcome = await SendAsync(connection, number, () => dotWritten = true, cancellationToken);
                    switch (outcome)
                    {
                        case Outcome.Accepted:
                            _acked.AddOrUpdate(number, 1, (_, c) => c + 1);
                            current = null;
                            break;
                        case Outcome.Temporary:
                            Interlocked.Increment(ref _temporaryFailures);
                            connection.Dispose();
                            connection = null;
                            await Task.Delay(50, cancellationToken);
                            break;
                        case Outcome.Permanent:
                            current = null;
                            connection.Dispose();
                            connection = null;
                            break;
                    }
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
                {
                    if (dotWritten)
                    {
                        _inFlightLost.AddOrUpdate(number, 1, (_, c) => c + 1);
                    }

                    connection?.Dispose();
                    connection = null;
                }
            }
        }
        finally
        {
            if (connection is not null)
            {
                try
                {
                    await connection.CommandAsync("QUIT", cancellationToken);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
                {
                }

                connection.Dispose();
            }
        }
    }

    private async Task<Connection?> ConnectAsync(CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, Port(), cancellationToken);
            var connection = new Connection(tcp);
            var greeting = await connection.ReadReplyAsync(cancellationToken);
            if (!greeting.StartsWith("220", StringComparison.Ordinal))
            {
                connection.Dispose();
                return null;
            }

            var ehlo = await connection.CommandAsync("EHLO load.test", cancellationToken);
            if (!ehlo.StartsWith("250", StringComparison.Ordinal))
            {
                connection.Dispose();
                return null;
            }

            return connection;
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
        {
            tcp.Dispose();
            return null;
        }
    }

    private async Task<Outcome> SendAsync(Connection connection, int n, Action dotWritten, CancellationToken cancellationToken)
    {
        foreach (var (command, expected) in new[] { ("MAIL FROM:<load@remote.test>", "250"), ($"RCPT TO:<{RecipientOf(n)}>", "250"), ("DATA", "354") })
        {
            var reply = await connection.CommandAsync(command, cancellationToken);
            if (!reply.StartsWith(expected, StringComparison.Ordinal))
            {
                return Classify(n, command, reply);
            }
        }

        var data = Encoding.ASCII.GetBytes(Message(n) + ".\r\n");
        await connection.Stream.WriteAsync(data.AsMemory(0, data.Length - 3), cancellationToken);
        dotWritten();
        await connection.Stream.WriteAsync(data.AsMemory(data.Length - 3), cancellationToken);
        var final = await connection.ReadReplyAsync(cancellationToken);
        return final.StartsWith("250", StringComparison.Ordinal) ? Outcome.Accepted : Classify(n, "end of data", final);
    }

    private Outcome Classify(int n, string command, string reply)
    {
        if (reply.StartsWith('4'))
        {
            return Outcome.Temporary;
        }

        _permanentFailures.Enqueue($"message {n.ToString(CultureInfo.InvariantCulture)}: {command} -> {reply}");
        return Outcome.Permanent;
    }

    private enum Outcome
    {
        Accepted,
        Temporary,
        Permanent,
    }

    private sealed class Connection : IDisposable
    {
        private readonly TcpClient _tcp;
        private readonly StreamReader _reader;

        public Connection(TcpClient tcp)
        {
            _tcp = tcp;
            Stream = tcp.GetStream();
            _reader = new StreamReader(Stream, Encoding.ASCII, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
        }

        public NetworkStream Stream { get; }

        public async Task<string> CommandAsync(string command, CancellationToken cancellationToken)
        {
            var bytes = Encoding.ASCII.GetBytes(command + "\r\n");
            await Stream.WriteAsync(bytes, cancellationToken);
            return await ReadReplyAsync(cancellationToken);
        }

        /// <summary>One reply (all its lines); the text of its last line.</summary>
        public async Task<string> ReadReplyAsync(CancellationToken cancellationToken)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ReplyTimeout);
            while (true)
            {
                string? line;
                try
                {
                    line = await _reader.ReadLineAsync(timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new IOException("no reply within " + ReplyTimeout);
                }

                if (line is null)
                {
                    throw new EndOfStreamException("the server closed the connection");
                }

                if (line.Length < 4 || line[3] != '-')
                {
                    return line;
                }
            }
        }

        public void Dispose()
        {
            _reader.Dispose();
            Stream.Dispose();
            _tcp.Dispose();
        }
    }
}
