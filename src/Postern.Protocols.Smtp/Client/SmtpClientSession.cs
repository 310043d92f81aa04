using System.Buffers;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Postern.Protocols.Smtp.Client;

/// <summary>
/// One outbound SMTP (RFC 5321) or LMTP (RFC 2033) conversation over a stream the caller has connected: greeting,
/// EHLO (HELO fallback), STARTTLS (RFC 3207), AUTH PLAIN/LOGIN (RFC 4954), transactions with PIPELINING (RFC 2920),
/// SIZE, 8BITMIME, SMTPUTF8, CHUNKING/BINARYMIME (RFC 3030), DSN (RFC 3461) and REQUIRETLS (RFC 8689), RSET for
/// reuse, QUIT, and recipient probes. Pure protocol: which host, which TLS policy, what to do with a reply are the
/// caller's decisions.
/// <para>
/// Error model: replies, whatever their code, are results. Local refusals (a message the peer cannot take as it is)
/// are results with a synthetic reply and nothing sent. Connection-level trouble — timeouts, the peer closing, socket
/// errors, malformed replies, a failed TLS handshake, STARTTLS response injection — throws
/// <see cref="SmtpConnectionException"/> naming the stage; it is always temporary and leaves the session unusable, as
/// does a 421 reply. Cancellation through the caller's token throws <see cref="OperationCanceledException"/> and also
/// leaves the session unusable. Exceptions from the caller's content stream propagate unchanged (the session is then
/// unusable: the peer has half a message).
/// </para>
/// <para>The session owns the stream (disposing it at the end, unless <c>leaveOpen</c>); it is not thread-safe: one call at a time.</para>
/// </summary>
public sealed class SmtpClientSession : IAsyncDisposable
{
    private const int ReadBlock = 64 * 1024;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    private static readonly IdnMapping Idn = new() { UseStd3AsciiRules = true };

    private readonly SmtpClientOptions _options;
    private readonly SmtpReplyLimits _limits;
    private readonly TimeProvider _time;
    private readonly bool _leaveOpen;
    private readonly Stream _transport;
    private readonly ArrayBufferWriter<byte> _output = new(1024);
    private readonly int _maxBuffer;
    private Stream _stream;
    private SslStream? _ssl;
    private byte[] _buffer = new byte[4096];
    private int _start;
    private int _end;
    private SmtpReply? _closing;
    private bool _usable = true;
    private bool _disposed;

    public SmtpClientSession(Stream transport, SmtpClientOptions? options = null, TimeProvider? timeProvider = null, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(transport);
        _options = options ?? new SmtpClientOptions();
        if (!SmtpCommandParser.IsValidHelloName(_options.LocalHostname))
        {
            throw new ArgumentException($"'{_options.LocalHostname}' is not a domain name or address literal for EHLO.", nameof(options));
        }

        _limits = new SmtpReplyLimits { MaxLineLength = _options.MaxReplyLineLength, MaxLines = _options.MaxReplyLines };
        _maxBuffer = (int)Math.Min((long)_options.MaxReplyLineLength * (_options.MaxReplyLines + 1), int.MaxValue / 2);
        _time = timeProvider ?? TimeProvider.System;
        _leaveOpen = leaveOpen;
        _transport = transport;
        _stream = transport;
    }

    /// <summary>What the peer offered in its last EHLO/LHLO (nothing after HELO, before EHLO and right after STARTTLS).</summary>
    public SmtpServerCapabilities Capabilities { get; private set; } = SmtpServerCapabilities.None;

    public SmtpReply? Greeting { get; private set; }

    /// <summary>The last EHLO/LHLO (or fallback HELO) reply.</summary>
    public SmtpReply? HelloReply { get; private set; }

    /// <summary>The peer answered EHLO/LHLO (rather than only HELO).</summary>
    public bool IsExtended { get; private set; }

    /// <summary>STARTTLS succeeded: everything since is encrypted.</summary>
    public bool IsTls => _ssl is not null;

    /// <summary>False after a connection failure, a timeout, a malformed reply, a 421, QUIT or dispose.</summary>
    public bool IsUsable => _usable && !_disposed;

    /// <summary>
    /// Sees each line sent ("C: ...") and received ("S: ..."), for tests and debugging. AUTH credentials are shown as
    /// "***" and message content as its length only.
    /// </summary>
    public Action<string>? Transcript { get; set; }

    /// <summary>Reads the 220 greeting (any reply is returned; a 421 or 554 means the caller should give up on this host).</summary>
    public async Task<SmtpReply> ReadGreetingAsync(CancellationToken cancellationToken = default)
    {
        EnsureUsable(SmtpClientStage.Greeting);
        Greeting = await ReadReplyAsync(SmtpClientStage.Greeting, _options.GreetingTimeout, cancellationToken).ConfigureAwait(false);
        return Greeting;
    }

