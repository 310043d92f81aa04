using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using Postern.Core.Storage;
using Postern.Core.Storage.Blobs;
using Postern.Core.Storage.Mailboxes;
using Postern.Core.Storage.Queue;
using Postern.Core.Tenants;
using Postern.Primitives;
using Postern.Tenants;

namespace Postern.Mailboxes;

/// <summary>Who handed the message over, for the trace header fields.</summary>
/// <param name="ReversePath">The envelope sender; empty for the null reverse-path &lt;&gt;.</param>
/// <param name="Protocol">The RFC 3848 "with" keyword: ESMTP, ESMTPS, ESMTPSA, LMTP, ... or LOCAL.</param>
/// <param name="ClientHelo">The name the client gave in HELO/EHLO/LHLO, if any.</param>
/// <param name="ClientAddress">The client's IP address, if the message came over the network.</param>
/// <param name="ClientHostName">The client's verified reverse-DNS name, if known.</param>
/// <param name="QueueId">The id the message was acknowledged with.</param>
public sealed record DeliveryEnvelope(
    string ReversePath,
    string Protocol = "LOCAL",
    string? ClientHelo = null,
    IPAddress? ClientAddress = null,
    string? ClientHostName = null,
    string? QueueId = null)
{
    /// <summary>The TLS version and cipher the message came over, e.g. "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384".</summary>
    public string? Tls { get; init; }

    /// <summary>The authenticated sender to name in the Received field (only when the server is configured to).</summary>
    public string? AuthenticatedUser { get; init; }

    /// <summary>Fields the checks added (Authentication-Results, spam headers ...), placed above our Received field.</summary>
    public IReadOnlyList<(string Name, string Value)> AddedHeaders { get; init; } = [];
}

public enum LocalDeliveryStatus
{
    Delivered = 0,

    /// <summary>Not one of our domains: the caller must relay (or refuse relaying).</summary>
    NotLocal = 1,
    UnknownRecipient = 2,
    AccountDisabled = 3,

    /// <summary>The account's or the domain's quota would be exceeded (temporary or permanent: the caller's policy).</summary>
    OverQuota = 4,

    /// <summary>The disk is below the free-space floor: try again later.</summary>
    StorageFull = 5,
}

/// <summary>One stored copy: which mailbox, which folder, which UID.</summary>
public sealed record StoredCopy(long AccountId, long FolderId, long Uid);

/// <summary>
/// The outcome for one envelope recipient: what was stored locally, and the addresses the expansion
/// reached elsewhere (forwards, external list members: <see cref="Remote"/>; relay-domain recipients:
/// <see cref="Relay"/>) which the caller hands to the delivery queue.
/// </summary>
public sealed record LocalRecipientResult(
    EmailAddress Recipient,
    LocalDeliveryStatus Status,
    string Detail,
    IReadOnlyList<StoredCopy> Copies,
    IReadOnlyList<EmailAddress> Remote,
    IReadOnlyList<EmailAddress> Relay)
{
    /// <summary>
    /// The delivery-queue rows for what the expansion reached elsewhere: remote addresses grouped by their
    /// domain, relay-domain recipients by <see cref="RelayDestination"/> (the customer's servers).
    /// </summary>
    public IEnumerable<NewQueueRecipient> QueueRecipients(DsnNotify notify = DsnNotify.None, string? originalRecipient = null) =>
        Remote.Select(a => new NewQueueRecipient(a.ToString(), a.Domain.Ascii, notify, originalRecipient))
            .Concat(Relay.Select(a => new NewQueueRecipient(a.ToString(), RelayDestination(a.Domain), notify, originalRecipient)));

    /// <summary>The queue's destination key for a relay domain's recipients.</summary>
    public static string RelayDestination(DomainName domain) => "relay:" + domain.Ascii;
}

public sealed record LocalDeliveryOptions(string Hostname)
{
    /// <summary>Product token in Received: lines.</summary>
    public string Software { get; init; } = "Postern";

