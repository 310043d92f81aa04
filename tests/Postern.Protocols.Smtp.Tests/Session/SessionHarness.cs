using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Postern.Protocols.Smtp.Session;

namespace Postern.Protocols.Smtp.Tests.Session;

internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input => input;

    public PipeWriter Output => output;
}

/// <summary>Counts the session's flushes, to see pipelined replies go out together.</summary>
internal sealed class CountingWriter(PipeWriter inner) : PipeWriter
{
    private int _flushes;

    public int Flushes => Volatile.Read(ref _flushes);

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _flushes);
        return inner.FlushAsync(cancellationToken);
    }

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
}

internal sealed class FakeHandler : ISmtpSessionHandler
{
    private readonly List<SmtpPath> _accepted = [];

    public List<string> Senders { get; } = [];

    public List<string> Messages { get; } = [];

    public List<(string Mechanism, string AuthorizationId, string User)> Logins { get; } = [];

    public int Aborted { get; private set; }

    public int TlsStarts { get; private set; }

    public int Resets { get; private set; }

    public bool FailTls { get; init; }

    public DataDefects LastDefects { get; private set; }

    /// <summary>When set, this exception is thrown by the matching handler call (to see the session answer 451).</summary>
    public string? FailOn { get; set; }

    public List<Exception> Failures { get; } = [];

    public bool? TalkedBeforeGreeting { get; private set; }

    public ValueTask<SmtpReply?> OnConnectAsync(bool talkedBeforeGreeting, CancellationToken cancellationToken)
    {
        TalkedBeforeGreeting = talkedBeforeGreeting;
        return ValueTask.FromResult<SmtpReply?>(null);
    }

    public void OnFailure(Exception exception) => Failures.Add(exception);

    private void MaybeFail(string call)
    {
        if (FailOn == call)
        {
            throw new InvalidOperationException("simulated store failure in " + call);
        }
    }

    public ValueTask<SmtpReply?> OnHelloAsync(string clientName, bool extended, CancellationToken cancellationToken) =>
        ValueTask.FromResult(clientName == "refused.example" ? new SmtpReply(550, new EnhancedStatusCode(5, 7, 1), "Go away") : null);

    public ValueTask<SmtpReply> OnMailFromAsync(SmtpPath from, MailParameters parameters, CancellationToken cancellationToken)
    {
        MaybeFail("mail");
        Senders.Add(from.Address);
        return ValueTask.FromResult(from.LocalPart == "blocked" ? new SmtpReply(550, new EnhancedStatusCode(5, 7, 1), "Sender refused") : SmtpReplies.SenderOk);
    }

    /// <summary>When set, RCPT waits for this before answering (to hold the session inside the handler).</summary>
    public Func<CancellationToken, Task>? RcptGate { get; init; }

    public async ValueTask<SmtpReply> OnRcptToAsync(SmtpPath to, RcptParameters parameters, CancellationToken cancellationToken)
    {
        MaybeFail("rcpt");
        if (RcptGate is { } gate)
        {
            await gate(cancellationToken);
        }

        return Rcpt(to);
    }

    private SmtpReply Rcpt(SmtpPath to)
    {
        if (to.LocalPart.StartsWith("unknown", StringComparison.Ordinal))
        {
            return SmtpReplies.NoSuchUser;
        }

        _accepted.Add(to);
        return SmtpReplies.RecipientOk;
    }

    public ValueTask<IMessageSink> BeginMessageAsync(CancellationToken cancellationToken) => ValueTask.FromResult<IMessageSink>(new Sink(this));

    public ValueTask<IReadOnlyList<SmtpReply>> EndMessageAsync(IMessageSink sink, DataDefects defects, CancellationToken cancellationToken)
    {
        MaybeFail("end");
        LastDefects = defects;
        Messages.Add(Encoding.UTF8.GetString(((Sink)sink).Bytes.ToArray()));
        IReadOnlyList<SmtpReply> replies = _accepted
            .Select(r => r.LocalPart.StartsWith("full", StringComparison.Ordinal)
                ? new SmtpReply(452, new EnhancedStatusCode(4, 2, 2), "Mailbox full")
                : SmtpReplies.Queued("Q" + r.LocalPart))
            .ToList();
        return ValueTask.FromResult(replies);
    }