    /// <summary>
    /// EHLO (LHLO for LMTP) with <see cref="SmtpClientOptions.LocalHostname"/>; when EHLO is refused with 500, 502,
    /// 504 or 550, HELO (SMTP only). Sets <see cref="Capabilities"/>. Returns the reply that decided.
    /// </summary>
    public async Task<SmtpReply> EhloAsync(CancellationToken cancellationToken = default)
    {
        EnsureUsable(SmtpClientStage.Ehlo);
        Capabilities = SmtpServerCapabilities.None;
        IsExtended = false;
        var reply = await CommandAsync((_options.Lmtp ? "LHLO " : "EHLO ") + _options.LocalHostname, SmtpClientStage.Ehlo, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Code == 250)
        {
            Capabilities = SmtpServerCapabilities.Parse(reply);
            IsExtended = true;
        }
        else if (!_options.Lmtp && reply.Code is 500 or 502 or 504 or 550)
        {
            reply = await CommandAsync("HELO " + _options.LocalHostname, SmtpClientStage.Ehlo, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }

        HelloReply = reply;
        return reply;
    }

    /// <summary>
    /// STARTTLS; on 220 the TLS handshake with <paramref name="tlsOptions"/> (the caller sets <c>TargetHost</c> and,
    /// for policies other than plain verification, a validation callback — the certificate, chain and
    /// <see cref="SslPolicyErrors"/> are recorded in the result whatever the callback answers), then EHLO again.
    /// A reply other than 220 is returned with <see cref="SmtpTlsResult.Established"/> false and the session still in
    /// plaintext. Bytes the peer sent after its 220, before the handshake, are never read as replies: they throw
    /// <see cref="SmtpConnectionFailure.StartTlsInjection"/>.
    /// </summary>
    public async Task<SmtpTlsResult> StartTlsAsync(SslClientAuthenticationOptions tlsOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tlsOptions);
        EnsureUsable(SmtpClientStage.StartTls);
        if (IsTls)
        {
            throw new InvalidOperationException("TLS is already active on this session.");
        }

        var reply = await CommandAsync("STARTTLS", SmtpClientStage.StartTls, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Code != 220)
        {
            return new SmtpTlsResult { Reply = reply };
        }

        if (_end > _start)
        {
            MarkUnusable();
            throw new SmtpConnectionException(SmtpClientStage.StartTls, SmtpConnectionFailure.StartTlsInjection,
                $"the peer sent {_end - _start} octets after its 220 reply to STARTTLS, before the TLS handshake (response injection)");
        }

        var seen = new CertificateRecord();
        var options = CopyWithValidation(tlsOptions, seen);
        var ssl = new SslStream(_transport, leaveInnerStreamOpen: true);
        using (var deadline = new Deadline(_options.TlsHandshakeTimeout, _time, cancellationToken))
        {
            try
            {
                await ssl.AuthenticateAsClientAsync(options, deadline.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is AuthenticationException or IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
                MarkUnusable();
                var timedOut = e is OperationCanceledException && deadline.Expired;
                throw new SmtpConnectionException(SmtpClientStage.StartTls, timedOut ? SmtpConnectionFailure.Timeout : SmtpConnectionFailure.TlsHandshakeFailed,
                    timedOut ? $"TLS handshake not done within {_options.TlsHandshakeTimeout}" : "TLS handshake failed: " + e.Message, e)
                {
                    Tls = seen.ToResult(reply, established: false, protocol: default, cipherSuite: null),
                };
            }
            catch (OperationCanceledException)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
                MarkUnusable();
                throw;
            }
        }

        _ssl = ssl;
        _stream = ssl;
        _start = _end = 0;
        Transcript?.Invoke(string.Create(CultureInfo.InvariantCulture, $"-- TLS {ssl.SslProtocol} {ssl.NegotiatedCipherSuite}"));
        if (seen.Certificate is null && ssl.RemoteCertificate is { } remote)
        {
            seen.Certificate = X509CertificateLoader.LoadCertificate(remote.GetRawCertData());
        }

        var result = seen.ToResult(reply, established: true, ssl.SslProtocol, ssl.NegotiatedCipherSuite);
        var ehlo = await EhloAsync(cancellationToken).ConfigureAwait(false);
        return result with { EhloReply = ehlo };
    }

    /// <summary>
    /// AUTH with PLAIN (initial response) when offered, else LOGIN. Credentials are sent only over TLS unless
    /// <paramref name="allowPlaintext"/>; otherwise nothing is sent and the result says why.
    /// </summary>
    public async Task<SmtpAuthResult> AuthenticateAsync(string user, string password, bool allowPlaintext = false, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(user);
        ArgumentNullException.ThrowIfNull(password);
        EnsureUsable(SmtpClientStage.Auth);
        if (!IsTls && !allowPlaintext)
        {
            return new SmtpAuthResult(false, null, null, SmtpAuthRefusal.NotEncrypted);
        }

        var mechanisms = Capabilities.AuthMechanisms;
        if (mechanisms.Count == 0)
        {
            return new SmtpAuthResult(false, null, null, SmtpAuthRefusal.NotOffered);
        }

        var stage = SmtpClientStage.Auth;
        var timeout = _options.CommandTimeout;
        if (mechanisms.Contains("PLAIN"))
        {
            var response = Base64("\0" + user + "\0" + password);
            var reply = await CommandAsync("AUTH PLAIN " + response, stage, timeout, cancellationToken, shown: "AUTH PLAIN ***").ConfigureAwait(false);
            if (reply.Code == 334)
            {
                // A server that wants the response again after an initial response: give up the exchange cleanly.
                reply = await CommandAsync("*", stage, timeout, cancellationToken).ConfigureAwait(false);
                return new SmtpAuthResult(false, "PLAIN", reply);
            }

            return new SmtpAuthResult(reply.Code == 235, "PLAIN", reply);
        }

        if (mechanisms.Contains("LOGIN"))
        {
            var reply = await CommandAsync("AUTH LOGIN", stage, timeout, cancellationToken).ConfigureAwait(false);
            if (reply.Code == 334)
            {
                reply = await CommandAsync(Base64(user), stage, timeout, cancellationToken, shown: "***").ConfigureAwait(false);
            }

            if (reply.Code == 334)
            {
                reply = await CommandAsync(Base64(password), stage, timeout, cancellationToken, shown: "***").ConfigureAwait(false);
            }

            if (reply.Code == 334)
            {
                reply = await CommandAsync("*", stage, timeout, cancellationToken).ConfigureAwait(false);
                return new SmtpAuthResult(false, "LOGIN", reply);
            }

            return new SmtpAuthResult(reply.Code == 235, "LOGIN", reply);
        }

        return new SmtpAuthResult(false, null, null, SmtpAuthRefusal.NoSupportedMechanism);
    }

