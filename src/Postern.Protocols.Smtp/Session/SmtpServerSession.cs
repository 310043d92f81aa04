using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace Postern.Protocols.Smtp.Session;

/// <summary>
/// The SMTP/LMTP server state machine (RFC 5321 with PIPELINING, CHUNKING, SIZE, 8BITMIME, SMTPUTF8,
/// ENHANCEDSTATUSCODES, DSN, AUTH, STARTTLS; RFC 2033 LMTP). Pure protocol over an <see cref="IDuplexPipe"/>:
/// every policy decision, the spool and the TLS handshake belong to the <see cref="ISmtpSessionHandler"/>.
/// One read is parsed as far as it goes, every complete command is answered, and the replies go out in one
/// flush per read (pipelining). Nothing the client sends is buffered beyond one command line.
/// </summary>
public sealed class SmtpServerSession
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly SmtpReply UsernameChallenge = new(334, null, "VXNlcm5hbWU6");
    private static readonly SmtpReply PasswordChallenge = new(334, null, "UGFzc3dvcmQ6");
    private static readonly SmtpReply EmptyChallenge = new(334, null, string.Empty);
    private static readonly SmtpReply AuthCancelled = new(501, new EnhancedStatusCode(5, 0, 0), "Authentication cancelled");
    private static readonly SmtpReply BadBase64 = new(501, new EnhancedStatusCode(5, 5, 2), "Invalid base64 or SASL response");
    private static readonly SmtpReply UnknownMechanism = new(504, new EnhancedStatusCode(5, 5, 4), "Unrecognized authentication type");
    private static readonly SmtpReply EncryptionRequiredForAuth = new(538, new EnhancedStatusCode(5, 7, 11), "Encryption required for requested authentication mechanism");
    private static readonly SmtpReply BareLineEnd = new(550, new EnhancedStatusCode(5, 5, 2), "Bare CR or LF in message not allowed");
    private static readonly SmtpReply CannotVerify = new(252, new EnhancedStatusCode(2, 5, 0), "Cannot VRFY user, but will accept message and attempt delivery");
    private static readonly SmtpReply Help = new(214, new EnhancedStatusCode(2, 0, 0), "See https://www.rfc-editor.org/rfc/rfc5321");

    private readonly SmtpSessionOptions _options;
    private readonly ISmtpSessionHandler _handler;
    private readonly SmtpCommandLimits _limits;
    private readonly ArrayBufferWriter<byte> _scratch = new();
    private readonly List<SmtpPath> _recipients = [];

    private IDuplexPipe? _transport;
    private SessionState _state;
    private bool _tls;
    private bool _authenticated;
    private bool _discardingLine;
    private bool _startTlsPending;
    private bool _outputPending;
    private int _errors;
    private int _commandsBeforeAuth;

    // The mail transaction.
    private MailParameters? _mailParameters;
    private int _rcptAttempts;
    private IMessageSink? _sink;
    private bool _sinkFailed;
    private volatile bool _timedOut;
    private TimeSpan _errorDelayDue;
    private SmtpReply? _timeoutReply;
    private DataDecoder? _decoder;
    private bool _bdatUsed;
    private long _bdatTotal;
    private bool _bdatPendingCr;
    private DataDefects _bdatDefects;
    private long _bdatRemaining;
    private bool _bdatLast;
    private SmtpReply? _bdatRefusal;
    private SessionState _bdatReturnState;

    // SASL exchange.
    private AuthStep _authStep;
    private string _authUser = string.Empty;

    public SmtpServerSession(SmtpSessionOptions options, ISmtpSessionHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        _options = options;
        _handler = handler;
        _limits = new SmtpCommandLimits { MaxLineLength = options.MaxLineLength };
        _tls = options.TlsActive;
    }

    private enum SessionState
    {
        /// <summary>Before a successful HELO/EHLO/LHLO.</summary>
        Initial,

        /// <summary>Greeted, no transaction.</summary>
        Ready,

        /// <summary>After an accepted MAIL FROM.</summary>
        Transaction,

        /// <summary>Reading the DATA stream up to CRLF.CRLF.</summary>
        Data,

        /// <summary>Reading the octets of one BDAT chunk.</summary>
        BdatChunk,

        /// <summary>Reading SASL responses.</summary>
        Auth,

        Closed,
    }

    private enum AuthStep
    {
        PlainResponse,
        LoginUser,
        LoginPassword,
    }

    /// <summary>
    /// The connection's idle timeout fired: the pending read is cancelled, the client gets 421 4.4.2 and the
    /// session ends. Safe to call from any thread, once.
    /// </summary>
    public void TimeOut() => TimeOut(null);

    /// <summary>As <see cref="TimeOut()"/>, answering <paramref name="reply"/> (e.g. the total session time limit) instead of the idle timeout's.</summary>
    public void TimeOut(SmtpReply? reply)
    {
        _timeoutReply ??= reply;
        _timedOut = true;
        _transport?.Input.CancelPendingRead();
    }

    /// <summary>True once AUTH succeeded (reset by STARTTLS).</summary>
    public bool IsAuthenticated => _authenticated;

    /// <summary>True when the transport is encrypted (from the options or after STARTTLS).</summary>
    public bool IsTlsActive => _tls;

    /// <summary>
    /// Runs the session until QUIT, the client closes, a limit closes it, or shutdown. Completes the
    /// transport's reader and writer at the end. <paramref name="shutdownRequested"/> lets the current
    /// transaction finish and answers 421 4.3.2 to the next command; <paramref name="shutdownDeadline"/>
    /// answers 421 4.3.2 at once and ends.
    /// </summary>
    public async Task RunAsync(IDuplexPipe transport, CancellationToken shutdownRequested, CancellationToken shutdownDeadline)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _transport = transport;
        try
        {
            await RunCoreAsync(shutdownRequested, shutdownDeadline).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_timedOut)
        {
        }
        catch (OperationCanceledException) when (shutdownDeadline.IsCancellationRequested)
        {
            Send(SmtpReplies.ShuttingDown(_options.Hostname));
            await _transport.Output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            _state = SessionState.Closed;
            AbortMessage();
            await _transport.Input.CompleteAsync().ConfigureAwait(false);
            await _transport.Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    private IDuplexPipe Transport => _transport!;

    private async Task RunCoreAsync(CancellationToken shutdownRequested, CancellationToken deadline)
    {
        if (_options.GreetingRefusal is { } refusal)
        {
            Send(refusal);
            await FlushAsync(deadline).ConfigureAwait(false);
            return;
        }

        var talkedFirst = _options.GreetingDelay > TimeSpan.Zero && await TalksBeforeGreetingAsync(deadline).ConfigureAwait(false);
        var connectRefusal = await _handler.OnConnectAsync(talkedFirst, deadline).ConfigureAwait(false);
        if (talkedFirst || connectRefusal is not null)
        {
            Send(connectRefusal ?? new SmtpReply(554, new EnhancedStatusCode(5, 5, 1), $"{_options.Hostname} protocol error: talking before the greeting"));
            await FlushAsync(deadline).ConfigureAwait(false);
            return;
        }

        Send(new SmtpReply(220, null, $"{_options.Hostname} {(_options.Lmtp ? "LMTP" : "ESMTP")} Postern"));
        await FlushAsync(deadline).ConfigureAwait(false);
        while (_state != SessionState.Closed)
        {
            var input = Transport.Input;
            var result = await input.ReadAsync(deadline).ConfigureAwait(false);
            if (result.IsCanceled && _timedOut)
            {
                // RFC 5321 §4.5.3.2.7: the server gives up on a silent client.
                input.AdvanceTo(result.Buffer.Start);
                AbortMessage();
                Close(_timeoutReply ?? SmtpReplies.Timeout(_options.Hostname));
                await FlushAsync(deadline).ConfigureAwait(false);
                break;
            }

            var buffer = result.Buffer;
            var consumed = buffer.Start;
            try
            {
                while (_state != SessionState.Closed && !_startTlsPending)
                {
                    var (next, progressed) = await StepAsync(buffer.Slice(consumed), shutdownRequested, deadline).ConfigureAwait(false);
                    consumed = next;
                    if (!progressed)
                    {
                        break;
                    }
                }

                if (result.IsCompleted && _state != SessionState.Closed && !_startTlsPending)
                {
                    // The client went away (perhaps mid-command or mid-message): nothing to answer.
                    _state = SessionState.Closed;
                    AbortMessage();
                }
            }
            finally
            {
                // After STARTTLS, whatever else came in plaintext is dropped, never executed (RFC 3207 §4.2).
                input.AdvanceTo(_startTlsPending ? buffer.End : consumed, buffer.End);
            }

            if (_errorDelayDue > TimeSpan.Zero)
            {
                // A client that keeps erring is slowed down before it hears back (Postfix: smtpd_error_sleep_time),
                // a little more with every further error.
                var delay = _errorDelayDue;
                _errorDelayDue = TimeSpan.Zero;
                await Task.Delay(delay, deadline).ConfigureAwait(false);
            }

            await FlushAsync(deadline).ConfigureAwait(false);
            if (_startTlsPending)
            {
                _startTlsPending = false;
                var upgraded = await _handler.StartTlsAsync(Transport, deadline).ConfigureAwait(false);
                if (upgraded is null)
                {
                    _state = SessionState.Closed;
                    break;
                }

                // The plaintext pipe stays open: the TLS transport is usually layered on it.
                _transport = upgraded;
                _tls = true;
                _authenticated = false;
                _discardingLine = false;
                ResetTransaction();
                _state = SessionState.Initial;
            }
        }
    }

    /// <summary>
    /// Waits <see cref="SmtpSessionOptions.GreetingDelay"/> for input before the greeting: a client that
    /// sends anything then did not wait for the banner (RFC 5321 §4.3.1 says it must).
    /// </summary>
    private async ValueTask<bool> TalksBeforeGreetingAsync(CancellationToken deadline)
    {
        var input = Transport.Input;
        using var wait = new CancellationTokenSource(_options.GreetingDelay);
        using var registration = wait.Token.Register(static state => ((PipeReader)state!).CancelPendingRead(), input);
        var result = await input.ReadAsync(deadline).ConfigureAwait(false);
        var talked = !result.Buffer.IsEmpty;

        // Nothing is consumed: a well-behaved client's data (there is none yet) stays for the command loop.
        input.AdvanceTo(result.Buffer.Start);
        return talked;
    }

    private async ValueTask<(SequencePosition Next, bool Progressed)> StepAsync(ReadOnlySequence<byte> data, CancellationToken shutdownRequested, CancellationToken ct)
    {
        switch (_state)
        {
            case SessionState.Data:
                return await DataStepAsync(data, ct).ConfigureAwait(false);
            case SessionState.BdatChunk:
                return await BdatStepAsync(data, ct).ConfigureAwait(false);
        }

        if (_discardingLine)
        {
            var lf = data.PositionOf((byte)'\n');
            if (lf is null)
            {
                return (data.End, !data.IsEmpty);
            }

            _discardingLine = false;
            return (data.GetPosition(1, lf.Value), true);
        }

        var status = ReadLine(data, out var line, out var after, out var lineEnded);
        switch (status)
        {
            case LineStatus.NeedMoreData:
                return (data.Start, false);
            case LineStatus.TooLong:
                _discardingLine = !lineEnded;
                if (_state == SessionState.Auth)
                {
                    _state = SessionState.Ready;
                }

                SendError(SmtpReplies.LineTooLong);
                return (after, true);
        }

        try
        {
            if (_state == SessionState.Auth)
            {
                await AuthResponseAsync(line, ct).ConfigureAwait(false);
            }
            else
            {
                await CommandAsync(SmtpCommandParser.Parse(line, _limits), shutdownRequested, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The handler failed (a store error, a bug): the client may try again later, the session goes on.
            // Every state change happens after the handler returns, so the state is still consistent.
            _handler.OnFailure(e);
            Send(SmtpReplies.LocalError);
        }

        return (after, true);
    }

    private LineStatus ReadLine(ReadOnlySequence<byte> data, out ReadOnlySequence<byte> line, out SequencePosition after, out bool lineEnded)
    {
        var reader = new SequenceReader<byte>(data);
        var status = SmtpCommandParser.TryReadLine(ref reader, _options.MaxLineLength, out line);
        after = reader.Position;

        // A too-long line was either consumed through its LF, or only as far as the input went.
        lineEnded = status != LineStatus.TooLong
            || (reader.Consumed > 0 && data.Slice(reader.Consumed - 1, 1).FirstSpan[0] == (byte)'\n');
        return status;
    }

    private async ValueTask CommandAsync(SmtpCommand command, CancellationToken shutdownRequested, CancellationToken ct)
    {
        if (shutdownRequested.IsCancellationRequested && _state != SessionState.Transaction)
        {
            Close(SmtpReplies.ShuttingDown(_options.Hostname));
            return;
        }

        if (_state == SessionState.Initial || (_options.AuthRequired && !_authenticated))
        {
            if (++_commandsBeforeAuth > _options.MaxCommandsBeforeAuth)
            {
                Close(new SmtpReply(421, new EnhancedStatusCode(4, 7, 0), $"{_options.Hostname} too many commands, closing connection"));
                return;
            }
        }

        if (command.Error is { } error)
        {
            SendError(error);
            return;
        }

        switch (command.Verb)
        {
            case SmtpVerb.Helo or SmtpVerb.Ehlo or SmtpVerb.Lhlo:
                await HelloAsync(command, ct).ConfigureAwait(false);
                break;
            case SmtpVerb.Mail:
                await MailAsync(command, ct).ConfigureAwait(false);
                break;
            case SmtpVerb.Rcpt:
                await RcptAsync(command, ct).ConfigureAwait(false);
                break;
            case SmtpVerb.Data:
                await DataAsync(ct).ConfigureAwait(false);
                break;
            case SmtpVerb.Bdat:
                await BdatAsync(command, ct).ConfigureAwait(false);
                break;
            case SmtpVerb.Rset:
                ResetTransaction();
                Send(SmtpReplies.Ok());
                break;
            case SmtpVerb.Noop:
                Send(SmtpReplies.Ok());
                break;
            case SmtpVerb.Quit:
                Close(SmtpReplies.Bye(_options.Hostname));
                break;
            case SmtpVerb.Vrfy:
                Send(CannotVerify);
                break;
            case SmtpVerb.Help:
                Send(Help);
                break;
            case SmtpVerb.StartTls:
                StartTls();
                break;
            case SmtpVerb.Auth:
                await AuthAsync(command, ct).ConfigureAwait(false);
                break;
            default:
                SendError(SmtpReplies.NotImplemented);
                break;
        }
    }

    private async ValueTask HelloAsync(SmtpCommand command, CancellationToken ct)
    {
        if (_options.Lmtp != (command.Verb == SmtpVerb.Lhlo))
        {
            SendError(SmtpReplies.SyntaxError);
            return;
        }

        if (_state == SessionState.Transaction)
        {
            ResetTransaction();
        }

        var extended = command.Verb != SmtpVerb.Helo;
        var refusal = await _handler.OnHelloAsync(command.ClientName!, extended, ct).ConfigureAwait(false);
        if (refusal is not null)
        {
            Send(refusal);
            return;
        }

        _state = SessionState.Ready;
        Send(extended ? new SmtpReply(250, null, Capabilities()) : new SmtpReply(250, null, _options.Hostname));
    }

    /// <summary>The EHLO/LHLO reply lines: exactly what this session's options and TLS state offer.</summary>
    private List<string> Capabilities()
    {
        List<string> lines = [_options.Hostname, "PIPELINING", string.Create(CultureInfo.InvariantCulture, $"SIZE {_options.MaxMessageSize}")];
        if (_options.EightBitMime)
        {
            lines.Add("8BITMIME");
        }

        if (_options.SmtpUtf8)
        {
            lines.Add("SMTPUTF8");
        }

        lines.Add("ENHANCEDSTATUSCODES");
        if (_options.Chunking)
        {
            lines.Add("CHUNKING");
        }

        if (_options.Dsn)
        {
            lines.Add("DSN");
        }

        if (_options.StartTlsOffered && !_tls)
        {
            lines.Add("STARTTLS");
        }

        if (AuthAllowed)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }

        if (_options.RequireTls && _tls)
        {
            lines.Add("REQUIRETLS");
        }

        return lines;
    }

    private bool AuthAllowed => _options.AuthOffered && (_tls || _options.AuthAllowedWithoutTls);

    private async ValueTask MailAsync(SmtpCommand command, CancellationToken ct)
    {
        if (_state == SessionState.Initial)
        {
            SendError(SmtpReplies.BadSequence("Send HELO/EHLO first"));
            return;
        }

        if (_state == SessionState.Transaction)
        {
            SendError(SmtpReplies.BadSequence("Nested MAIL command"));
            return;
        }

        if (_options.AuthRequired && !_authenticated)
        {
            SendError(SmtpReplies.AuthRequired);
            return;
        }

        var p = command.MailParameters!;
        if (p.Size > _options.MaxMessageSize)
        {
            Send(SmtpReplies.MessageTooBig);
            return;
        }

        var unsupported =
            (p.Body == BodyType.EightBitMime && !_options.EightBitMime) ? "BODY=8BITMIME"
            : (p.Body == BodyType.BinaryMime && !_options.Chunking) ? "BODY=BINARYMIME"
            : (p.SmtpUtf8 && !_options.SmtpUtf8) ? "SMTPUTF8"
            : ((p.Return != DsnReturn.Unspecified || p.EnvelopeId is not null) && !_options.Dsn) ? "RET/ENVID"
            : (p.RequireTls && !(_options.RequireTls && _tls)) ? "REQUIRETLS"
            : null;
        if (unsupported is not null)
        {
            SendError(SmtpReplies.ParameterNotImplemented($"Unsupported parameter {unsupported}"));
            return;
        }

        var reply = await _handler.OnMailFromAsync(command.Path!, p, ct).ConfigureAwait(false);
        Send(reply);
        if (reply.IsPositive)
        {
            _state = SessionState.Transaction;
            _mailParameters = p;
        }
    }

    private async ValueTask RcptAsync(SmtpCommand command, CancellationToken ct)
    {
        if (_state != SessionState.Transaction)
        {
            SendError(SmtpReplies.BadSequence("Send MAIL first"));
            return;
        }

        if (_bdatUsed)
        {
            SendError(SmtpReplies.BadSequence("RCPT not allowed during BDAT"));
            return;
        }

        var p = command.RcptParameters!;
        if ((p.Notify != DsnNotify.Unspecified || p.OriginalRecipient is not null) && !_options.Dsn)
        {
            SendError(SmtpReplies.ParameterNotImplemented("Unsupported parameter NOTIFY/ORCPT"));
            return;
        }

        if (command.Path!.IsInternational && !(_mailParameters?.SmtpUtf8 ?? false))
        {
            // RFC 6531 §3.5: a UTF-8 address needs the SMTPUTF8 parameter on MAIL.
            SendError(new SmtpReply(553, new EnhancedStatusCode(5, 6, 7), "Non-ASCII address requires SMTPUTF8"));
            return;
        }

        if (_recipients.Count >= _options.MaxRecipients)
        {
            Send(SmtpReplies.TooManyRecipients);
            return;
        }

        _rcptAttempts++;
        var reply = await _handler.OnRcptToAsync(command.Path!, p, ct).ConfigureAwait(false);
        Send(reply);
        if (reply.IsPositive)
        {
            _recipients.Add(command.Path!);
        }
    }

    /// <summary>Why DATA or BDAT cannot start a message now, or null.</summary>
    private SmtpReply? MessageRefusal()
    {
        if (_state != SessionState.Transaction)
        {
            return SmtpReplies.BadSequence("Send MAIL first");
        }

        if (_recipients.Count == 0)
        {
            // LMTP answers 503 either way (RFC 2033 §4.2).
            return _rcptAttempts == 0 ? SmtpReplies.BadSequence("Send RCPT first")
                : _options.Lmtp ? SmtpReplies.BadSequence("No valid recipients")
                : SmtpReplies.NoValidRecipients;
        }

        return null;
    }

    private async ValueTask DataAsync(CancellationToken ct)
    {
        var refusal = MessageRefusal()
            ?? (_bdatUsed ? SmtpReplies.BadSequence("DATA not allowed after BDAT") : null)
            ?? (_mailParameters?.Body == BodyType.BinaryMime ? SmtpReplies.BadSequence("BODY=BINARYMIME requires BDAT") : null);
        if (refusal is not null)
        {
            SendError(refusal);
            return;
        }

        _sink = await _handler.BeginMessageAsync(ct).ConfigureAwait(false);
        _decoder = new DataDecoder(_options.MaxMessageSize, _options.BareLineEnds == BareLineEndHandling.Normalize);
        _state = SessionState.Data;
        Send(SmtpReplies.StartData);
    }

    private async ValueTask<(SequencePosition Next, bool Progressed)> DataStepAsync(ReadOnlySequence<byte> data, CancellationToken ct)
    {
        var done = Decode(data, out var after, out var consumed);
        if (_scratch.WrittenCount > 0)
        {
            await WriteToSinkAsync(_scratch.WrittenMemory, ct).ConfigureAwait(false);
        }

        if (done)
        {
            await CompleteMessageAsync(_decoder!.Defects, ct).ConfigureAwait(false);
        }

        return (after, consumed > 0 || done);
    }

    private bool Decode(ReadOnlySequence<byte> data, out SequencePosition after, out long consumed)
    {
        _scratch.ResetWrittenCount();
        var reader = new SequenceReader<byte>(data);
        var done = _decoder!.Decode(ref reader, _scratch);
        after = reader.Position;
        consumed = reader.Consumed;
        return done;
    }

    private async ValueTask BdatAsync(SmtpCommand command, CancellationToken ct)
    {
        // The chunk's octets follow whatever the answer: they are always read, so the session stays in step.
        var refusal = !_options.Chunking ? SmtpReplies.NotImplemented : MessageRefusal();
        if (refusal is null && _bdatTotal + command.ChunkSize > _options.MaxMessageSize)
        {
            refusal = SmtpReplies.MessageTooBig;
        }

        if (refusal is null && _sink is null)
        {
            _sink = await _handler.BeginMessageAsync(ct).ConfigureAwait(false);
        }

        _bdatRefusal = refusal;
        _bdatUsed |= refusal is null;
        _bdatReturnState = _state;
        _bdatRemaining = command.ChunkSize;
        _bdatLast = command.LastChunk;
        _state = SessionState.BdatChunk;
        if (_bdatRemaining == 0)
        {
            await FinishChunkAsync(ct).ConfigureAwait(false);
        }
    }

    private async ValueTask<(SequencePosition Next, bool Progressed)> BdatStepAsync(ReadOnlySequence<byte> data, CancellationToken ct)
    {
        var n = Math.Min(_bdatRemaining, data.Length);
        if (n == 0)
        {
            return (data.Start, false);
        }

        var chunk = data.Slice(0, n);
        if (_bdatRefusal is null)
        {
            // BINARYMIME content is octets, not lines; any other body must leave as CRLF lines, so bare CR and
            // LF are normalised (or refused) as in DATA, across chunk boundaries.
            var binary = _mailParameters?.Body == BodyType.BinaryMime;
            foreach (var segment in chunk)
            {
                if (binary)
                {
                    await WriteToSinkAsync(segment, ct).ConfigureAwait(false);
                }
                else
                {
                    await WriteToSinkAsync(NormaliseLineEnds(segment.Span), ct).ConfigureAwait(false);
                }
            }

            _bdatTotal += n;
        }

        _bdatRemaining -= n;
        if (_bdatRemaining == 0)
        {
            await FinishChunkAsync(ct).ConfigureAwait(false);
        }

        return (chunk.End, true);
    }

    private async ValueTask FinishChunkAsync(CancellationToken ct)
    {
        _state = _bdatReturnState;
        if (_bdatRefusal is { } refusal)
        {
            _bdatRefusal = null;
            if (refusal.Code == 552)
            {
                Send(refusal);
            }
            else
            {
                SendError(refusal);
            }

            // A failed chunk fails the transaction (RFC 3030 §2).
            if (_state == SessionState.Transaction)
            {
                ResetTransaction();
            }

            return;
        }

        if (!_bdatLast)
        {
            Send(SmtpReplies.Ok(string.Create(CultureInfo.InvariantCulture, $"{_bdatTotal} octets received")));
            return;
        }

        if (_bdatPendingCr)
        {
            // A message ending in a lone CR.
            _bdatPendingCr = false;
            _bdatDefects |= DataDefects.BareCarriageReturn;
            await WriteToSinkAsync(Crlf, ct).ConfigureAwait(false);
        }

        var defects = _bdatDefects;
        _bdatDefects = DataDefects.None;
        await CompleteMessageAsync(defects, ct).ConfigureAwait(false);
    }

    private static readonly ReadOnlyMemory<byte> Crlf = "\r\n"u8.ToArray();

    /// <summary>Copies <paramref name="input"/> with every bare CR and bare LF made CRLF (a CR at the end waits for the next chunk).</summary>
    private ReadOnlyMemory<byte> NormaliseLineEnds(ReadOnlySpan<byte> input)
    {
        var output = new byte[(input.Length * 2) + 2];
        var o = 0;
        foreach (var b in input)
        {
            if (_bdatPendingCr)
            {
                _bdatPendingCr = false;
                output[o++] = (byte)'\r';
                output[o++] = (byte)'\n';
                if (b == '\n')
                {
                    continue;
                }

                _bdatDefects |= DataDefects.BareCarriageReturn;
            }

            if (b == '\r')
            {
                _bdatPendingCr = true;
            }
            else if (b == '\n')
            {
                _bdatDefects |= DataDefects.BareLineFeed;
                output[o++] = (byte)'\r';
                output[o++] = (byte)'\n';
            }
            else
            {
                output[o++] = b;
            }
        }

        return output.AsMemory(0, o);
    }

    /// <summary>
    /// Hands decoded octets to the spool. When the spool fails, the rest of the message is still read (the
    /// session stays in step with the client) and the message is answered 451 at its end.
    /// </summary>
    private async ValueTask WriteToSinkAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (_sink is null)
        {
            return;
        }

        try
        {
            await _sink.WriteAsync(data, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _handler.OnFailure(e);
            AbortMessage();
            _sinkFailed = true;
        }
    }

    private async ValueTask CompleteMessageAsync(DataDefects defects, CancellationToken ct)
    {
        var sink = _sink;
        _sink = null;
        if (_sinkFailed || sink is null)
        {
            SendPerMessage(SmtpReplies.LocalError);
        }
        else if (defects.HasFlag(DataDefects.TooBig))
        {
            sink.Abort();
            SendPerMessage(SmtpReplies.MessageTooBig);
        }
        else if ((defects & (DataDefects.BareLineFeed | DataDefects.BareCarriageReturn)) != 0 && _options.BareLineEnds == BareLineEndHandling.Reject)
        {
            sink.Abort();
            SendPerMessage(BareLineEnd);
        }
        else
        {
            IReadOnlyList<SmtpReply> replies;
            try
            {
                replies = await _handler.EndMessageAsync(sink, defects, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _handler.OnFailure(e);
                sink.Abort();
                replies = [];
            }

            var expected = _options.Lmtp ? _recipients.Count : 1;
            for (var i = 0; i < expected; i++)
            {
                Send(i < replies.Count ? replies[i] : SmtpReplies.LocalError);
            }
        }

        _state = SessionState.Transaction;
        ResetTransaction();
    }

    /// <summary>One reply for the message in SMTP, the same reply for every accepted recipient in LMTP.</summary>
    private void SendPerMessage(SmtpReply reply)
    {
        var count = _options.Lmtp ? Math.Max(1, _recipients.Count) : 1;
        for (var i = 0; i < count; i++)
        {
            Send(reply);
        }
    }

    private void StartTls()
    {
        if (!_options.StartTlsOffered || _tls)
        {
            SendError(_tls ? SmtpReplies.BadSequence("TLS already active") : SmtpReplies.NotImplemented);
            return;
        }

        if (_state == SessionState.Transaction)
        {
            SendError(SmtpReplies.BadSequence("STARTTLS not allowed during a mail transaction"));
            return;
        }

        Send(SmtpReplies.ReadyToStartTls);
        _startTlsPending = true;
    }

    private async ValueTask AuthAsync(SmtpCommand command, CancellationToken ct)
    {
        var refusal =
            !_options.AuthOffered ? SmtpReplies.NotImplemented
            : !AuthAllowed ? EncryptionRequiredForAuth
            : _state == SessionState.Initial ? SmtpReplies.BadSequence("Send EHLO first")
            : _authenticated ? SmtpReplies.BadSequence("Already authenticated")
            : _state == SessionState.Transaction ? SmtpReplies.BadSequence("AUTH not allowed during a mail transaction")
            : null;
        if (refusal is not null)
        {
            SendError(refusal);
            return;
        }

        var initial = command.InitialResponse;
        switch (command.Mechanism)
        {
            case "PLAIN" when initial is null:
                BeginAuth(AuthStep.PlainResponse, EmptyChallenge);
                break;
            case "PLAIN":
                await FinishPlainAsync(initial, ct).ConfigureAwait(false);
                break;
            case "LOGIN" when initial is null:
                BeginAuth(AuthStep.LoginUser, UsernameChallenge);
                break;
            case "LOGIN":
                if (TryDecodeText(initial, out var user))
                {
                    _authUser = user;
                    BeginAuth(AuthStep.LoginPassword, PasswordChallenge);
                }
                else
                {
                    SendError(BadBase64);
                }

                break;
            default:
                SendError(UnknownMechanism);
                break;
        }
    }

    private void BeginAuth(AuthStep step, SmtpReply challenge)
    {
        _authStep = step;
        _state = SessionState.Auth;
        Send(challenge);
    }

    private async ValueTask AuthResponseAsync(ReadOnlySequence<byte> line, CancellationToken ct)
    {
        _state = SessionState.Ready;
        var text = Encoding.Latin1.GetString(line).Trim();
        if (text == "*")
        {
            SendError(AuthCancelled);
            return;
        }

        switch (_authStep)
        {
            case AuthStep.PlainResponse:
                await FinishPlainAsync(text, ct).ConfigureAwait(false);
                break;
            case AuthStep.LoginUser:
                if (TryDecodeText(text, out var user))
                {
                    _authUser = user;
                    BeginAuth(AuthStep.LoginPassword, PasswordChallenge);
                }
                else
                {
                    SendError(BadBase64);
                }

                break;
            case AuthStep.LoginPassword:
                if (TryDecodeText(text, out var password))
                {
                    await AuthenticateAsync("LOGIN", string.Empty, _authUser, password, ct).ConfigureAwait(false);
                }
                else
                {
                    SendError(BadBase64);
                }

                break;
        }
    }

    private async ValueTask FinishPlainAsync(string response, CancellationToken ct)
    {
        // RFC 4616: [authzid] NUL authcid NUL passwd
        if (!TryDecodeText(response, out var decoded))
        {
            SendError(BadBase64);
            return;
        }

        var parts = decoded.Split('\0');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            SendError(BadBase64);
            return;
        }

        await AuthenticateAsync("PLAIN", parts[0], parts[1], parts[2], ct).ConfigureAwait(false);
    }

    private async ValueTask AuthenticateAsync(string mechanism, string authorizationId, string user, string password, CancellationToken ct)
    {
        _authUser = string.Empty;
        var result = await _handler.AuthenticateAsync(mechanism, authorizationId, user, password, ct).ConfigureAwait(false);
        if (result.Succeeded)
        {
            _authenticated = true;
            Send(result.Reply ?? SmtpReplies.AuthSucceeded);
        }
        else
        {
            SendError(result.Reply ?? SmtpReplies.AuthFailed);
        }
    }

    /// <summary>Base64 (with "=" meaning empty, RFC 4954 §4) decoded as strict UTF-8.</summary>
    private static bool TryDecodeText(string base64, out string text)
    {
        text = string.Empty;
        if (base64 == "=")
        {
            return true;
        }

        if (base64.Length == 0 || base64.Length > 4096)
        {
            return false;
        }

        var bytes = new byte[(base64.Length / 4 * 3) + 3];
        if (!Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }

        try
        {
            text = StrictUtf8.GetString(bytes, 0, written);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private void ResetTransaction()
    {
        AbortMessage();
        _mailParameters = null;
        _recipients.Clear();
        _rcptAttempts = 0;
        _decoder = null;
        _sinkFailed = false;
        _bdatUsed = false;
        _bdatTotal = 0;
        _bdatPendingCr = false;
        _bdatDefects = DataDefects.None;
        if (_state is SessionState.Transaction or SessionState.Data or SessionState.BdatChunk)
        {
            _state = SessionState.Ready;
        }

        _handler.OnReset();
    }

    private void AbortMessage()
    {
        _sink?.Abort();
        _sink = null;
    }

    private void Send(SmtpReply reply)
    {
        Transport.Output.Write(reply.ToBytes());
        _outputPending = true;
    }

    /// <summary>Sends a refusal that counts against <see cref="SmtpSessionOptions.MaxErrors"/>.</summary>
    private void SendError(SmtpReply reply)
    {
        Send(reply);
        var delay = ErrorDelayAfter(++_errors, _options);
        if (delay > TimeSpan.Zero)
        {
            _errorDelayDue = TimeSpan.FromTicks(Math.Min((_errorDelayDue + delay).Ticks, _options.MaxErrorDelay.Ticks));
        }

        if (_errors >= _options.MaxErrors)
        {
            Close(new SmtpReply(421, new EnhancedStatusCode(4, 7, 0), $"{_options.Hostname} too many errors, closing connection"));
        }
    }

    /// <summary>
    /// The pause before the reply to the <paramref name="errors"/>th refused command: none up to the soft limit,
    /// then <see cref="SmtpSessionOptions.ErrorDelay"/> times the errors past it, at most <see cref="SmtpSessionOptions.MaxErrorDelay"/>.
    /// </summary>
    public static TimeSpan ErrorDelayAfter(int errors, SmtpSessionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var past = errors - options.SoftErrorLimit;
        if (past <= 0 || options.ErrorDelay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        return TimeSpan.FromTicks(Math.Min(options.ErrorDelay.Ticks * past, options.MaxErrorDelay.Ticks));
    }

    private void Close(SmtpReply reply)
    {
        Send(reply);
        _state = SessionState.Closed;
        AbortMessage();
    }

    private async ValueTask FlushAsync(CancellationToken ct)
    {
        if (_outputPending)
        {
            _outputPending = false;
            await Transport.Output.FlushAsync(ct).ConfigureAwait(false);
        }
    }
}
