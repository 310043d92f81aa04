using System.IO.Pipelines;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Delivery.Bounces;
using Postern.Delivery.Dsn;
using Postern.Delivery.Srs;
using Postern.Mailboxes;
using Postern.Mime.Headers;
using Postern.Networking;
using Postern.Primitives;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Session;
using Postern.Security;
using Postern.Tenants;

namespace Postern.Server.Smtp;

/// <summary>
/// The decisions of one SMTP session: who may send to whom (directory lookups at RCPT time), where the
/// body goes (streamed into the blob store while it arrives), and the reply at the end of DATA, sent only
/// after every local copy and queue entry is durable.
/// </summary>
internal sealed partial class SmtpTransaction : ISmtpSessionHandler
{
    private static readonly SmtpReply AuthTemporarilyRefused = new(454, new EnhancedStatusCode(4, 7, 0), "Too many failed logins, try again later");
    private static readonly SmtpReply RecipientServerUnreachable = new(450, new EnhancedStatusCode(4, 4, 1), "Recipient cannot be verified now: no answer from the domain's mail server, try again later");
    private static readonly SmtpReply RecipientNotVerifiable = new(450, new EnhancedStatusCode(4, 3, 0), "Recipient cannot be verified now, try again later");
    private static readonly SmtpReply TooManyHops = new(554, new EnhancedStatusCode(5, 4, 6), "Too many Received header fields: mail loop detected");

    private readonly SmtpListenerKind _kind;
    private readonly ConnectionContext _connection;
    private readonly SmtpServices _services;
    private readonly ILogger _logger;
    private readonly SmtpCheckContext _context;
    private readonly List<(EmailAddress Address, RcptParameters Parameters, RecipientRoute Route, long? SizeLimit)> _recipients = [];
    private readonly bool _greetingTest;
    private SmtpPath? _from;
    private MailParameters? _mail;
    private Account? _account;
    private BlobSink? _sink;
    private Task<string?>? _clientHostName;

    public SmtpTransaction(SmtpListenerKind kind, ConnectionContext connection, SmtpServices services, ILogger logger, bool greetingTest = false)
    {
        _kind = kind;
        _connection = connection;
        _services = services;
        _logger = logger;
        _greetingTest = greetingTest;
        _context = new SmtpCheckContext
        {
            SessionId = connection.SessionId,
            Listener = kind,
            ClientAddress = connection.RemoteEndPoint.Address,
            ClientTrusted = services.Policy.IsTrusted(connection.RemoteEndPoint.Address),
        };
        UpdateTls();

        // Started at connect, awaited only where the name is shown, so a slow resolver delays nobody earlier.
        var client = connection.RemoteEndPoint.Address;
        _clientHostName = client.Equals(System.Net.IPAddress.Loopback) || client.Equals(System.Net.IPAddress.IPv6Loopback) ? Task.FromResult<string?>("localhost")
            : services.Dns is { } dns ? LookUpClientNameAsync(dns, client, services.ReverseLookupTimeout, connection.ShutdownDeadline)
            : null;
    }