    /// <summary>
    /// One mail transaction: MAIL, the RCPTs, then the content with BDAT (peer offers CHUNKING and
    /// <see cref="SmtpClientOptions.UseChunking"/>) or DATA (dot-stuffed on the fly). With PIPELINING the commands go out
    /// in one write and the replies are read in order. No content is sent when no recipient was accepted; an open
    /// transaction that did not complete is closed with RSET. See <see cref="SmtpLocalFailure"/> for what is refused
    /// before anything is sent.
    /// </summary>
    public async Task<SmtpTransactionResult> SendAsync(SmtpEnvelope envelope, SmtpMessageContent content, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(content);
        if (envelope.Recipients.Count == 0)
        {
            throw new ArgumentException("The envelope has no recipient.", nameof(envelope));
        }

        EnsureUsable(SmtpClientStage.Mail);
        var caps = Capabilities;
        var recipients = envelope.Recipients;
        var chunking = caps.Chunking && _options.UseChunking;

        // Decisions before anything goes out.
        if (!IsSendableAddress(envelope.ReversePath, allowEmpty: true, allowPostmaster: false))
        {
            return Local(recipients, SmtpLocalFailure.InvalidSender, new SmtpReply(553, S(5, 1, 7), "Sender address cannot be sent: bad syntax"));
        }

        if (envelope.RequireTls && !(IsTls && caps.RequireTls))
        {
            return Local(recipients, SmtpLocalFailure.RequireTlsUnavailable, new SmtpReply(550, S(5, 7, 30),
                IsTls ? "REQUIRETLS support required: the peer does not offer REQUIRETLS" : "REQUIRETLS support required: the connection is not encrypted"));
        }

        var needsUtf8 = envelope.RequiresSmtpUtf8 || HasNonAsciiLocalPart(envelope.ReversePath) || recipients.Any(r => HasNonAsciiLocalPart(r.Address));
        if (needsUtf8 && !caps.SmtpUtf8)
        {
            return Local(recipients, SmtpLocalFailure.SmtpUtf8Unsupported, new SmtpReply(553, S(5, 6, 7), "The message needs SMTPUTF8 and the peer does not offer it"));
        }

        var sendUtf8 = needsUtf8 || (caps.SmtpUtf8 && (!Ascii.IsValid(envelope.ReversePath) || recipients.Any(r => !Ascii.IsValid(r.Address))));
        if (caps.MaxMessageSize is { } max && content.Length > max)
        {
            return Local(recipients, SmtpLocalFailure.MessageTooBig, new SmtpReply(552, S(5, 3, 4),
                string.Create(CultureInfo.InvariantCulture, $"Message of {content.Length} octets exceeds the peer's size limit of {max}")));
        }

        if (content.Body == BodyType.BinaryMime && !(chunking && caps.BinaryMime))
        {
            return Local(recipients, SmtpLocalFailure.BinaryUnsupported, new SmtpReply(554, S(5, 6, 3), "Binary content and the peer does not offer BINARYMIME with CHUNKING: conversion required"));
        }

        if (content.Body == BodyType.EightBitMime && !caps.EightBitMime)
        {
            return Local(recipients, SmtpLocalFailure.EightBitUnsupported, new SmtpReply(554, S(5, 6, 3), "8-bit content and the peer does not offer 8BITMIME: conversion required"));
        }

        var reversePath = sendUtf8 ? envelope.ReversePath : ToAsciiDomain(envelope.ReversePath);
        if (reversePath is null)
        {
            return Local(recipients, SmtpLocalFailure.InvalidSender, new SmtpReply(553, S(5, 1, 7), "Sender domain cannot be converted to A-labels"));
        }

        var state = new Transaction(recipients);
        var lines = new string?[recipients.Count];
        for (var i = 0; i < recipients.Count; i++)
        {
            var address = IsSendableAddress(recipients[i].Address, allowEmpty: false, allowPostmaster: true)
                ? (sendUtf8 ? recipients[i].Address : ToAsciiDomain(recipients[i].Address))
                : null;
            if (address is null)
            {
                state.Local[i] = new SmtpRecipientResult(recipients[i], SmtpRecipientOutcome.Failed, null,
                    new SmtpReply(553, S(5, 1, 3), "Recipient address cannot be sent: bad syntax"))
                { RefusedLocally = true };
                continue;
            }

            lines[i] = RcptLine(address, recipients[i], caps.Dsn);
        }

        if (lines.All(l => l is null))
        {
            return new SmtpTransactionResult
            {
                LocalFailure = SmtpLocalFailure.NoValidRecipients,
                LocalReply = state.Local[0]!.Reply,
                Recipients = state.Local!,
                ConnectionUsable = IsUsable,
            };
        }

        content.Rewind();
        var mailLine = MailLine(reversePath, envelope, content, caps, sendUtf8);
        state.DsnSent = caps.Dsn;
        state.Chunking = chunking;
        try
        {
            return await TransactAsync(state, mailLine, lines, content, caps, cancellationToken).ConfigureAwait(false);
        }
        catch (SmtpConnectionException e)
        {
            e.PartialResult ??= state.Result(usable: false);
            throw;
        }
    }

