using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.MessageLog;
using Postern.Core.Storage.Queue;
using Postern.Mailboxes;
using Postern.Networking;
using Postern.Primitives;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Session;
using Postern.Tenants;

namespace Postern.Server.Smtp;

/// <summary>
/// The decisions of one SMTP session: who may send to whom (directory lookups at RCPT time), where the
/// body goes (streamed into the blob store while it arrives), and the reply at the end of DATA, sent only
/// after every local copy and queue entry is durable.
/// </summary>
internal sealed partial class SmtpTransaction(SmtpListenerKind kind, ConnectionContext connection, SmtpServices services, ILogger logger) : ISmtpSessionHandler
{
    private readonly List<(EmailAddress Address, RcptParameters Parameters, bool Relay)> _recipients = [];
    private string? _helo;
    private SmtpPath? _from;
    private MailParameters? _mail;
    private string? _user;
    private BlobSink? _sink;

    public ValueTask<SmtpReply?> OnHelloAsync(string clientName, bool extended, CancellationToken cancellationToken)
    {
        _helo = clientName;
        return ValueTask.FromResult<SmtpReply?>(null);
    }

    public ValueTask<SmtpReply> OnMailFromAsync(SmtpPath from, MailParameters parameters, CancellationToken cancellationToken)
    {
        if (!services.Delivery.HasRoomFor(parameters.Size ?? 0))
        {
            return ValueTask.FromResult(SmtpReplies.InsufficientStorage);
        }

        _from = from;
        _mail = parameters;
        _recipients.Clear();
        return ValueTask.FromResult(SmtpReplies.SenderOk);
    }

    public async ValueTask<SmtpReply> OnRcptToAsync(SmtpPath to, RcptParameters parameters, CancellationToken cancellationToken)
    {
        EmailAddress address;
        ResolvedRecipient resolved;
        if (to.IsPostmaster)
        {
            resolved = services.Resolver.ResolveBarePostmaster();
            address = resolved.Address;
        }
        else
        {
            if (to.IsAddressLiteral || !EmailAddress.TryParse(Unquote(to.LocalPart) + "@" + to.Domain, out var parsed, out _))
            {
                return new SmtpReply(553, new EnhancedStatusCode(5, 1, 3), "Address not accepted here");
            }

            address = parsed!;
            resolved = await services.Resolver.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        }

        switch (resolved.Kind)
        {
            case RecipientKind.Unknown when resolved.Domain is null:
                if (kind == SmtpListenerKind.Submission && _user is not null)
                {
                    _recipients.Add((address, parameters, true));
                    return SmtpReplies.RecipientOk;
                }

                return SmtpReplies.RelayDenied;
            case RecipientKind.Unknown:
                return SmtpReplies.NoSuchUser;
            case RecipientKind.Account or RecipientKind.Alias or RecipientKind.CatchAll:
                var account = await services.Resolver.GetAccountAsync(resolved.AccountId!.Value, cancellationToken).ConfigureAwait(false);
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
                    var usage = await services.Mailboxes.GetAccountUsageAsync(account.Id, cancellationToken).ConfigureAwait(false);
                    if (usage.StorageBytes + (_mail?.Size ?? 0) > account.QuotaBytes)
                    {
                        return new SmtpReply(452, new EnhancedStatusCode(4, 2, 2), "Mailbox full, try again later");
                    }
                }

                break;
        }

