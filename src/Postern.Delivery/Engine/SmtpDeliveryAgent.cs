using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Postern.Core.Storage.Queue;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Client;

namespace Postern.Delivery.Engine;

/// <summary>What came of one recipient in one attempt.</summary>
public enum AttemptOutcome
{
    Delivered = 0,
    Deferred = 1,
    Failed = 2,
}

/// <summary>One recipient's result of one attempt.</summary>
/// <param name="Recipient">The queued recipient.</param>
/// <param name="Outcome">Delivered, deferred (retry) or failed (bounce).</param>
/// <param name="Reply">The reply that decided it (the server's, or our own synthetic one).</param>
/// <param name="Detail">For the history and the log: which host, what it said.</param>
/// <param name="RemoteMta">The host that answered, if one did.</param>
/// <param name="FromServer">The reply came from the remote server (false: our own words).</param>
/// <param name="DsnPassedOn">The next hop took the DSN parameters (false: an RFC 3461 "relayed" DSN is due for NOTIFY=SUCCESS).</param>
public sealed record RecipientAttempt(QueuedRecipient Recipient, AttemptOutcome Outcome, SmtpReply Reply, string Detail, string? RemoteMta, bool FromServer, bool DsnPassedOn = true);

/// <summary>The results of one attempt for one claim; <see cref="Unreachable"/> when no host could be talked to at all.</summary>
public sealed record ClaimAttempt(IReadOnlyList<RecipientAttempt> Recipients, bool Unreachable, string? HostError);

/// <summary>
/// Carries out one delivery attempt of one claim over SMTP (or LMTP) along a <see cref="RoutePlan"/>: hosts in
/// order, addresses in the configured family order, the TLS policy around STARTTLS (a mandatory policy never falls
/// back to plaintext; "may" retries the same host once in plaintext after a failed handshake), AUTH for a configured
/// hop, the 8-bit downgrade when the peer lacks 8BITMIME, and idle connections kept per destination for the next
/// message. Connection-level trouble moves on to the next host until the data has been sent; after that the
/// recipients are deferred (the message may have arrived, so it is not sent to another host at once).
/// </summary>
public sealed class SmtpDeliveryAgent : IAsyncDisposable
{
    private readonly DeliveryOptions _options;
    private readonly DeliveryRouter _router;
    private readonly IDnsResolver _dns;
    private readonly MtaStsCache? _mtaSts;
    private readonly TlsPolicyResolver _tls;
    private readonly MtaStsTestingReporter? _reporter;
    private readonly TimeProvider _time;
    private readonly SmtpClientOptions _client;
    private readonly ConcurrentDictionary<string, ConcurrentStack<PooledSession>> _idle = new(StringComparer.Ordinal);
    private readonly Timer _sweeper;
    private readonly Action<string>? _loopDetected;
    private int _disposed;