    /// <summary>RSET: ends any transaction so the session can carry another one.</summary>
    public async Task<SmtpReply> ResetAsync(CancellationToken cancellationToken = default)
    {
        EnsureUsable(SmtpClientStage.Reset);
        return await CommandAsync("RSET", SmtpClientStage.Reset, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Recipient verification the way a callout does it: MAIL FROM, RCPT TO, RSET (MAIL and RCPT in one write with
    /// PIPELINING). A refused MAIL gives <see cref="SmtpProbeOutcome.Temporary"/>: the recipient was not asked.
    /// </summary>
    public async Task<SmtpProbeResult> ProbeRecipientAsync(string reversePath, string recipient, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reversePath);
        ArgumentNullException.ThrowIfNull(recipient);
        EnsureUsable(SmtpClientStage.Mail);
        var caps = Capabilities;
        var utf8 = !Ascii.IsValid(reversePath) || !Ascii.IsValid(recipient);
        var (from, to) = caps.SmtpUtf8 || !utf8 ? (reversePath, recipient) : (ToAsciiDomain(reversePath), ToAsciiDomain(recipient));
        if (from is null || !IsSendableAddress(from, allowEmpty: true, allowPostmaster: false) || to is null || !IsSendableAddress(to, allowEmpty: false, allowPostmaster: true)
            || (!caps.SmtpUtf8 && (HasNonAsciiLocalPart(from) || HasNonAsciiLocalPart(to))))
        {
            var refusal = new SmtpReply(553, S(5, 1, 3), "Address cannot be sent to this peer");
            return new SmtpProbeResult(SmtpProbeOutcome.Refused, refusal, null, null) { ConnectionUsable = IsUsable };
        }

        var mailLine = "MAIL FROM:<" + from + ">" + (utf8 && caps.SmtpUtf8 ? " SMTPUTF8" : string.Empty);
        var rcptLine = "RCPT TO:<" + to + ">";
        SmtpReply mail;
        SmtpReply? rcpt = null;
        if (caps.Pipelining && _options.UsePipelining)
        {
            Command(mailLine);
            Command(rcptLine);
            await FlushAsync(SmtpClientStage.Mail, _options.MailTimeout, cancellationToken).ConfigureAwait(false);
            mail = await ReadReplyAsync(SmtpClientStage.Mail, _options.MailTimeout, cancellationToken).ConfigureAwait(false);
            rcpt = await ReadReplyAsync(SmtpClientStage.Rcpt, _options.RcptTimeout, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            mail = await CommandAsync(mailLine, SmtpClientStage.Mail, _options.MailTimeout, cancellationToken).ConfigureAwait(false);
            if (mail.IsPositive)
            {
                rcpt = await CommandAsync(rcptLine, SmtpClientStage.Rcpt, _options.RcptTimeout, cancellationToken).ConfigureAwait(false);
            }
        }

        var usable = await CloseTransactionAsync(mail.IsPositive, cancellationToken).ConfigureAwait(false);
        if (!mail.IsPositive)
        {
            return new SmtpProbeResult(SmtpProbeOutcome.Temporary, mail, mail, rcpt) { ConnectionUsable = usable };
        }

        var outcome = rcpt!.IsPositive ? SmtpProbeOutcome.Accepted : rcpt.IsPermanentFailure ? SmtpProbeOutcome.Refused : SmtpProbeOutcome.Temporary;
        return new SmtpProbeResult(outcome, rcpt, mail, rcpt) { ConnectionUsable = usable };
    }

    /// <summary>QUIT and close. Never throws for the peer hanging up first (or having hung up already).</summary>
    public async Task QuitAsync(CancellationToken cancellationToken = default)
    {
        if (IsUsable)
        {
            try
            {
                await CommandAsync("QUIT", SmtpClientStage.Quit, _options.QuitTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (SmtpConnectionException)
            {
                // The peer closed first, or answered too slowly: the conversation is over either way.
            }
        }

        await DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Closes the connection (no QUIT).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _usable = false;
        if (_ssl is not null)
        {
            await _ssl.DisposeAsync().ConfigureAwait(false);
        }

        if (!_leaveOpen)
        {
            await _transport.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<SmtpTransactionResult> TransactAsync(Transaction state, string mailLine, string?[] lines, SmtpMessageContent content, SmtpServerCapabilities caps, CancellationToken ct)
    {
        var pipelining = caps.Pipelining && _options.UsePipelining;
        var sendable = Enumerable.Range(0, lines.Length).Where(i => lines[i] is not null).ToList();
        SmtpReply? dataReply = null;
        if (pipelining)
        {
            Command(mailLine);
            foreach (var i in sendable)
            {
                Command(lines[i]!);
            }

            if (!state.Chunking)
            {
                Command("DATA");
            }

            await FlushAsync(SmtpClientStage.Mail, _options.MailTimeout, ct).ConfigureAwait(false);
            state.Mail = await ReadReplyAsync(SmtpClientStage.Mail, _options.MailTimeout, ct).ConfigureAwait(false);
            foreach (var i in sendable)
            {
                state.Rcpt[i] = await ReadReplyAsync(SmtpClientStage.Rcpt, _options.RcptTimeout, ct).ConfigureAwait(false);
            }

            if (!state.Chunking)
            {
                dataReply = await ReadReplyAsync(SmtpClientStage.Data, _options.DataInitiationTimeout, ct).ConfigureAwait(false);
            }
        }
        else
        {
            state.Mail = await CommandAsync(mailLine, SmtpClientStage.Mail, _options.MailTimeout, ct).ConfigureAwait(false);
            if (state.Mail.IsPositive)
            {
                foreach (var i in sendable)
                {
                    state.Rcpt[i] = await CommandAsync(lines[i]!, SmtpClientStage.Rcpt, _options.RcptTimeout, ct).ConfigureAwait(false);
                }
            }
        }

        var accepted = state.Mail.IsPositive ? sendable.Where(i => state.Rcpt[i] is { IsPositive: true }).ToList() : [];
        if (accepted.Count == 0)
        {
            if (dataReply is { Code: 354 })
            {
                // A peer that opened DATA with no recipient: end it empty (RFC 2920 §3.1), the reply does not matter.
                WriteRaw(".\r\n"u8);
                await FlushAsync(SmtpClientStage.Data, _options.DataBlockTimeout, ct).ConfigureAwait(false);
                state.DataFailure = await ReadReplyAsync(SmtpClientStage.EndOfData, _options.EndOfDataTimeout, ct).ConfigureAwait(false);
                return state.Result(IsUsable);
            }

            state.DataFailure = dataReply;
            return state.Result(await CloseTransactionAsync(state.Mail.IsPositive, ct).ConfigureAwait(false));
        }

        if (!state.Chunking)
        {
            dataReply ??= await CommandAsync("DATA", SmtpClientStage.Data, _options.DataInitiationTimeout, ct).ConfigureAwait(false);
            if (dataReply.Code != 354)
            {
                state.DataFailure = dataReply;
                return state.Result(await CloseTransactionAsync(open: true, ct).ConfigureAwait(false));
            }

            await SendDataAsync(content, ct).ConfigureAwait(false);
        }
        else
        {
            var refusal = await SendChunksAsync(content, ct).ConfigureAwait(false);
            if (refusal is not null)
            {
                state.DataFailure = refusal;
                return state.Result(await CloseTransactionAsync(open: true, ct).ConfigureAwait(false));
            }
        }

        state.ContentSent = true;
        if (_options.Lmtp)
        {
            foreach (var i in accepted)
            {
                state.Final[i] = await ReadReplyAsync(SmtpClientStage.EndOfData, _options.EndOfDataTimeout, ct).ConfigureAwait(false);
                state.DataFailure = state.Final[i];
            }
        }
        else
        {
            var final = await ReadReplyAsync(SmtpClientStage.EndOfData, _options.EndOfDataTimeout, ct).ConfigureAwait(false);
            state.DataFailure = final;
            foreach (var i in accepted)
            {
                state.Final[i] = final;
            }
        }

        return state.Result(IsUsable);
    }

    private async Task SendDataAsync(SmtpMessageContent content, CancellationToken ct)
    {
        var encoder = new BodyEncoder(dotStuff: true);
        var output = new ArrayBufferWriter<byte>(ReadBlock + (ReadBlock / 2));
        var block = ArrayPool<byte>.Shared.Rent(ReadBlock);
        try
        {
            while (true)
            {
                var n = await ReadContentAsync(content, block.AsMemory(0, ReadBlock), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                encoder.Encode(block.AsSpan(0, n), output);
                if (output.WrittenCount >= ReadBlock)
                {
                    await WriteBlockAsync(output.WrittenMemory, SmtpClientStage.Data, ct).ConfigureAwait(false);
                    output.ResetWrittenCount();
                }
            }

            encoder.Finish(output);
            await WriteBlockAsync(output.WrittenMemory, SmtpClientStage.Data, ct).ConfigureAwait(false);
            Transcript?.Invoke(string.Create(CultureInfo.InvariantCulture, $"C: <message, {encoder.Written} octets with the final dot>"));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    /// <summary>BDAT chunks; returns the reply that refused an intermediate chunk (then nothing more is sent), or null.</summary>
    private async Task<SmtpReply?> SendChunksAsync(SmtpMessageContent content, CancellationToken ct)
    {
        var encoder = new BodyEncoder(dotStuff: false, binary: content.Body == BodyType.BinaryMime);
        var chunk = new ArrayBufferWriter<byte>(Math.Max(_options.ChunkSize, 1024) + ReadBlock);
        // Reads no bigger than a chunk, so that a chunk is between one and two ChunkSize (plus line-end expansion).
        var block = ArrayPool<byte>.Shared.Rent(ReadBlock);
        var readSize = Math.Clamp(_options.ChunkSize, 1024, ReadBlock);
        try
        {
            while (true)
            {
                var n = await ReadContentAsync(content, block.AsMemory(0, readSize), ct).ConfigureAwait(false);
                if (n == 0)
                {
                    encoder.Finish(chunk);
                    await SendChunkAsync(chunk, last: true, ct).ConfigureAwait(false);
                    return null;
                }

                if (chunk.WrittenCount >= _options.ChunkSize)
                {
                    await SendChunkAsync(chunk, last: false, ct).ConfigureAwait(false);
                    var reply = await ReadReplyAsync(SmtpClientStage.Data, _options.DataBlockTimeout, ct).ConfigureAwait(false);
                    if (!reply.IsPositive)
                    {
                        return reply;
                    }

                    chunk.ResetWrittenCount();
                }

                encoder.Encode(block.AsSpan(0, n), chunk);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
    }

    private async Task SendChunkAsync(ArrayBufferWriter<byte> chunk, bool last, CancellationToken ct)
    {
        var command = string.Create(CultureInfo.InvariantCulture, $"BDAT {chunk.WrittenCount}{(last ? " LAST" : string.Empty)}");
        Command(command);
        Transcript?.Invoke(string.Create(CultureInfo.InvariantCulture, $"C: <{chunk.WrittenCount} octets>"));
        using var deadline = new Deadline(_options.DataBlockTimeout, _time, ct);
        try
        {
            await _stream.WriteAsync(_output.WrittenMemory, deadline.Token).ConfigureAwait(false);
            _output.ResetWrittenCount();
            await _stream.WriteAsync(chunk.WrittenMemory, deadline.Token).ConfigureAwait(false);
            await _stream.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(e, SmtpClientStage.Data, deadline, _options.DataBlockTimeout, ct) is { } failure)
        {
            throw failure;
        }
        finally
        {
            _output.ResetWrittenCount();
        }
    }

    private async ValueTask<int> ReadContentAsync(SmtpMessageContent content, Memory<byte> block, CancellationToken ct)
    {
        try
        {
            return await content.ReadAsync(block, ct).ConfigureAwait(false);
        }
        catch
        {
            MarkUnusable();
            throw;
        }
    }

    private async Task WriteBlockAsync(ReadOnlyMemory<byte> bytes, SmtpClientStage stage, CancellationToken ct)
    {
        using var deadline = new Deadline(_options.DataBlockTimeout, _time, ct);
        try
        {
            await _stream.WriteAsync(bytes, deadline.Token).ConfigureAwait(false);
            await _stream.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(e, stage, deadline, _options.DataBlockTimeout, ct) is { } failure)
        {
            throw failure;
        }
    }

    /// <summary>RSET after a transaction that MAIL opened and that did not end; false when the session cannot go on.</summary>
    private async Task<bool> CloseTransactionAsync(bool open, CancellationToken ct)
    {
        if (!open || !IsUsable)
        {
            return IsUsable;
        }

        try
        {
            var reply = await CommandAsync("RSET", SmtpClientStage.Reset, _options.CommandTimeout, ct).ConfigureAwait(false);
            if (reply.Code != 250)
            {
                MarkUnusable();
            }
        }
        catch (SmtpConnectionException)
        {
        }

        return IsUsable;
    }

    private static string MailLine(string reversePath, SmtpEnvelope envelope, SmtpMessageContent content, SmtpServerCapabilities caps, bool smtpUtf8)
    {
        var line = new StringBuilder("MAIL FROM:<").Append(reversePath).Append('>');
        if (caps.Size && content.Length is { } length)
        {
            line.Append(CultureInfo.InvariantCulture, $" SIZE={length}");
        }

        if (content.Body == BodyType.EightBitMime)
        {
            line.Append(" BODY=8BITMIME");
        }
        else if (content.Body == BodyType.BinaryMime)
        {
            line.Append(" BODY=BINARYMIME");
        }

        if (smtpUtf8)
        {
            line.Append(" SMTPUTF8");
        }

        if (caps.Dsn)
        {
            if (envelope.Return != DsnReturn.Unspecified)
            {
                line.Append(envelope.Return == DsnReturn.Full ? " RET=FULL" : " RET=HDRS");
            }

            if (!string.IsNullOrEmpty(envelope.EnvelopeId))
            {
                line.Append(" ENVID=").Append(XText.Encode(envelope.EnvelopeId));
            }
        }

        if (envelope.RequireTls)
        {
            line.Append(" REQUIRETLS");
        }

        return line.ToString();
    }

    private static string RcptLine(string address, SmtpRecipient recipient, bool dsn)
    {
        var line = new StringBuilder("RCPT TO:<").Append(address).Append('>');
        if (dsn && recipient.Notify != DsnNotify.Unspecified)
        {
            line.Append(" NOTIFY=");
            if (recipient.Notify.HasFlag(DsnNotify.Never))
            {
                line.Append("NEVER");
            }
            else
            {
                line.AppendJoin(',', new[] { (DsnNotify.Success, "SUCCESS"), (DsnNotify.Failure, "FAILURE"), (DsnNotify.Delay, "DELAY") }
                    .Where(f => recipient.Notify.HasFlag(f.Item1)).Select(f => f.Item2));
            }
        }

        if (dsn && !string.IsNullOrEmpty(recipient.OriginalRecipient))
        {
            var type = string.IsNullOrEmpty(recipient.OriginalRecipientType) || !recipient.OriginalRecipientType.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
                ? "rfc822"
                : recipient.OriginalRecipientType;
            line.Append(" ORCPT=").Append(type).Append(';').Append(XText.Encode(recipient.OriginalRecipient));
        }

        return line.ToString();
    }

    private SmtpTransactionResult Local(IReadOnlyList<SmtpRecipient> recipients, SmtpLocalFailure failure, SmtpReply reply) => new()
    {
        LocalFailure = failure,
        LocalReply = reply,
        Recipients = recipients.Select(r => new SmtpRecipientResult(r, Transaction.OutcomeOf(reply), null, reply) { RefusedLocally = true }).ToList(),
        ConnectionUsable = IsUsable,
    };

    /// <summary>
    /// An address that cannot break the command line: no control characters, no angle brackets, no space outside a
    /// quoted local part, an '@' with something after it (or the bare postmaster for RCPT), at most 512 octets.
    /// </summary>
    internal static bool IsSendableAddress(string address, bool allowEmpty, bool allowPostmaster)
    {
        if (address.Length == 0)
        {
            return allowEmpty;
        }

        if (allowPostmaster && address.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (Encoding.UTF8.GetByteCount(address) > 512)
        {
            return false;
        }

        var quoted = false;
        for (var i = 0; i < address.Length; i++)
        {
            var c = address[i];
            if (char.IsControl(c))
            {
                return false;
            }

            if (quoted)
            {
                if (c == '\\')
                {
                    i++;
                    if (i >= address.Length || char.IsControl(address[i]))
                    {
                        return false;
                    }
                }
                else if (c == '"')
                {
                    quoted = false;
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c is ' ' or '<' or '>' or '\u00a0' || char.IsWhiteSpace(c))
            {
                return false;
            }
        }

        var at = address.LastIndexOf('@');
        return !quoted && at > 0 && at < address.Length - 1;
    }

    private static bool HasNonAsciiLocalPart(string address)
    {
        var at = address.LastIndexOf('@');
        return !Ascii.IsValid(at < 0 ? address : address.AsSpan(0, at));
    }

    /// <summary>The address with its domain in A-labels (the local part must be ASCII already); null when the domain is not a valid IDN.</summary>
    private static string? ToAsciiDomain(string address)
    {
        if (Ascii.IsValid(address))
        {
            return address;
        }

        var at = address.LastIndexOf('@');
        if (at < 0)
        {
            return null;
        }

        try
        {
            return address[..(at + 1)] + Idn.GetAscii(address[(at + 1)..]);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static string Base64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static EnhancedStatusCode S(int c, int s, int d) => new(c, s, d);

    private static SslClientAuthenticationOptions CopyWithValidation(SslClientAuthenticationOptions source, CertificateRecord seen)
    {
        var callerCallback = source.RemoteCertificateValidationCallback;
        var copy = new SslClientAuthenticationOptions
        {
            AllowRenegotiation = source.AllowRenegotiation,
            AllowTlsResume = source.AllowTlsResume,
            LocalCertificateSelectionCallback = source.LocalCertificateSelectionCallback,
            ApplicationProtocols = source.ApplicationProtocols,
            TargetHost = source.TargetHost,
            ClientCertificates = source.ClientCertificates,
            ClientCertificateContext = source.ClientCertificateContext,
            CertificateRevocationCheckMode = source.CertificateRevocationCheckMode,
            EncryptionPolicy = source.EncryptionPolicy,
            EnabledSslProtocols = source.EnabledSslProtocols,
            CertificateChainPolicy = source.CertificateChainPolicy,
            RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
            {
                seen.Capture(certificate, chain, errors);
                var accepted = callerCallback?.Invoke(sender, certificate, chain, errors) ?? errors == SslPolicyErrors.None;
                seen.Accepted = accepted;
                return accepted;
            },
        };
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            copy.CipherSuitesPolicy = source.CipherSuitesPolicy;
        }

        if (OperatingSystem.IsLinux() || OperatingSystem.IsWindows())
        {
            copy.AllowRsaPssPadding = source.AllowRsaPssPadding;
            copy.AllowRsaPkcs1Padding = source.AllowRsaPkcs1Padding;
        }

        return copy;
    }

    private void EnsureUsable(SmtpClientStage stage)
    {
        if (!IsUsable)
        {
            throw new SmtpConnectionException(stage, SmtpConnectionFailure.SessionUnusable,
                _closing is { } closing ? "the peer closed the session with " + closing.Code.ToString(CultureInfo.InvariantCulture) : "the session is no longer usable");
        }
    }

    private void MarkUnusable() => _usable = false;

    private async Task<SmtpReply> CommandAsync(string line, SmtpClientStage stage, TimeSpan timeout, CancellationToken ct, string? shown = null)
    {
        Command(line, shown);
        await FlushAsync(stage, timeout, ct).ConfigureAwait(false);
        return await ReadReplyAsync(stage, timeout, ct).ConfigureAwait(false);
    }

    private void Command(string line, string? shown = null)
    {
        Transcript?.Invoke("C: " + (shown ?? line));
        var span = _output.GetSpan(Utf8.GetMaxByteCount(line.Length) + 2);
        var n = Utf8.GetBytes(line, span);
        span[n] = (byte)'\r';
        span[n + 1] = (byte)'\n';
        _output.Advance(n + 2);
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes) => _output.Write(bytes);

    private async Task FlushAsync(SmtpClientStage stage, TimeSpan timeout, CancellationToken ct)
    {
        if (_output.WrittenCount == 0)
        {
            return;
        }

        using var deadline = new Deadline(timeout, _time, ct);
        try
        {
            await _stream.WriteAsync(_output.WrittenMemory, deadline.Token).ConfigureAwait(false);
            await _stream.FlushAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (Translate(e, stage, deadline, timeout, ct) is { } failure)
        {
            throw failure;
        }
        finally
        {
            _output.ResetWrittenCount();
        }
    }

    private async Task<SmtpReply> ReadReplyAsync(SmtpClientStage stage, TimeSpan timeout, CancellationToken ct)
    {
        if (_closing is not null)
        {
            return _closing;
        }

        Deadline? deadline = null;
        try
        {
            while (true)
            {
                var reader = new SequenceReader<byte>(new ReadOnlySequence<byte>(_buffer, _start, _end - _start));
                var status = SmtpReplyParser.TryParse(ref reader, _limits, out var reply, out var error);
                if (status == ReplyParseStatus.Reply)
                {
                    _start += (int)reader.Consumed;
                    Show(reply!);
                    if (reply!.Code == 421)
                    {
                        _closing = reply;
                        MarkUnusable();
                    }

                    return reply;
                }

                if (status == ReplyParseStatus.Malformed)
                {
                    MarkUnusable();
                    throw new SmtpConnectionException(stage, SmtpConnectionFailure.MalformedReply, error ?? "malformed reply");
                }

                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                if (_end == _buffer.Length)
                {
                    if (_buffer.Length >= _maxBuffer)
                    {
                        MarkUnusable();
                        throw new SmtpConnectionException(stage, SmtpConnectionFailure.MalformedReply, "reply larger than the limits");
                    }

                    Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, _maxBuffer));
                }

                deadline ??= new Deadline(timeout, _time, ct);
                int n;
                try
                {
                    n = await _stream.ReadAsync(_buffer.AsMemory(_end), deadline.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (Translate(e, stage, deadline, timeout, ct) is { } failure)
                {
                    throw failure;
                }

                if (n == 0)
                {
                    MarkUnusable();
                    throw new SmtpConnectionException(stage, SmtpConnectionFailure.ConnectionClosed,
                        _end > _start ? "the connection closed in the middle of a reply" : "the peer closed the connection");
                }

                _end += n;
            }
        }
        finally
        {
            deadline?.Dispose();
        }
    }

    /// <summary>Marks the session unusable and maps an I/O failure to the exception callers catch; null lets the caller's cancellation through.</summary>
    private SmtpConnectionException? Translate(Exception e, SmtpClientStage stage, Deadline deadline, TimeSpan timeout, CancellationToken ct)
    {
        MarkUnusable();
        if (ct.IsCancellationRequested)
        {
            return null;
        }

        return e switch
        {
            OperationCanceledException when deadline.Expired => new SmtpConnectionException(stage, SmtpConnectionFailure.Timeout, $"no progress within {timeout}", e),
            IOException or SocketException or ObjectDisposedException or AuthenticationException => new SmtpConnectionException(stage, SmtpConnectionFailure.NetworkError, e.Message, e),
            _ => null,
        };
    }

    private void Show(SmtpReply reply)
    {
        if (Transcript is not { } transcript)
        {
            return;
        }

        for (var i = 0; i < reply.Lines.Count; i++)
        {
            var status = reply.Status is { } s ? s + " " : string.Empty;
            transcript(string.Create(CultureInfo.InvariantCulture, $"S: {reply.Code}{(i == reply.Lines.Count - 1 ? ' ' : '-')}{status}{reply.Lines[i]}"));
        }
    }

    /// <summary>A per-step time limit linked with the caller's token.</summary>
    private sealed class Deadline : IDisposable
    {
        private readonly CancellationTokenSource _timer;
        private readonly CancellationTokenSource _linked;

        public Deadline(TimeSpan timeout, TimeProvider time, CancellationToken ct)
        {
            _timer = new CancellationTokenSource(timeout, time);
            _linked = CancellationTokenSource.CreateLinkedTokenSource(_timer.Token, ct);
        }

        public CancellationToken Token => _linked.Token;

        public bool Expired => _timer.IsCancellationRequested;

        public void Dispose()
        {
            _linked.Dispose();
            _timer.Dispose();
        }
    }

    /// <summary>What the validation callback saw, copied (the chain's own objects die with the handshake).</summary>
    private sealed class CertificateRecord
    {
        public X509Certificate2? Certificate { get; set; }

        public List<X509Certificate2> Chain { get; } = [];

        public X509ChainStatusFlags Status { get; private set; }

        public SslPolicyErrors Errors { get; private set; } = SslPolicyErrors.RemoteCertificateNotAvailable;

        public bool Accepted { get; set; }

        public void Capture(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            Errors = errors;
            Certificate = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            Chain.Clear();
            Status = X509ChainStatusFlags.NoError;
            if (chain is null)
            {
                return;
            }

            foreach (var element in chain.ChainElements)
            {
                Chain.Add(X509CertificateLoader.LoadCertificate(element.Certificate.RawData));
            }

            foreach (var status in chain.ChainStatus)
            {
                Status |= status.Status;
            }
        }

        public SmtpTlsResult ToResult(SmtpReply reply, bool established, SslProtocols protocol, TlsCipherSuite? cipherSuite) => new()
        {
            Reply = reply,
            Established = established,
            Protocol = protocol,
            CipherSuite = cipherSuite,
            RemoteCertificate = Certificate,
            Chain = [.. Chain],
            ChainStatus = Status,
            PolicyErrors = Errors,
            CertificateAccepted = Accepted,
        };
    }

    /// <summary>The replies of one transaction so far, and the result they make.</summary>
    private sealed class Transaction(IReadOnlyList<SmtpRecipient> recipients)
    {
        public SmtpRecipientResult?[] Local { get; } = new SmtpRecipientResult?[recipients.Count];

        public SmtpReply?[] Rcpt { get; } = new SmtpReply?[recipients.Count];

        public SmtpReply?[] Final { get; } = new SmtpReply?[recipients.Count];

        public SmtpReply? Mail { get; set; }

        /// <summary>DATA's refusal, a refused BDAT chunk, or the (last) final reply.</summary>
        public SmtpReply? DataFailure { get; set; }

        public bool ContentSent { get; set; }

        public bool Chunking { get; set; }

        public bool DsnSent { get; set; }

        public static SmtpRecipientOutcome OutcomeOf(SmtpReply reply) =>
            reply.IsPermanentFailure ? SmtpRecipientOutcome.Failed : SmtpRecipientOutcome.Deferred;

        public SmtpTransactionResult Result(bool usable)
        {
            var results = new SmtpRecipientResult[recipients.Count];
            for (var i = 0; i < results.Length; i++)
            {
                results[i] = Local[i] ?? Decide(recipients[i], Rcpt[i], Final[i]);
            }

            return new SmtpTransactionResult
            {
                MailReply = Mail,
                Recipients = results,
                DataReply = DataFailure,
                ContentSent = ContentSent,
                UsedChunking = Chunking && ContentSent,
                DsnParametersSent = DsnSent,
                ConnectionUsable = usable,
            };
        }

        private SmtpRecipientResult Decide(SmtpRecipient recipient, SmtpReply? rcpt, SmtpReply? final)
        {
            if (Mail is null)
            {
                return new(recipient, SmtpRecipientOutcome.Deferred, null, null);
            }

            if (!Mail.IsPositive)
            {
                return new(recipient, OutcomeOf(Mail), rcpt, Mail);
            }

            if (rcpt is null)
            {
                return new(recipient, SmtpRecipientOutcome.Deferred, null, null);
            }

            if (!rcpt.IsPositive)
            {
                return new(recipient, OutcomeOf(rcpt), rcpt, rcpt);
            }

            if (final is not null)
            {
                return new(recipient, final.IsPositive ? SmtpRecipientOutcome.Delivered : OutcomeOf(final), rcpt, final);
            }

            return DataFailure is not null && !ContentSent
                ? new(recipient, OutcomeOf(DataFailure), rcpt, DataFailure)
                : new(recipient, SmtpRecipientOutcome.Deferred, rcpt, null);
        }
    }
}