    private static async Task<string?> LookUpClientNameAsync(Dns.IDnsResolver dns, System.Net.IPAddress client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout);
            return await Dns.DnsLookups.GetVerifiedHostNameAsync(dns, client, cancellationToken: limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>The client's verified host name once known (null when unknown or still unknown after the timeout).</summary>
    private async ValueTask<string?> ClientHostNameAsync() => _clientHostName is null ? null : await _clientHostName.ConfigureAwait(false);

    private SmtpPolicy Policy => _services.Policy;

    private SmtpReply OverQuota => Policy.OverQuotaIsPermanent
        ? new SmtpReply(552, new EnhancedStatusCode(5, 2, 2), "Mailbox full")
        : new SmtpReply(452, new EnhancedStatusCode(4, 2, 2), "Mailbox full, try again later");

    public async ValueTask<SmtpReply?> OnConnectAsync(bool talkedBeforeGreeting, CancellationToken cancellationToken)
    {
        if (talkedBeforeGreeting)
        {
            LogTalkedFirst(_logger, _connection.SessionId, ClientIp);
            return null;
        }

        if (_greetingTest)
        {
            _services.GreetingPasses.RecordPass(_connection.RemoteEndPoint.Address);
        }

        if (_services.RateLimits is { } limits && !_context.ClientTrusted)
        {
            var rate = await limits.CheckConnectionAsync(_connection.RemoteEndPoint.Address, cancellationToken).ConfigureAwait(false);
            if (!rate.IsAllowed)
            {
                return RateRefusal(rate);
            }
        }

        return await RunChecksAsync<object>(static (check, context, _, ct) => check.OnConnectAsync(context, ct), null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<SmtpReply?> OnHelloAsync(string clientName, bool extended, CancellationToken cancellationToken)
    {
        _context.Helo = clientName;
        return await RunChecksAsync<object>(static (check, context, _, ct) => check.OnHelloAsync(context, ct), null, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<SmtpReply> OnMailFromAsync(SmtpPath from, MailParameters parameters, CancellationToken cancellationToken)
    {
        if (!_services.Delivery.HasRoomFor(parameters.Size ?? 0))
        {
            return SmtpReplies.InsufficientStorage;
        }

        if (_kind == SmtpListenerKind.Submission && _account is not null && !from.IsNull
            && !await OwnsAsync(ParsePath(from), cancellationToken).ConfigureAwait(false))
        {
            LogSenderNotOwned(_logger, _connection.SessionId, _context.AuthenticatedUser ?? string.Empty, from.Address);
            return NotOwned(from.Address);
        }

        if (_services.RateLimits is { } limits && !_context.ClientTrusted)
        {
            var rate = await limits.CheckMessageAsync(_connection.RemoteEndPoint.Address, _context.AuthenticatedUser, cancellationToken).ConfigureAwait(false);
            if (!rate.IsAllowed)
            {
                return RateRefusal(rate);
            }
        }

        _context.ResetTransaction();
        _context.ReversePath = from.Address;
        var refusal = await RunChecksAsync<object>(static (check, context, _, ct) => check.OnMailFromAsync(context, ct), null, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            _context.ReversePath = null;
            return refusal;
        }

        _from = from;
        _mail = parameters;
        _recipients.Clear();
        return SmtpReplies.SenderOk;
    }

    public async ValueTask<SmtpReply> OnRcptToAsync(SmtpPath to, RcptParameters parameters, CancellationToken cancellationToken)
    {
        EmailAddress address;
        ResolvedRecipient resolved;
        if (to.IsPostmaster)
        {
            resolved = _services.Resolver.ResolveBarePostmaster();
            address = resolved.Address;
        }
        else
        {
            if (to.IsAddressLiteral || ParsePath(to) is not { } parsed)
            {
                return new SmtpReply(553, new EnhancedStatusCode(5, 1, 3), "Address not accepted here");
            }

            address = parsed;
            resolved = await _services.Resolver.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        }

        if (_services.RateLimits is { } limits && !_context.ClientTrusted)
        {
            var rate = await limits.CheckRecipientAsync(_connection.RemoteEndPoint.Address, _context.AuthenticatedUser, _recipients.Count + 1, cancellationToken).ConfigureAwait(false);
            if (!rate.IsAllowed)
            {
                return RateRefusal(rate);
            }
        }

        var route = RecipientRoute.Local;
        if (_services.Srs is { } srs && resolved.Kind == RecipientKind.Unknown && resolved.Domain is null
            && address.Domain.Ascii.Equals(srs.Domain, StringComparison.OrdinalIgnoreCase) && SrsRewriter.IsSrsLocalPart(address.LocalPart))
        {
            // A bounce to an address our SRS made for a forward: it goes back to the original sender.
            var reversed = srs.Reverse(address.ToString());
            if (!reversed.IsValid || reversed.Address is null || !EmailAddress.TryParse(reversed.Address, out var original, out _))
            {
                return new SmtpReply(550, new EnhancedStatusCode(5, 1, 1), $"Invalid SRS address: {reversed.Reason ?? "unreadable"}");
            }

            address = original!;
            resolved = await _services.Resolver.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
            route = resolved.IsLocalDomain ? RecipientRoute.Local : RecipientRoute.Remote;
            if (route == RecipientRoute.Remote)
            {
                return await AcceptRecipientAsync(address, parameters, route, cancellationToken).ConfigureAwait(false);
            }
        }

        switch (resolved.Kind)
        {
            case RecipientKind.Unknown when resolved.Domain is null:
                // Not ours: only an authenticated submission client may send there. Never an open relay.
                if (_kind != SmtpListenerKind.Submission || _account is null)
                {
                    return SmtpReplies.RelayDenied;
                }

                route = RecipientRoute.Remote;
                break;
            case RecipientKind.Unknown:
                return SmtpReplies.NoSuchUser;
        }

        var sizeLimit = resolved.Domain is { } domain ? DomainSizeLimit(domain) : null;
        if (sizeLimit is { } limit && _mail?.Size > limit)
        {
            return TooBigFor(address);
        }

        switch (resolved.Kind)
        {
            case RecipientKind.Account or RecipientKind.Alias or RecipientKind.CatchAll:
                var account = await _services.Resolver.GetAccountAsync(resolved.AccountId!.Value, cancellationToken).ConfigureAwait(false);
                if (account is null)
                {
                    return SmtpReplies.NoSuchUser;
                }

                if (account.Disabled)
                {
                    return SmtpReplies.Disabled;
                }

                if (account.HasQuota)
                {
                    var usage = await _services.Mailboxes.GetAccountUsageAsync(account.Id, cancellationToken).ConfigureAwait(false);
                    if (usage.StorageBytes + (_mail?.Size ?? 0) > account.QuotaBytes)
                    {
                        return OverQuota;
                    }
                }

                break;
            case RecipientKind.RelayRecipient when resolved.Domain is { } relay:
                if (await CheckRelayRecipientAsync(relay, address, cancellationToken).ConfigureAwait(false) is { } refusal)
                {
                    return refusal;
                }

                break;
        }

        return await AcceptRecipientAsync(address, parameters, route, cancellationToken, sizeLimit).ConfigureAwait(false);
    }

    /// <summary>
    /// A relay domain's address that Postern does not list: per the domain's setting accepted as it is, refused
    /// (the list is complete), or checked with the customer's own server. <c>postmaster@</c> is always accepted
    /// (RFC 5321 §4.5.1). Returns null to accept, else the refusal. An unreachable server means "try later", never 550.
    /// </summary>
    private async ValueTask<SmtpReply?> CheckRelayRecipientAsync(MailDomain domain, EmailAddress address, CancellationToken cancellationToken)
    {
        if (address.LocalPartKey == "postmaster")
        {
            return null;
        }

        switch (DeliverySettings.Read(domain.SettingsJson).RecipientVerification)
        {
            case RecipientVerificationMode.Listed:
                return SmtpReplies.NoSuchUser;
            case RecipientVerificationMode.Probe when _services.RecipientVerifier is { } verifier:
                var result = await verifier.VerifyAsync(domain, address, cancellationToken).ConfigureAwait(false);
                switch (result.Check)
                {
                    case RecipientCheck.Exists:
                        return null;
                    case RecipientCheck.DoesNotExist:
                        LogRecipientRefusedByServer(_logger, _connection.SessionId, address.ToString(), result.Detail, result.FromCache);
                        return SmtpReplies.NoSuchUser;
                    default:
                        LogRecipientUnverified(_logger, _connection.SessionId, address.ToString(), result.Detail);
                        return result.Unreachable ? RecipientServerUnreachable : RecipientNotVerifiable;
                }

            default:
                return null;
        }
    }

    private async ValueTask<SmtpReply> AcceptRecipientAsync(EmailAddress address, RcptParameters parameters, RecipientRoute route, CancellationToken cancellationToken, long? sizeLimit = null)
    {
        var recipient = new SmtpCheckRecipient(address, route);
        var refusal = await RunChecksAsync(static (check, context, r, ct) => check.OnRecipientAsync(context, r!, ct), recipient, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        _context.RecipientList.Add(recipient);
        _recipients.Add((address, parameters, route, sizeLimit));
        return SmtpReplies.RecipientOk;
    }

    private Task<string> EnqueueAsync(string sender, List<NewQueueRecipient> recipients, BlobInfo blob, DeliveryEnvelope envelope, CancellationToken cancellationToken) =>
        _services.Queue.EnqueueAsync(new NewQueuedMessage(sender, recipients, blob.Id, blob.Length,
            _mail?.EnvelopeId, ToQueueReturn(_mail?.Return ?? Protocols.Smtp.DsnReturn.Unspecified), _mail?.RequireTls ?? false, _mail?.SmtpUtf8 ?? false)
        {
            PreferredQueueId = envelope.QueueId,
            // Our Received goes with the message, as RFC 5321 §4.4 asks of every relay.
            Trace = _services.Delivery.QueueTrace(envelope, [.. recipients.Select(r => EmailAddress.Parse(r.Address))]),
        }, cancellationToken);

    /// <summary>A domain's own message size limit (domain settings, <c>postern domain set --max-message-size</c>).</summary>
    private static long? DomainSizeLimit(MailDomain domain) =>
        domain.SettingsJson.Contains(DomainSettings.MaxMessageSize, StringComparison.Ordinal) ? DomainSettings.ReadMaxMessageSize(domain.SettingsJson) : null;

    private static SmtpReply TooBigFor(EmailAddress address) =>
        new(552, new EnhancedStatusCode(5, 3, 4), $"Message too big for <{address}>");

    private static SmtpReply RateRefusal(RateLimitResult rate)
    {
        EnhancedStatusCode.TryParse(rate.EnhancedCode, out var code);
        var minutes = Math.Max(1, (int)Math.Ceiling(rate.RetryAfter.TotalMinutes));
        return new SmtpReply(rate.SmtpCode, code, $"Rate limit reached ({rate.Limit}), try again in {minutes} minute(s)");
    }

    public ValueTask<IMessageSink> BeginMessageAsync(CancellationToken cancellationToken)
    {
        _sink = new BlobSink(_services.Blobs, cancellationToken);
        return ValueTask.FromResult<IMessageSink>(_sink);
    }

    public async ValueTask<IReadOnlyList<SmtpReply>> EndMessageAsync(IMessageSink sink, DataDefects defects, CancellationToken cancellationToken)
    {
        var blobSink = (BlobSink)sink;
        _sink = null;
        BlobInfo blob;
        try
        {
            blob = await blobSink.CompleteAsync().ConfigureAwait(false);
        }
        catch (StoreFullException)
        {
            return Repeat(SmtpReplies.InsufficientStorage);
        }

        var header = blobSink.Header;
        if (header.ReceivedCount > Policy.MaxReceivedHeaders)
        {
            LogLoop(_logger, _connection.SessionId, header.ReceivedCount, _from?.Address ?? string.Empty);
            return Repeat(TooManyHops);
        }

        if (_kind == SmtpListenerKind.Submission && _account is not null && header.From is { } fromField
            && await FirstUnownedFromAsync(fromField, cancellationToken).ConfigureAwait(false) is { } stranger)
        {
            LogSenderNotOwned(_logger, _connection.SessionId, _context.AuthenticatedUser ?? string.Empty, stranger);
            return Repeat(NotOwned(stranger));
        }

        if (_services.RateLimits is { } limits && !_context.ClientTrusted)
        {
            var rate = await limits.CheckBytesAsync(_connection.RemoteEndPoint.Address, _context.AuthenticatedUser, blob.Length, cancellationToken).ConfigureAwait(false);
            if (!rate.IsAllowed)
            {
                return Repeat(RateRefusal(rate));
            }
        }

        var message = new SmtpCheckMessage(blob, _services.Blobs, header);
        var refusal = await RunChecksAsync(static (check, context, m, ct) => check.OnMessageAsync(context, m!, ct), message, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            LogRefusedByCheck(_logger, _connection.SessionId, refusal.ToString().Trim());
            return Repeat(refusal);
        }

        return await RouteAsync(blob, header, defects, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The routing step after acceptance: local recipients go into mailboxes (and what their expansion reaches
    /// elsewhere, into the queue); remote recipients of authenticated clients go into the queue.
    /// </summary>
    private async Task<IReadOnlyList<SmtpReply>> RouteAsync(BlobInfo blob, HeaderScanner header, DataDefects defects, CancellationToken cancellationToken)
    {
        var queueId = NewQueueId();
        var tls = TlsDescription();
        var envelope = new DeliveryEnvelope(_from?.Address ?? string.Empty, Protocol(), _context.Helo, _connection.RemoteEndPoint.Address,
            await ClientHostNameAsync().ConfigureAwait(false), queueId)
        {
            Tls = tls,
            AuthenticatedUser = Policy.ReceivedShowsAuthenticatedUser ? _context.AuthenticatedUser : null,
            AddedHeaders = _context.AddedHeaders,
        };
        var replies = new List<SmtpReply>(_recipients.Count);
        var remote = new List<NewQueueRecipient>();
        var forwarded = new List<NewQueueRecipient>();
        var log = new List<MessageLogRecord>();
        var detail = DetailJson(tls, defects);
        foreach (var (address, parameters, route, sizeLimit) in _recipients)
        {
            SmtpReply reply;
            if (sizeLimit is { } limit && blob.Length > limit)
            {
                reply = TooBigFor(address);
            }
            else if (route == RecipientRoute.Remote)
            {
                remote.Add(new NewQueueRecipient(address.ToString(), address.Domain.Ascii, ToQueueNotify(parameters.Notify), parameters.OriginalRecipientField));
                reply = SmtpReplies.Queued(queueId);
            }
            else
            {
                var result = await _services.Delivery.DeliverAsync(blob, envelope, address, cancellationToken).ConfigureAwait(false);
                var notify = ToQueueNotify(parameters.Notify);

                // Forwards and external list members leave with an SRS sender, so SPF keeps passing downstream;
                // relay-domain recipients go to the customer's server with the sender unchanged.
                (_services.Srs is null ? remote : forwarded).AddRange(result.Remote.Select(a => new NewQueueRecipient(a.ToString(), a.Domain.Ascii, notify, parameters.OriginalRecipientField)));
                remote.AddRange(result.Relay.Select(a => new NewQueueRecipient(a.ToString(), LocalRecipientResult.RelayDestination(a.Domain), notify, parameters.OriginalRecipientField)));
                reply = result.Status switch
                {
                    LocalDeliveryStatus.Delivered => SmtpReplies.Queued(queueId),
                    LocalDeliveryStatus.StorageFull => SmtpReplies.InsufficientStorage,
                    LocalDeliveryStatus.OverQuota => OverQuota,
                    LocalDeliveryStatus.AccountDisabled => SmtpReplies.Disabled,
                    _ => SmtpReplies.NoSuchUser,
                };
            }

            replies.Add(reply);
            log.Add(new MessageLogRecord(_services.Time.GetUtcNow(), queueId, header.MessageId, ClientIp, _context.Helo, _from?.Address, address.ToString(),
                blob.Length, "unchecked", reply.IsPositive ? "accepted" : "refused", DetailJson: detail, DeliveryOutcome: reply.ToString().Trim()));
        }

        var sender = _from?.Address ?? string.Empty;
        if (remote.Count > 0)
        {
            await EnqueueAsync(sender, remote, blob, envelope, cancellationToken).ConfigureAwait(false);
        }

        if (forwarded.Count > 0)
        {
            await EnqueueAsync(_services.Srs!.Forward(sender).Address, forwarded, blob, envelope, cancellationToken).ConfigureAwait(false);
        }

        // The message log is written in batches by its writer, after these replies go out.
        foreach (var record in log)
        {
            _services.MessageLog.Enqueue(record);
        }

        LogAccepted(_logger, _connection.SessionId, queueId, blob.Length, replies.Count(r => r.IsPositive), replies.Count);
        if (_kind == SmtpListenerKind.Lmtp)
        {
            return replies;
        }

        // SMTP has one reply for the whole message: accepted if any recipient took it. The sender still hears of
        // the recipients that failed at this point, from a delivery status notification we now owe it.
        var accepted = replies.FirstOrDefault(r => r.IsPositive);
        if (accepted is not null && replies.Any(r => !r.IsPositive))
        {
            await BounceRefusedAsync(queueId, blob, replies, cancellationToken).ConfigureAwait(false);
        }

        return [accepted ?? replies.FirstOrDefault() ?? SmtpReplies.LocalError];
    }

    /// <summary>
    /// Queues an RFC 3464 DSN to the envelope sender for the recipients refused after the message was accepted for
    /// others (a mailbox full at the end of DATA, a domain size limit). Never for the null sender, never for
    /// NOTIFY=NEVER; temporary refusals are reported as failures too, since nobody will retry them.
    /// </summary>
    private async Task BounceRefusedAsync(string queueId, BlobInfo blob, List<SmtpReply> replies, CancellationToken cancellationToken)
    {
        var sender = _from?.Address ?? string.Empty;
        var failed = new List<DsnRecipient>();
        for (var i = 0; i < replies.Count; i++)
        {
            var (address, parameters, _, _) = _recipients[i];
            if (replies[i].IsPositive || parameters.Notify.HasFlag(Protocols.Smtp.DsnNotify.Never)
                || (parameters.Notify != Protocols.Smtp.DsnNotify.Unspecified && !parameters.Notify.HasFlag(Protocols.Smtp.DsnNotify.Failure)))
            {
                continue;
            }

            var reply = replies[i];
            failed.Add(new DsnRecipient
            {
                FinalRecipient = address.ToString(),
                OriginalRecipient = parameters.OriginalRecipient,
                OriginalRecipientType = parameters.OriginalRecipientType ?? "rfc822",
                Action = DsnAction.Failed,
                Status = reply.Status is { } st && st.Class == 4 ? new EnhancedStatusCode(5, st.Subject, st.Detail) : reply.Status,
                Diagnostic = reply.ToString().Trim(),
                LastAttemptDate = _services.Time.GetUtcNow(),
            });
        }

        if (sender.Length == 0 || failed.Count == 0)
        {
            return;
        }

        // The original is not in the queue: it is described to the DSN builder as if it were, under its SMTP id.
        var original = new QueuedMessage(queueId, sender, blob.Id, blob.Length, _mail?.EnvelopeId,
            ToQueueReturn(_mail?.Return ?? Protocols.Smtp.DsnReturn.Unspecified), _mail?.RequireTls ?? false, _mail?.SmtpUtf8 ?? false, _services.Time.GetUtcNow(), []);
        await new BounceSender(_services.Queue, _services.Blobs, new BounceOptions { ReportingMta = Policy.Hostname })
            .SendAsync(original, failed, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<SaslResult> AuthenticateAsync(string mechanism, string authorizationId, string user, string password, CancellationToken cancellationToken)
    {
        var client = _connection.RemoteEndPoint.Address;
        var guard = _services.AuthGuard;
        if (guard is not null)
        {
            var check = await guard.CheckAsync(client, user, cancellationToken).ConfigureAwait(false);
            if (!check.IsAllowed)
            {
                LogAuthBlocked(_logger, _connection.SessionId, ClientIp, user, check.Block.ToString());
                return new SaslResult(false, AuthTemporarilyRefused);
            }
        }

        var result = await _services.Authenticator.AuthenticateUserAsync(user, password, cancellationToken).ConfigureAwait(false);
        var actingFor = authorizationId.Length > 0 && !authorizationId.Equals(user, StringComparison.OrdinalIgnoreCase);
        Account? authorized = result.Account;
        if (actingFor && result.Succeeded)
        {
            // Only a master user may act for someone else, and only for an enabled account.
            authorized = Policy.MasterUsers.Contains(user) ? await _services.Authenticator.FindUserAsync(authorizationId, cancellationToken).ConfigureAwait(false) : null;
        }

        if (!result.Succeeded || authorized is null)
        {
            // The same reply, after the same delay, for an unknown user, a wrong password and a refused authorization identity.
            LogAuthFailed(_logger, _connection.SessionId, ClientIp, mechanism, user);
            if (guard is not null)
            {
                var failure = await guard.RecordFailureAsync(client, user, password, cancellationToken).ConfigureAwait(false);
                if (failure.Delay > TimeSpan.Zero)
                {
                    await Task.Delay(failure.Delay, _services.Time, cancellationToken).ConfigureAwait(false);
                }
            }

            return SaslResult.Failure;
        }

        if (guard is not null)
        {
            await guard.RecordSuccessAsync(client, user, cancellationToken).ConfigureAwait(false);
        }

        if (actingFor)
        {
            LogMasterLogin(_logger, _connection.SessionId, ClientIp, user, authorizationId);
        }

        _account = authorized;
        _context.AuthenticatedUser = actingFor ? authorizationId : user;
        return SaslResult.Success;
    }

    public async ValueTask<IDuplexPipe?> StartTlsAsync(IDuplexPipe plaintext, CancellationToken cancellationToken)
    {
        var result = await _connection.UpgradeToTlsAsync(cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            return null;
        }

        // A new session state after STARTTLS (RFC 3207 §4.2): nothing learnt before it counts.
        _account = null;
        _context.AuthenticatedUser = null;
        _context.Helo = null;
        UpdateTls();
        return _connection.Transport;
    }

    public void OnReset()
    {
        _from = null;
        _mail = null;
        _recipients.Clear();
        _context.ResetTransaction();
        AbortPending();
    }

    public void OnFailure(Exception exception) => LogHandlerFailed(_logger, exception, _connection.SessionId);

    public void AbortPending()
    {
        _sink?.Abort();
        _sink = null;
    }

    private string ClientIp => (_connection.RemoteEndPoint.Address.IsIPv4MappedToIPv6 ? _connection.RemoteEndPoint.Address.MapToIPv4() : _connection.RemoteEndPoint.Address).ToString();

    private void UpdateTls()
    {
        _context.IsTls = _connection.IsTls;
        _context.TlsProtocol = _connection.TlsProtocol;
        _context.CipherSuite = _connection.CipherSuite;
    }

    /// <summary>"TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", as the Received line and the message log show it.</summary>
    private string? TlsDescription()
    {
        if (!_connection.IsTls)
        {
            return null;
        }

        var version = _connection.TlsProtocol switch
        {
            SslProtocols.Tls13 => "TLSv1.3",
            SslProtocols.Tls12 => "TLSv1.2",
            var other => other.ToString(),
        };
        return _connection.CipherSuite is { } cipher ? $"{version} with cipher {cipher}" : version;
    }

    private string DetailJson(string? tls, DataDefects defects)
    {
        var detail = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["listener"] = _kind.ToString().ToLowerInvariant(),
            ["session"] = _connection.SessionId,
        };
        if (tls is not null)
        {
            detail["tls"] = tls;
        }

        if (_context.AuthenticatedUser is not null)
        {
            detail["auth"] = _context.AuthenticatedUser;
        }

        if (defects != DataDefects.None)
        {
            detail["defects"] = defects.ToString();
        }

        return JsonSerializer.Serialize(detail);
    }

    /// <summary>The RFC 3848 "with" keyword for the Received line.</summary>
    private string Protocol()
    {
        if (_kind == SmtpListenerKind.Lmtp)
        {
            return "LMTP";
        }

        // RFC 3848, and RFC 6531 §3.7.3 for SMTPUTF8 transactions: UTF8SMTP[S][A].
        var protocol = (_mail?.SmtpUtf8 ?? false ? "UTF8SMTP" : "ESMTP") + (_connection.IsTls ? "S" : string.Empty);
        return _account is null ? protocol : protocol + "A";
    }

    private IReadOnlyList<SmtpReply> Repeat(SmtpReply reply) =>
        _kind == SmtpListenerKind.Lmtp ? _recipients.Select(_ => reply).ToList() : [reply];

    private async ValueTask<SmtpReply?> RunChecksAsync<T>(Func<ISmtpCheck, SmtpCheckContext, T?, CancellationToken, ValueTask<SmtpReply?>> stage, T? argument, CancellationToken cancellationToken)
    {
        foreach (var check in _services.Checks)
        {
            var reply = await stage(check, _context, argument, cancellationToken).ConfigureAwait(false);
            if (reply is { IsPositive: false })
            {
                return reply;
            }
        }

        return null;
    }

    private static SmtpReply NotOwned(string address) =>
        new(553, new EnhancedStatusCode(5, 7, 1), $"<{address}>: Sender address not owned by the authenticated user");

    /// <summary>
    /// Whether the authenticated account may send as <paramref name="address"/>: its own address, one of
    /// its aliases or a send-as grant (a catch-all does not make every address of the domain its own).
    /// </summary>
    private async ValueTask<bool> OwnsAsync(EmailAddress? address, CancellationToken cancellationToken)
    {
        if (address is null || _account is null)
        {
            return false;
        }

        if (AccountSettings.Grants(AccountSettings.ReadSendAs(_account.SettingsJson), address.ToAsciiDomainString()))
        {
            return true;
        }

        var resolved = await _services.Resolver.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        return resolved.Kind is RecipientKind.Account or RecipientKind.Alias && resolved.AccountId == _account.Id;
    }

    /// <summary>The first address in the From field the account does not own, or null when it owns them all.</summary>
    private async ValueTask<string?> FirstUnownedFromAsync(byte[] fromField, CancellationToken cancellationToken)
    {
        var list = AddressParser.Parse(fromField);
        var any = false;
        foreach (var mailbox in list.SelectMany(a => a switch
        {
            MailboxAddress m => [m],
            GroupAddress g => g.Members,
            _ => [],
        }))
        {
            any = true;
            var text = mailbox.Address ?? string.Empty;
            if (!await OwnsAsync(EmailAddress.TryParse(text, out var parsed, out _) ? parsed : null, cancellationToken).ConfigureAwait(false))
            {
                return text;
            }
        }

        // A From field with no readable address cannot be checked: refuse it rather than pass a forgery.
        return any ? null : Encoding.UTF8.GetString(fromField).Trim();
    }

    private static EmailAddress? ParsePath(SmtpPath path) =>
        EmailAddress.TryParse(Unquote(path.LocalPart) + "@" + path.Domain, out var parsed, out _) ? parsed : null;

    private static string Unquote(string localPart) =>
        localPart.Length >= 2 && localPart[0] == '"' && localPart[^1] == '"' ? localPart[1..^1].Replace("\\", string.Empty, StringComparison.Ordinal) : localPart;

    /// <summary>12 characters of Crockford base32: the id shown in "250 ... queued as".</summary>
    private static string NewQueueId()
    {
        const string alphabet = "0123456789BCDFGHJKLMNPQRSTVWXYZ";
        return RandomNumberGenerator.GetString(alphabet, 12);
    }

    private static Core.Storage.Queue.DsnNotify ToQueueNotify(Protocols.Smtp.DsnNotify notify)
    {
        var result = Core.Storage.Queue.DsnNotify.None;
        if (notify.HasFlag(Protocols.Smtp.DsnNotify.Never))
        {
            result |= Core.Storage.Queue.DsnNotify.Never;
        }

        if (notify.HasFlag(Protocols.Smtp.DsnNotify.Success))
        {
            result |= Core.Storage.Queue.DsnNotify.Success;
        }

        if (notify.HasFlag(Protocols.Smtp.DsnNotify.Failure))
        {
            result |= Core.Storage.Queue.DsnNotify.Failure;
        }

        if (notify.HasFlag(Protocols.Smtp.DsnNotify.Delay))
        {
            result |= Core.Storage.Queue.DsnNotify.Delay;
        }

        return result;
    }

    private static Core.Storage.Queue.DsnReturn ToQueueReturn(Protocols.Smtp.DsnReturn value) => value switch
    {
        Protocols.Smtp.DsnReturn.Full => Core.Storage.Queue.DsnReturn.Full,
        Protocols.Smtp.DsnReturn.Headers => Core.Storage.Queue.DsnReturn.Headers,
        _ => Core.Storage.Queue.DsnReturn.Unspecified,
    };

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information, Message = "Session {SessionId}: message {QueueId} ({Size} bytes) accepted for {Accepted} of {Recipients} recipients")]
    private static partial void LogAccepted(ILogger logger, string sessionId, string queueId, long size, int accepted, int recipients);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Session {SessionId}: authentication failed from {ClientIp} (mechanism {Mechanism}, user {User})")]
    private static partial void LogAuthFailed(ILogger logger, string sessionId, string clientIp, string mechanism, string user);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Warning, Message = "Session {SessionId}: login refused without checking from {ClientIp} (user {User}): {Block}")]
    private static partial void LogAuthBlocked(ILogger logger, string sessionId, string clientIp, string user, string block);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Error, Message = "Session {SessionId}: the server failed while handling a command; the client was answered 451 4.3.0")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, string sessionId);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Information, Message = "Session {SessionId}: client {ClientIp} talked before the greeting; refused")]
    private static partial void LogTalkedFirst(ILogger logger, string sessionId, string clientIp);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Warning, Message = "Session {SessionId}: {User} tried to send as {Sender}; refused")]
    private static partial void LogSenderNotOwned(ILogger logger, string sessionId, string user, string sender);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Warning, Message = "Session {SessionId}: message from <{Sender}> has {Count} Received fields: mail loop, refused")]
    private static partial void LogLoop(ILogger logger, string sessionId, int count, string sender);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Information, Message = "Session {SessionId}: message refused by a check: {Reply}")]
    private static partial void LogRefusedByCheck(ILogger logger, string sessionId, string reply);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "Session {SessionId}: <{Recipient}> refused: the domain's own server does not know it ({Detail}; cached: {FromCache})")]
    private static partial void LogRecipientRefusedByServer(ILogger logger, string sessionId, string recipient, string detail, bool fromCache);

    [LoggerMessage(EventId = 4012, Level = LogLevel.Warning, Message = "Session {SessionId}: <{Recipient}> answered 450: it could not be verified ({Detail})")]
    private static partial void LogRecipientUnverified(ILogger logger, string sessionId, string recipient, string detail);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "Session {SessionId}: client {ClientIp}: master user {Master} signed in as {User}")]
    private static partial void LogMasterLogin(ILogger logger, string sessionId, string clientIp, string master, string user);

    /// <summary>Streams the message into the blob store while it arrives (the blob write reads from a pipe).</summary>
    private sealed class BlobSink : IMessageSink
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
        private readonly Task<BlobInfo> _write;

        public HeaderScanner Header { get; } = new();

        public BlobSink(IBlobStore blobs, CancellationToken cancellationToken)
        {
            var reader = _pipe.Reader.AsStream();
            _write = Task.Run(() => blobs.WriteAsync(reader, cancellationToken), cancellationToken);
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            if (!Header.Done)
            {
                Header.Feed(data.Span);
            }

            var result = await _pipe.Writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted)
            {
                // The blob write stopped (disk full): keep reading the client's data, store nothing more.
                return;
            }
        }

        public async Task<BlobInfo> CompleteAsync()
        {
            Header.Complete();
            await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
            return await _write.ConfigureAwait(false);
        }

        public void Abort()
        {
            _pipe.Writer.Complete(new OperationCanceledException("the message was abandoned"));
            _write.ContinueWith(t => _ = t.Exception, TaskScheduler.Default);
        }
    }
}