    public SmtpDeliveryAgent(DeliveryOptions options, DeliveryRouter router, IDnsResolver dns, MtaStsCache? mtaSts, MtaStsTestingReporter? reporter, TimeProvider? time = null, Action<string>? loopDetected = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _router = router ?? throw new ArgumentNullException(nameof(router));
        _dns = dns ?? throw new ArgumentNullException(nameof(dns));
        _mtaSts = mtaSts;
        _reporter = reporter;
        _tls = new TlsPolicyResolver(reporter);
        _time = time ?? TimeProvider.System;
        _client = options.Client with { LocalHostname = options.Hostname };
        _loopDetected = loopDetected;
        _sweeper = new Timer(_ => SweepIdle(), null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    /// <summary>Connections opened so far (for tests and metrics).</summary>
    public long ConnectionsOpened => Interlocked.Read(ref _opened);

    private long _opened;

    /// <summary>Idle connections kept for reuse right now.</summary>
    public int IdleConnections => _idle.Values.Sum(s => s.Count);

    /// <summary>One attempt for the claim's recipients.</summary>
    internal async Task<ClaimAttempt> DeliverAsync(DeliveryClaim claim, RoutePlan plan, MessageContent content, CancellationToken cancellationToken)
    {
        var message = claim.Message;
        var poolKey = PoolKey(claim.DestinationKey, plan, message.RequireTls);
        var errors = new List<string>();

        // A connection left open by the last message to this destination comes first.
        while (TakeIdle(poolKey) is { } pooled)
        {
            var reused = await TransactAsync(pooled, claim, content, errors, cancellationToken).ConfigureAwait(false);
            if (reused is not null)
            {
                Return(poolKey, pooled);
                return reused;
            }

            await pooled.DisposeAsync().ConfigureAwait(false);
        }

        MtaStsPolicy? mtaSts = null;
        if (plan.Kind == RouteKind.Mx && _options.MtaSts && _mtaSts is not null)
        {
            mtaSts = (await _mtaSts.GetPolicyAsync(plan.Domain, cancellationToken).ConfigureAwait(false)).ApplicablePolicy;
        }

        var addressesTried = 0;
        var anyAnswered = false;
        var permanentHostReplies = 0;
        SmtpReply? lastHostReply = null;
        string? lastRemote = null;
        var tlsStatus = (EnhancedStatusCode?)null;
        foreach (var host in plan.Hosts)
        {
            var (addresses, authenticated, status, error) = await _router.ResolveAsync(host, cancellationToken).ConfigureAwait(false);
            if (addresses.Count == 0)
            {
                errors.Add($"{host.Host}: {(status == DnsStatus.Success ? "no address of the allowed family" : $"address lookup: {status}{(error is null ? string.Empty : " " + error)}")}");
                continue;
            }

            var mxAuthenticated = plan.MxAuthenticated && authenticated;
            var dane = DaneTlsaState.NotApplicable;
            if (plan.Kind == RouteKind.Mx && _options.Dane && mxAuthenticated && !host.Configured)
            {
                // The TLSA base domain of MX delivery is _25._tcp.<host> (RFC 7672 §2.2.3), also when a test moved the port.
                dane = await DaneTlsaState.LookupAsync(_dns, host.Host, mxAuthenticated, 25, cancellationToken).ConfigureAwait(false);
            }

            var decision = _tls.Resolve(new TlsPolicyInput
            {
                Domain = plan.Domain,
                MxHost = host.Host,
                AdminPolicy = plan.AdminTls,
                MtaSts = plan.Kind == RouteKind.Mx ? mtaSts : null,
                Dane = dane,
                MxAuthenticated = mxAuthenticated || host.Configured,
                RequireTls = message.RequireTls,
            });
            if (decision.Outcome != TlsPolicyOutcome.Connect || decision.Requirement is not { } requirement)
            {
                errors.Add($"{host.Host}: {decision.Reason}");
                tlsStatus ??= decision.Status;
                continue;
            }

            foreach (var address in addresses)
            {
                if (addressesTried++ >= _options.MaxAddresses)
                {
                    break;
                }

                if (_router.IsOwnEndpoint(address, host.Port))
                {
                    var loop = $"{host.Host}[{address}]:{host.Port} is this server itself: mail for {plan.Domain} would loop back to myself (check the MX, relay host or transport)";
                    errors.Add(loop);
                    _loopDetected?.Invoke(loop);
                    continue;
                }

                var plaintext = !requirement.AttemptStartTls;
                for (var round = 0; round < 2; round++)
                {
                    var outcome = await TryHostAsync(claim, plan, host, address, requirement, plaintext, content, errors, cancellationToken).ConfigureAwait(false);
                    if (outcome.Result is { } result)
                    {
                        if (outcome.Session is { } session)
                        {
                            Return(poolKey, session);
                        }

                        return result;
                    }

                    anyAnswered |= outcome.Answered;
                    if (outcome.HostReply is { } reply)
                    {
                        lastHostReply = reply;
                        lastRemote = host.Host;
                        permanentHostReplies += reply.IsPermanentFailure ? 1 : 0;
                    }

                    if (!outcome.RetryPlaintext)
                    {
                        break;
                    }

                    plaintext = true; // "may": the same host once more without STARTTLS, as Postfix does
                }
            }
        }

        // Nothing took the message: every recipient gets the same temporary (or, when every host refused for good, permanent) result.
        var detail = errors.Count == 0 ? "no host to try" : string.Join("; ", errors.TakeLast(5));
        SmtpReply final;
        bool fromServer;
        if (lastHostReply is { } r && permanentHostReplies > 0 && permanentHostReplies == errors.Count)
        {
            final = r;
            fromServer = true;
        }
        else if (tlsStatus is { } st && !anyAnswered)
        {
            final = new SmtpReply(st.Class == 5 ? 550 : 450, st, "TLS policy: " + detail);
            fromServer = false;
        }
        else
        {
            final = new SmtpReply(451, new EnhancedStatusCode(4, 4, 1), detail);
            fromServer = false;
        }

        // A TLS policy that ruled out every host before any connection (MTA-STS enforce with the MX not listed,
        // REQUIRETLS without an authenticated MX, a TLSA look-up that failed) says nothing about reachability: the
        // destination is not marked down, which would suspend its other mail (a REQUIRETLS skip is per message).
        var ruledOutByPolicy = tlsStatus is not null && addressesTried == 0;
        var outcomeKind = final.IsPermanentFailure ? AttemptOutcome.Failed : AttemptOutcome.Deferred;
        return new ClaimAttempt(
            [.. claim.Recipients.Select(rc => new RecipientAttempt(rc, outcomeKind, final, detail, fromServer ? lastRemote : null, fromServer))],
            Unreachable: !anyAnswered && !ruledOutByPolicy,
            HostError: detail);
    }

    private sealed record HostOutcome(ClaimAttempt? Result, PooledSession? Session, bool Answered, SmtpReply? HostReply, bool RetryPlaintext);

    private async Task<HostOutcome> TryHostAsync(DeliveryClaim claim, RoutePlan plan, RouteHost host, IPAddress address, TlsRequirement requirement, bool plaintext,
        MessageContent content, List<string> errors, CancellationToken cancellationToken)
    {
        var label = $"{host.Host}[{address}]:{host.Port}";
        Socket? socket = null;
        PooledSession? pooled = null;
        try
        {
            socket = await ConnectAsync(address, host.Port, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or TimeoutException or IOException)
        {
            socket?.Dispose();
            errors.Add($"{label}: connect: {Describe(e)}");
            return new HostOutcome(null, null, false, null, false);
        }

        var stream = new NetworkStream(socket, ownsSocket: true);
        var options = plan.Hop is { Lmtp: true } ? _client with { Lmtp = true } : _client;
        var session = new SmtpClientSession(stream, options, _time);
        pooled = new PooledSession(session, label, host.Host, _time.GetUtcNow());
        var answered = false;
        TlsPeerVerifier? verifier = null;
        try
        {
            var greeting = await session.ReadGreetingAsync(cancellationToken).ConfigureAwait(false);
            answered = true;
            if (!greeting.IsPositive)
            {
                errors.Add($"{label}: greeting: {One(greeting)}");
                await QuietQuitAsync(session).ConfigureAwait(false);
                await pooled.DisposeAsync().ConfigureAwait(false);
                return new HostOutcome(null, null, true, greeting, false);
            }

            var hello = await session.EhloAsync(cancellationToken).ConfigureAwait(false);
            if (!hello.IsPositive)
            {
                errors.Add($"{label}: {(options.Lmtp ? "LHLO" : "EHLO")}: {One(hello)}");
                await QuietQuitAsync(session).ConfigureAwait(false);
                await pooled.DisposeAsync().ConfigureAwait(false);
                return new HostOutcome(null, null, true, hello, false);
            }

            if (!plaintext && requirement.AttemptStartTls)
            {
                if (!session.Capabilities.StartTls)
                {
                    _reporter?.ReportAttempt(requirement, TlsAttemptResult.StartTlsNotOffered, null);
                    if (!requirement.PlaintextWhenStartTlsNotOffered)
                    {
                        errors.Add($"{label}: TLS is required ({requirement.Reason}) but the server does not offer STARTTLS");
                        await QuietQuitAsync(session).ConfigureAwait(false);
                        await pooled.DisposeAsync().ConfigureAwait(false);
                        return new HostOutcome(null, null, true, null, false);
                    }
                }
                else
                {
                    verifier = new TlsPeerVerifier(requirement, new TlsVerificationOptions { TrustRoots = _options.TrustRoots, Time = _time });
                    SmtpTlsResult tls;
                    try
                    {
                        tls = await session.StartTlsAsync(verifier.CreateClientOptions(), cancellationToken).ConfigureAwait(false);
                    }
                    catch (SmtpConnectionException e) when (e.Failure == SmtpConnectionFailure.TlsHandshakeFailed)
                    {
                        _reporter?.ReportAttempt(requirement, TlsAttemptResult.HandshakeFailed, verifier.Outcome);
                        errors.Add($"{label}: TLS handshake failed{(verifier.Outcome is { Accepted: false } o ? ": " + o.Detail : string.Empty)}");
                        await pooled.DisposeAsync().ConfigureAwait(false);
                        return new HostOutcome(null, null, true, null, requirement.PlaintextRetryAfterHandshakeFailure);
                    }

                    if (!tls.Established)
                    {
                        errors.Add($"{label}: STARTTLS refused: {One(tls.Reply)}");
                        if (!requirement.PlaintextWhenStartTlsNotOffered)
                        {
                            await QuietQuitAsync(session).ConfigureAwait(false);
                            await pooled.DisposeAsync().ConfigureAwait(false);
                            return new HostOutcome(null, null, true, null, false);
                        }

                        if (!session.IsUsable)
                        {
                            await pooled.DisposeAsync().ConfigureAwait(false);
                            return new HostOutcome(null, null, true, null, requirement.PlaintextRetryAfterHandshakeFailure);
                        }
                    }
                    else
                    {
                        _reporter?.ReportAttempt(requirement, TlsAttemptResult.Established, verifier.Outcome);
                        pooled.Tls = $"{tls.Protocol} {tls.CipherSuite}";
                    }
                }
            }

            if (plan.Hop is { User: { } user } hop)
            {
                var auth = await session.AuthenticateAsync(user, hop.Password ?? string.Empty, allowPlaintext: false, cancellationToken).ConfigureAwait(false);
                if (!auth.Succeeded)
                {
                    errors.Add($"{label}: authentication failed: {(auth.Reply is { } ar ? One(ar) : auth.LocalRefusal.ToString())}");
                    await QuietQuitAsync(session).ConfigureAwait(false);
                    await pooled.DisposeAsync().ConfigureAwait(false);
                    return new HostOutcome(null, null, true, null, false);
                }
            }

            var result = await TransactAsync(pooled, claim, content, errors, cancellationToken).ConfigureAwait(false);
            if (result is null)
            {
                await pooled.DisposeAsync().ConfigureAwait(false);
                return new HostOutcome(null, null, true, null, false);
            }

            return new HostOutcome(result, session.IsUsable ? pooled : null, true, null, false);
        }
        catch (SmtpConnectionException e)
        {
            errors.Add($"{label}: {StageName(e.Stage)}: {e.Message}");
            await pooled.DisposeAsync().ConfigureAwait(false);
            return new HostOutcome(null, null, answered, null, false);
        }
        catch
        {
            await pooled.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// One transaction on an open session. Null when the session turned out unusable before any data went out
    /// (the caller tries elsewhere); otherwise the per-recipient results.
    /// </summary>
    private async Task<ClaimAttempt?> TransactAsync(PooledSession pooled, DeliveryClaim claim, MessageContent content, List<string> errors, CancellationToken cancellationToken)
    {
        var session = pooled.Session;
        var message = claim.Message;
        if (!session.IsUsable)
        {
            return null;
        }

        var envelope = new SmtpEnvelope(message.ReversePath, [.. claim.Recipients.Select(ToSmtpRecipient)])
        {
            RequiresSmtpUtf8 = message.SmtpUtf8,
            RequireTls = message.RequireTls,
            Return = message.Return switch
            {
                Core.Storage.Queue.DsnReturn.Full => Protocols.Smtp.DsnReturn.Full,
                Core.Storage.Queue.DsnReturn.Headers => Protocols.Smtp.DsnReturn.Headers,
                _ => Protocols.Smtp.DsnReturn.Unspecified,
            },
            EnvelopeId = message.EnvelopeId,
        };
        var sevenBit = false;
        for (var round = 0; ; round++)
        {
            SmtpTransactionResult result;
            var (body, owned) = await content.OpenAsync(sevenBit, cancellationToken).ConfigureAwait(false);
            try
            {
                result = await session.SendAsync(envelope, body, cancellationToken).ConfigureAwait(false);
            }
            catch (SmtpConnectionException e)
            {
                errors.Add($"{pooled.Label}: {StageName(e.Stage)}: {e.Message}");
                if (e.Stage is SmtpClientStage.Mail or SmtpClientStage.Rcpt && e.PartialResult is not { ContentSent: true })
                {
                    return null; // nothing was sent: another host may take it
                }

                // The data may have arrived: defer (LMTP recipients that had their reply keep it).
                var partial = e.PartialResult;
                return new ClaimAttempt(
                    [.. claim.Recipients.Select((r, i) => partial?.Recipients.ElementAtOrDefault(i) is { Outcome: SmtpRecipientOutcome.Delivered, Reply: { } ok }
                        ? new RecipientAttempt(r, AttemptOutcome.Delivered, ok, $"{pooled.Label}: {One(ok)}", pooled.Host, true)
                        : new RecipientAttempt(r, AttemptOutcome.Deferred, new SmtpReply(451, new EnhancedStatusCode(4, 4, 2), $"connection lost during {StageName(e.Stage)}"),
                            $"{pooled.Label}: {StageName(e.Stage)}: {e.Message}", pooled.Host, false))],
                    false,
                    null);
            }
            finally
            {
                if (owned is not null)
                {
                    await owned.DisposeAsync().ConfigureAwait(false);
                }
            }

            pooled.Messages++;
            pooled.LastUsed = _time.GetUtcNow();
            switch (result.LocalFailure)
            {
                case SmtpLocalFailure.None:
                    return Map(claim, result, pooled);
                case SmtpLocalFailure.EightBitUnsupported or SmtpLocalFailure.BinaryUnsupported when round == 0:
                    var problem = await content.ConvertToSevenBitAsync(cancellationToken).ConfigureAwait(false);
                    if (problem is null)
                    {
                        sevenBit = true;
                        continue;
                    }

                    return All(claim, AttemptOutcome.Failed, new SmtpReply(554, new EnhancedStatusCode(5, 6, 3), $"The peer lacks 8BITMIME and the message cannot be converted: {problem}"), pooled);
                case SmtpLocalFailure.RequireTlsUnavailable:
                    errors.Add($"{pooled.Label}: {One(result.LocalReply!)}");
                    return null;
                default:
                    var reply = result.LocalReply ?? new SmtpReply(554, new EnhancedStatusCode(5, 0, 0), result.LocalFailure.ToString());
                    return All(claim, reply.IsPermanentFailure ? AttemptOutcome.Failed : AttemptOutcome.Deferred, reply, pooled);
            }
        }
    }

    private static ClaimAttempt All(DeliveryClaim claim, AttemptOutcome outcome, SmtpReply reply, PooledSession pooled) =>
        new([.. claim.Recipients.Select(r => new RecipientAttempt(r, outcome, reply, $"{pooled.Label}: {One(reply)}", pooled.Host, false))], false, null);

    private static ClaimAttempt Map(DeliveryClaim claim, SmtpTransactionResult result, PooledSession pooled)
    {
        var list = new List<RecipientAttempt>(claim.Recipients.Count);
        for (var i = 0; i < claim.Recipients.Count; i++)
        {
            var r = result.Recipients[i];
            var reply = r.Reply ?? r.RcptReply ?? result.DataReply ?? result.MailReply ?? new SmtpReply(451, new EnhancedStatusCode(4, 0, 0), "no reply");
            var outcome = r.Outcome switch
            {
                SmtpRecipientOutcome.Delivered => AttemptOutcome.Delivered,
                SmtpRecipientOutcome.Failed => AttemptOutcome.Failed,
                _ => AttemptOutcome.Deferred,
            };
            list.Add(new RecipientAttempt(claim.Recipients[i], outcome, reply, $"{pooled.Label}{(pooled.Tls is null ? string.Empty : " (" + pooled.Tls + ")")}: {One(reply)}", pooled.Host, !r.RefusedLocally, result.DsnParametersSent));
        }

        return new ClaimAttempt(list, false, null);
    }

    private static SmtpRecipient ToSmtpRecipient(QueuedRecipient r) => new(r.Address)
    {
        Notify = ToNotify(r.Notify),
        OriginalRecipient = r.OriginalRecipientParts?.Address,
        OriginalRecipientType = r.OriginalRecipientParts?.Type ?? "rfc822",
    };

    private static Protocols.Smtp.DsnNotify ToNotify(Core.Storage.Queue.DsnNotify notify)
    {
        if (notify == Core.Storage.Queue.DsnNotify.None)
        {
            return Protocols.Smtp.DsnNotify.Unspecified;
        }

        var n = Protocols.Smtp.DsnNotify.Unspecified;
        n |= notify.HasFlag(Core.Storage.Queue.DsnNotify.Never) ? Protocols.Smtp.DsnNotify.Never : 0;
        n |= notify.HasFlag(Core.Storage.Queue.DsnNotify.Success) ? Protocols.Smtp.DsnNotify.Success : 0;
        n |= notify.HasFlag(Core.Storage.Queue.DsnNotify.Failure) ? Protocols.Smtp.DsnNotify.Failure : 0;
        n |= notify.HasFlag(Core.Storage.Queue.DsnNotify.Delay) ? Protocols.Smtp.DsnNotify.Delay : 0;
        return n;
    }

    private async Task<Socket> ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            var source = address.AddressFamily == AddressFamily.InterNetworkV6 ? _options.SourceAddressV6 : _options.SourceAddressV4;
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_client.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no connection within {_client.ConnectTimeout.TotalSeconds:0} s");
            }

            Interlocked.Increment(ref _opened);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string PoolKey(string destination, RoutePlan plan, bool requireTls) =>
        $"{destination}|{plan.Kind}|{(requireTls ? "rt" : "-")}";

    private PooledSession? TakeIdle(string key)
    {
        if (!_idle.TryGetValue(key, out var stack))
        {
            return null;
        }

        while (stack.TryPop(out var s))
        {
            if (s.Session.IsUsable && _time.GetUtcNow() - s.LastUsed < _options.ConnectionIdleTime)
            {
                return s;
            }

            _ = CloseAsync(s);
        }

        return null;
    }

    private void Return(string key, PooledSession session)
    {
        if (Volatile.Read(ref _disposed) != 0 || !session.Session.IsUsable || session.Messages >= _options.MaxMessagesPerConnection || _options.ConnectionIdleTime <= TimeSpan.Zero)
        {
            _ = CloseAsync(session);
            return;
        }

        session.LastUsed = _time.GetUtcNow();
        _idle.GetOrAdd(key, _ => new ConcurrentStack<PooledSession>()).Push(session);
    }

    private void SweepIdle()
    {
        var now = _time.GetUtcNow();
        foreach (var stack in _idle.Values)
        {
            var keep = new List<PooledSession>();
            while (stack.TryPop(out var s))
            {
                if (s.Session.IsUsable && now - s.LastUsed < _options.ConnectionIdleTime)
                {
                    keep.Add(s);
                }
                else
                {
                    _ = CloseAsync(s);
                }
            }

            for (var i = keep.Count - 1; i >= 0; i--)
            {
                stack.Push(keep[i]);
            }
        }
    }

    private static async Task CloseAsync(PooledSession s)
    {
        await QuietQuitAsync(s.Session).ConfigureAwait(false);
        await s.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task QuietQuitAsync(SmtpClientSession session)
    {
        try
        {
            if (session.IsUsable)
            {
                await session.QuitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (SmtpConnectionException)
        {
            // Nothing depends on QUIT.
        }
    }

    private static string StageName(SmtpClientStage stage) => stage switch
    {
        SmtpClientStage.Greeting => "greeting",
        SmtpClientStage.Ehlo => "EHLO",
        SmtpClientStage.StartTls => "STARTTLS",
        SmtpClientStage.Auth => "AUTH",
        SmtpClientStage.Mail => "MAIL FROM",
        SmtpClientStage.Rcpt => "RCPT TO",
        SmtpClientStage.Data => "DATA",
        SmtpClientStage.EndOfData => "end of data",
        SmtpClientStage.Reset => "RSET",
        _ => "QUIT",
    };

    private static string One(SmtpReply reply) => reply.ToString().Trim().Replace("\r\n", " ", StringComparison.Ordinal);

    private static string Describe(Exception e) => e is SocketException s ? s.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.HostUnreachable => "host unreachable",
        SocketError.NetworkUnreachable => "network unreachable",
        SocketError.TimedOut => "timed out",
        _ => s.Message,
    }
        : e.Message;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _sweeper.DisposeAsync().ConfigureAwait(false);
        var closing = new List<Task>();
        foreach (var stack in _idle.Values)
        {
            while (stack.TryPop(out var s))
            {
                closing.Add(CloseAsync(s));
            }
        }

        await Task.WhenAll(closing).ConfigureAwait(false);
    }

    private sealed class PooledSession(SmtpClientSession session, string label, string host, DateTimeOffset opened) : IAsyncDisposable
    {
        public SmtpClientSession Session { get; } = session;

        public string Label { get; } = label;

        public string Host { get; } = host;

        public DateTimeOffset Opened { get; } = opened;

        public DateTimeOffset LastUsed { get; set; } = opened;

        public int Messages { get; set; }

        public string? Tls { get; set; }

        public ValueTask DisposeAsync() => Session.DisposeAsync();
    }
}