        _recipients.Add((address, parameters, false));
        return SmtpReplies.RecipientOk;
    }

    public ValueTask<IMessageSink> BeginMessageAsync(CancellationToken cancellationToken)
    {
        _sink = new BlobSink(services.Blobs, cancellationToken);
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

        var queueId = NewQueueId();
        var envelope = new DeliveryEnvelope(_from?.Address ?? string.Empty, Protocol(), _helo, connection.RemoteEndPoint.Address, null, queueId);
        var replies = new List<SmtpReply>(_recipients.Count);
        var remote = new List<NewQueueRecipient>();
        var log = new List<MessageLogRecord>();
        foreach (var (address, parameters, relay) in _recipients)
        {
            SmtpReply reply;
            if (relay)
            {
                remote.Add(new NewQueueRecipient(address.ToString(), address.Domain.Ascii, ToQueueNotify(parameters.Notify), parameters.OriginalRecipient));
                reply = SmtpReplies.Queued(queueId);
            }
            else
            {
                var result = await services.Delivery.DeliverAsync(blob, envelope, address, cancellationToken).ConfigureAwait(false);
                remote.AddRange(result.QueueRecipients(ToQueueNotify(parameters.Notify), parameters.OriginalRecipient));
                reply = result.Status switch
                {
                    LocalDeliveryStatus.Delivered => SmtpReplies.Queued(queueId),
                    LocalDeliveryStatus.StorageFull => SmtpReplies.InsufficientStorage,
                    LocalDeliveryStatus.OverQuota => new SmtpReply(452, new EnhancedStatusCode(4, 2, 2), "Mailbox full, try again later"),
                    LocalDeliveryStatus.AccountDisabled => SmtpReplies.Disabled,
                    _ => SmtpReplies.NoSuchUser,
                };
            }

            replies.Add(reply);
            log.Add(new MessageLogRecord(services.Time.GetUtcNow(), queueId, null, connection.RemoteEndPoint.Address.ToString(), _helo, _from?.Address, address.ToString(),
                blob.Length, "unchecked", reply.IsPositive ? "accepted" : "refused", DeliveryOutcome: reply.ToString().Trim()));
        }

        if (remote.Count > 0)
        {
            await services.Queue.EnqueueAsync(new NewQueuedMessage(_from?.Address ?? string.Empty, remote, blob.Id, blob.Length,
                _mail?.EnvelopeId, ToQueueReturn(_mail?.Return ?? Protocols.Smtp.DsnReturn.Unspecified), _mail?.RequireTls ?? false, _mail?.SmtpUtf8 ?? false), cancellationToken).ConfigureAwait(false);
        }

        // The message log is written in batches by its writer, after these replies go out.
        foreach (var record in log)
        {
            services.MessageLog.Enqueue(record);
        }

        LogAccepted(logger, connection.SessionId, queueId, blob.Length, replies.Count(r => r.IsPositive), replies.Count);
        if (kind == SmtpListenerKind.Lmtp)
        {
            return replies;
        }

        // SMTP has one reply for the whole message: accepted if any recipient took it.
        // (Bounces for the recipients that failed at this point come with the delivery queue.)
        var accepted = replies.FirstOrDefault(r => r.IsPositive);
        return [accepted ?? replies.FirstOrDefault() ?? SmtpReplies.LocalError];
    }

    public async ValueTask<SaslResult> AuthenticateAsync(string mechanism, string authorizationId, string user, string password, CancellationToken cancellationToken)
    {
        var result = await services.Authenticator.AuthenticateUserAsync(user, password, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded || (authorizationId.Length > 0 && !authorizationId.Equals(user, StringComparison.OrdinalIgnoreCase)))
        {
            LogAuthFailed(logger, connection.SessionId, connection.RemoteEndPoint.Address.ToString());
            return SaslResult.Failure;
        }

        _user = user;
        return SaslResult.Success;
    }

    public async ValueTask<IDuplexPipe?> StartTlsAsync(IDuplexPipe plaintext, CancellationToken cancellationToken)
    {
        var result = await connection.UpgradeToTlsAsync(cancellationToken).ConfigureAwait(false);
        return result.Succeeded ? connection.Transport : null;
    }

    public void OnReset()
    {
        _from = null;
        _mail = null;
        _recipients.Clear();
        AbortPending();
    }

    public void AbortPending()
    {
        _sink?.Abort();
        _sink = null;
    }

    /// <summary>The RFC 3848 "with" keyword for the Received line.</summary>
    private string Protocol()
    {
        if (kind == SmtpListenerKind.Lmtp)
        {
            return "LMTP";
        }

        var protocol = connection.IsTls ? "ESMTPS" : "ESMTP";
        return _user is null ? protocol : protocol + "A";
    }

    private IReadOnlyList<SmtpReply> Repeat(SmtpReply reply) =>
        kind == SmtpListenerKind.Lmtp ? _recipients.Select(_ => reply).ToList() : [reply];

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

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Session {SessionId}: authentication failed from {ClientIp}")]
    private static partial void LogAuthFailed(ILogger logger, string sessionId, string clientIp);

    /// <summary>Streams the message into the blob store while it arrives (the blob write reads from a pipe).</summary>
    private sealed class BlobSink : IMessageSink
    {
        private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19));
        private readonly Task<BlobInfo> _write;

        public BlobSink(IBlobStore blobs, CancellationToken cancellationToken)
        {
            var reader = _pipe.Reader.AsStream();
            _write = Task.Run(() => blobs.WriteAsync(reader, cancellationToken), cancellationToken);
        }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
        {
            var result = await _pipe.Writer.WriteAsync(data, cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted)
            {
                // The blob write stopped (disk full): keep reading the client's data, store nothing more.
                return;
            }
        }

        public async Task<BlobInfo> CompleteAsync()
        {
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