    /// <summary>Messages up to this size get their summary and search text at delivery; larger ones are stored without.</summary>
    public long MaxIndexedBytes { get; init; } = MessageIndexer.DefaultMaxIndexedBytes;
}

/// <summary>
/// Delivers a message into local mailboxes: the body is written once as a blob (durably: file fsync,
/// rename, directory fsync), then every mailbox it reaches gets a copy that shares the blob and carries
/// its own trace header prefix (Return-Path, Delivered-To, Received), appended in one transaction per
/// mailbox with the quota checked atomically. A message is acknowledged only after this returns.
/// Each copy carries the message's IMAP summary and full-text search text; the blob is read and parsed once per
/// message (the last few indexed blobs are remembered, so the recipients of one message share one parse).
/// </summary>
public sealed class LocalDeliveryService(
    RecipientResolver resolver,
    IDirectoryStore directory,
    IBlobStore blobs,
    IMailboxStore mailboxes,
    LocalDeliveryOptions options,
    DiskSpaceGuard? disk = null,
    TimeProvider? time = null)
{
    /// <summary>How many recently indexed blobs are remembered (the recipients of one message arrive one after another).</summary>
    private const int RecentIndexes = 16;

    private readonly ConcurrentDictionary<long, long> _inboxes = new();
    private readonly LinkedList<(BlobId Id, Task<MessageIndex?> Index)> _recent = new();
    private readonly Lock _recentLock = new();
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Writes the message body once; refuses with <see cref="StoreFullException"/> below the free-space floor.</summary>
    public async Task<BlobInfo> SpoolAsync(Stream message, long expectedLength, CancellationToken cancellationToken)
    {
        disk?.EnsureRoomFor(expectedLength);
        return await blobs.WriteAsync(message, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>True when new mail may be accepted at all (the free-space floor is not crossed).</summary>
    public bool HasRoomFor(long bytes) => disk?.HasRoomFor(bytes) ?? true;

    public async Task<LocalRecipientResult> DeliverAsync(BlobInfo blob, DeliveryEnvelope envelope, EmailAddress recipient, CancellationToken cancellationToken)
    {
        var resolved = await resolver.ResolveAsync(recipient, cancellationToken).ConfigureAwait(false);
        switch (resolved.Kind)
        {
            case RecipientKind.Unknown when resolved.Domain is null:
                return Result(recipient, LocalDeliveryStatus.NotLocal, "not a local domain");
            case RecipientKind.Unknown:
                return Result(recipient, LocalDeliveryStatus.UnknownRecipient, "no such user");
            case RecipientKind.Account or RecipientKind.Alias or RecipientKind.CatchAll:
                var owner = await resolver.GetAccountAsync(resolved.AccountId!.Value, cancellationToken).ConfigureAwait(false);
                if (owner is null)
                {
                    return Result(recipient, LocalDeliveryStatus.UnknownRecipient, "no such user");
                }

                if (owner.Disabled)
                {
                    return Result(recipient, LocalDeliveryStatus.AccountDisabled, "mailbox disabled");
                }

                break;
        }

        if (!HasRoomFor(blob.Length))
        {
            return Result(recipient, LocalDeliveryStatus.StorageFull, "insufficient system storage");
        }

        var expansion = await resolver.ExpandAsync(recipient, cancellationToken).ConfigureAwait(false);
        var index = expansion.Mailboxes.Count > 0 ? await IndexAsync(blob, cancellationToken).ConfigureAwait(false) : null;
        var copies = new List<StoredCopy>();
        var failures = new List<string>();
        var overQuota = 0;
        foreach (var target in expansion.Mailboxes)
        {
            var account = await resolver.GetAccountAsync(target.AccountId, cancellationToken).ConfigureAwait(false);
            if (account is null)
            {
                failures.Add($"{target.Address}: no such user");
                continue;
            }

            var domain = await directory.GetDomainAsync(account.DomainId, cancellationToken).ConfigureAwait(false);
            var inbox = await InboxAsync(account, cancellationToken).ConfigureAwait(false);
            var prefix = TracePrefix(envelope, target.Address, recipient);
            var limits = new QuotaLimits(
                AccountStorageBytes: account.HasQuota ? account.QuotaBytes : null,
                DomainStorageBytes: domain is { HasQuota: true } ? domain.QuotaBytes : null);
            var message = new NewMessage(blob.Id, blob.Length, _time.GetUtcNow(), prefix, SearchText: index?.SearchText, Summary: index?.Summary);
            var appended = await mailboxes.AppendAsync(account.Id, inbox, [message], limits, cancellationToken).ConfigureAwait(false);
            if (appended.Status == AppendStatus.FolderNotFound)
            {
                // The INBOX was deleted meanwhile: make it again, once.
                _inboxes.TryRemove(account.Id, out _);
                inbox = await InboxAsync(account, cancellationToken).ConfigureAwait(false);
                appended = await mailboxes.AppendAsync(account.Id, inbox, [message], limits, cancellationToken).ConfigureAwait(false);
            }

            switch (appended.Status)
            {
                case AppendStatus.Appended:
                    copies.Add(new StoredCopy(account.Id, inbox, appended.Uids[0]));
                    break;
                case AppendStatus.AccountQuotaExceeded or AppendStatus.DomainQuotaExceeded:
                    overQuota++;
                    failures.Add($"{target.Address}: over quota");
                    break;
                default:
                    failures.Add($"{target.Address}: {appended.Status}");
                    break;
            }
        }

        var status = copies.Count > 0 || expansion.Remote.Count > 0 || expansion.Relay.Count > 0
            ? LocalDeliveryStatus.Delivered
            : overQuota > 0 ? LocalDeliveryStatus.OverQuota
            : expansion.Mailboxes.Count == 0 && expansion.Problems.Count > 0 ? LocalDeliveryStatus.UnknownRecipient
            : LocalDeliveryStatus.Delivered;
        var detail = string.Join("; ", failures.Concat(expansion.Problems));
        return new LocalRecipientResult(recipient, status, detail.Length == 0 ? "delivered" : detail, copies, expansion.Remote, expansion.Relay);
    }

    /// <summary>The summary and search text of a spooled message, computed once for all its recipients.</summary>
    public Task<MessageIndex?> IndexAsync(BlobInfo blob, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(blob);
        Task<MessageIndex?> task;
        lock (_recentLock)
        {
            for (var node = _recent.First; node is not null; node = node.Next)
            {
                if (node.Value.Id == blob.Id)
                {
                    _recent.Remove(node);
                    _recent.AddFirst(node);
                    return node.Value.Index.WaitAsync(cancellationToken);
                }
            }

            // Not tied to one caller's cancellation: the other recipients of the message wait for the same task.
            task = Task.Run(() => MessageIndexer.ReadAsync(blobs, blob, options.MaxIndexedBytes, CancellationToken.None), CancellationToken.None);
            _recent.AddFirst((blob.Id, task));
            while (_recent.Count > RecentIndexes)
            {
                _recent.RemoveLast();
            }
        }

        return task.WaitAsync(cancellationToken);
    }

    /// <summary>The trace lines each copy starts with (RFC 5321 §4.4, RFC 5322 §3.6.7).</summary>
    public byte[] TracePrefix(DeliveryEnvelope envelope, EmailAddress mailbox, EmailAddress envelopeRecipient)
    {
        var text = new StringBuilder(256);
        text.Append("Return-Path: <").Append(envelope.ReversePath).Append(">\r\n");
        text.Append("Delivered-To: ").Append(mailbox.ToString()).Append("\r\n");
        AppendReceived(text, envelope, envelopeRecipient);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>
    /// The header fields a message gets here before it leaves through the queue: the checks' added fields and our
    /// Received (naming the recipient only when there is exactly one, so a copy never reveals the others).
    /// </summary>
    public byte[] QueueTrace(DeliveryEnvelope envelope, IReadOnlyList<EmailAddress> recipients)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(recipients);
        var text = new StringBuilder(256);
        AppendReceived(text, envelope, recipients.Count == 1 ? recipients[0] : null);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private void AppendReceived(StringBuilder text, DeliveryEnvelope envelope, EmailAddress? envelopeRecipient)
    {
        foreach (var (name, value) in envelope.AddedHeaders)
        {
            AppendFolded(text, name, value);
        }

        text.Append("Received: ");
        if (envelope.ClientHelo is not null || envelope.ClientAddress is not null)
        {
            text.Append("from ").Append(Clean(envelope.ClientHelo ?? "unknown"));
            if (envelope.ClientAddress is not null)
            {
                text.Append(" (").Append(envelope.ClientHostName is null ? string.Empty : Clean(envelope.ClientHostName) + " ")
                    .Append('[').Append(envelope.ClientAddress.IsIPv4MappedToIPv6 ? envelope.ClientAddress.MapToIPv4() : envelope.ClientAddress).Append("])");
            }

            text.Append("\r\n\t");
        }

        if (envelope.Tls is not null)
        {
            text.Append("(using ").Append(Clean(envelope.Tls)).Append(")\r\n\t");
        }

        if (envelope.AuthenticatedUser is not null)
        {
            text.Append("(Authenticated sender: ").Append(Clean(envelope.AuthenticatedUser)).Append(")\r\n\t");
        }

        text.Append("by ").Append(options.Hostname).Append(" (").Append(options.Software).Append(") with ").Append(envelope.Protocol);
        if (envelope.QueueId is not null)
        {
            text.Append(" id ").Append(envelope.QueueId);
        }

        if (envelopeRecipient is not null)
        {
            text.Append("\r\n\tfor <").Append(envelopeRecipient.ToString()).Append('>');
        }

        text.Append("; ").Append(Rfc5322Date(_time.GetUtcNow())).Append("\r\n");
    }

    /// <summary>An RFC 5322 date-time, e.g. <c>Sun, 22 Nov 2026 01:23:45 +0000</c>.</summary>
    public static string Rfc5322Date(DateTimeOffset when)
    {
        var offset = when.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        var abs = offset.Duration();
        return when.ToString("ddd, dd MMM yyyy HH:mm:ss ", CultureInfo.InvariantCulture) + sign + abs.Hours.ToString("00", CultureInfo.InvariantCulture) + abs.Minutes.ToString("00", CultureInfo.InvariantCulture);
    }

    private async Task<long> InboxAsync(Account account, CancellationToken cancellationToken)
    {
        if (_inboxes.TryGetValue(account.Id, out var cached))
        {
            return cached;
        }

        var folders = await mailboxes.EnsureDefaultFoldersAsync(account.Id, account.DomainId, cancellationToken).ConfigureAwait(false);
        var inbox = folders.First(f => f.Name.Equals("INBOX", StringComparison.OrdinalIgnoreCase));
        _inboxes[account.Id] = inbox.FolderId;
        return inbox.FolderId;
    }

    /// <summary>Writes "Name: value" folded at spaces so no line passes 78 characters where it can be helped.</summary>
    private static void AppendFolded(StringBuilder text, string name, string value)
    {
        var line = name.Length + 2;
        text.Append(name).Append(':');
        foreach (var word in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line + 1 + word.Length > 78 && line > name.Length + 2)
            {
                text.Append("\r\n\t");
                line = 1;
            }
            else
            {
                text.Append(' ');
                line++;
            }

            text.Append(word);
            line += word.Length;
        }

        text.Append("\r\n");
    }

    private static string Clean(string value) => new(value.Where(c => !char.IsControl(c) && c != '(' && c != ')').Take(255).ToArray());

    private static LocalRecipientResult Result(EmailAddress recipient, LocalDeliveryStatus status, string detail) => new(recipient, status, detail, [], [], []);
}