    public ValueTask<SaslResult> AuthenticateAsync(string mechanism, string authorizationId, string user, string password, CancellationToken cancellationToken)
    {
        Logins.Add((mechanism, authorizationId, user));
        return ValueTask.FromResult(user == "alice" && password == "secret" ? SaslResult.Success : SaslResult.Failure);
    }

    public ValueTask<IDuplexPipe?> StartTlsAsync(IDuplexPipe plaintext, CancellationToken cancellationToken)
    {
        TlsStarts++;
        return ValueTask.FromResult(FailTls ? null : plaintext);
    }

    public void OnReset()
    {
        Resets++;
        _accepted.Clear();
    }

    private sealed class Sink(FakeHandler owner) : IMessageSink
    {
        public MemoryStream Bytes { get; } = new();

        public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            owner.MaybeFail("write");
            Bytes.Write(data.Span);
            return ValueTask.CompletedTask;
        }

        public void Abort() => owner.Aborted++;
    }
}

/// <summary>The client end of an in-memory connection to a running <see cref="SmtpServerSession"/>.</summary>
internal sealed class SmtpTestClient
{
    private readonly Pipe _toServer = new();
    private readonly Pipe _toClient = new();

    public SmtpTestClient(SmtpSessionOptions? options = null, FakeHandler? handler = null, CancellationToken shutdownRequested = default, CancellationToken shutdownDeadline = default)
    {
        Handler = handler ?? new FakeHandler();
        ServerOutput = new CountingWriter(_toClient.Writer);
        Session = new SmtpServerSession(options ?? new SmtpSessionOptions { Hostname = "mx.test", MaxMessageSize = 1000 }, Handler);
        Run = Session.RunAsync(new DuplexPipe(_toServer.Reader, ServerOutput), shutdownRequested, shutdownDeadline);
    }

    public FakeHandler Handler { get; }

    public SmtpServerSession Session { get; }

    public CountingWriter ServerOutput { get; }

    public Task Run { get; }

    public async Task SendAsync(string text) => await SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes) => await _toServer.Writer.WriteAsync(bytes);

    /// <summary>One reply line, or null once the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync()
    {
        var reader = _toClient.Reader;
        while (true)
        {
            var result = await reader.ReadAsync();
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is { } end)
            {
                var text = Encoding.UTF8.GetString(buffer.Slice(0, end));
                reader.AdvanceTo(buffer.GetPosition(1, end));
                Assert.EndsWith("\r", text, StringComparison.Ordinal);
                return text[..^1];
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                Assert.True(buffer.IsEmpty, "the server left a partial reply line");
                return null;
            }
        }
    }

    public async Task<List<string>> ReadAllAsync()
    {
        var lines = new List<string>();
        while (await ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    /// <summary>Asserts that the server closed the connection and the session ended cleanly.</summary>
    public async Task ExpectClosedAsync()
    {
        Assert.Null(await ReadLineAsync());
        await Run;
    }

    /// <summary>The client hangs up.</summary>
    public async Task HangUpAsync()
    {
        await _toServer.Writer.CompleteAsync();
        await Run;
    }

    /// <summary>
    /// Plays a transcript: consecutive <c>C:</c> lines go out in one write (pipelined, CRLF added);
    /// each <c>S:</c> line must be the start of the next reply line.
    /// </summary>
    public async Task ConverseAsync(string transcript)
    {
        var pending = new StringBuilder();
        foreach (var raw in transcript.Split('\n'))
        {
            var line = raw.TrimEnd('\r').TrimStart();
            if (line.StartsWith("C: ", StringComparison.Ordinal) || line == "C:")
            {
                pending.Append(line.Length > 3 ? line[3..] : string.Empty).Append("\r\n");
            }
            else if (line.StartsWith("S: ", StringComparison.Ordinal))
            {
                await FlushPendingAsync(pending);
                var actual = await ReadLineAsync();
                Assert.NotNull(actual);
                Assert.StartsWith(line[3..], actual, StringComparison.Ordinal);
            }
        }

        await FlushPendingAsync(pending);
    }

    private async Task FlushPendingAsync(StringBuilder pending)
    {
        if (pending.Length > 0)
        {
            await SendAsync(pending.ToString());
            pending.Clear();
        }
    }
}
