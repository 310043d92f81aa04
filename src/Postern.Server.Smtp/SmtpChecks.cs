using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Postern.Core.Storage.Blobs;
using Postern.Primitives;
using Postern.Protocols.Smtp;

namespace Postern.Server.Smtp;

/// <summary>
/// A check that runs inside the SMTP session, before the reply of its stage is sent, so that what it
/// decides reaches the client as an SMTP reply (SPF at MAIL FROM, the filters at the end of DATA, a
/// blocklist at connect). Every method may return a refusal (a 4xx or 5xx reply) or null to go on; the
/// default implementations go on. Checks run in the order they were registered; the first refusal wins.
/// </summary>
public interface ISmtpCheck
{
    /// <summary>Before the greeting. A refusal replaces the greeting and ends the session.</summary>
    ValueTask<SmtpReply?> OnConnectAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Continue;

    /// <summary>After HELO/EHLO/LHLO passed the syntax checks (<see cref="SmtpCheckContext.Helo"/> is set).</summary>
    ValueTask<SmtpReply?> OnHelloAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Continue;

    /// <summary>After MAIL FROM passed the server's own checks (<see cref="SmtpCheckContext.ReversePath"/> is set).</summary>
    ValueTask<SmtpReply?> OnMailFromAsync(SmtpCheckContext context, CancellationToken cancellationToken) => Continue;

    /// <summary>After the directory accepted <paramref name="recipient"/>. A refusal refuses this recipient only.</summary>
    ValueTask<SmtpReply?> OnRecipientAsync(SmtpCheckContext context, SmtpCheckRecipient recipient, CancellationToken cancellationToken) => Continue;

    /// <summary>
    /// The whole message is stored (not yet delivered). A refusal refuses the message for every recipient;
    /// <see cref="SmtpCheckContext.AddHeader"/> adds a field to every delivered copy.
    /// </summary>
    ValueTask<SmtpReply?> OnMessageAsync(SmtpCheckContext context, SmtpCheckMessage message, CancellationToken cancellationToken) => Continue;

    private static ValueTask<SmtpReply?> Continue => ValueTask.FromResult<SmtpReply?>(null);
}

/// <summary>Where a recipient's copy goes once the message is accepted.</summary>
public enum RecipientRoute
{
    /// <summary>A local address: mailboxes, aliases, lists, forwards, and relay-domain recipients behind them.</summary>
    Local,

    /// <summary>Not one of our domains: an authenticated user's mail for the internet, through the delivery queue.</summary>
    Remote,
}

public sealed record SmtpCheckRecipient(EmailAddress Address, RecipientRoute Route);

/// <summary>The stored message as the checks see it.</summary>
public sealed class SmtpCheckMessage(BlobInfo blob, IBlobStore blobs, HeaderScanner header)
{
    public BlobInfo Blob { get; } = blob;

    public long Size => Blob.Length;

    public int ReceivedCount => header.ReceivedCount;

    public string? MessageId => header.MessageId;

    /// <summary>Reads the message exactly as received (after dot-unstuffing).</summary>
    public async Task<Stream> OpenAsync(CancellationToken cancellationToken) =>
        await blobs.OpenReadAsync(Blob.Id, cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("The stored message is gone.");
}

/// <summary>What is known about the session and the transaction so far; checks may leave notes for each other.</summary>
public sealed class SmtpCheckContext
{
    private readonly List<(string Name, string Value)> _addedHeaders = [];

    public required string SessionId { get; init; }

    public required SmtpListenerKind Listener { get; init; }

    public required IPAddress ClientAddress { get; init; }

    /// <summary>The client's address is in the configured trusted networks.</summary>
    public bool ClientTrusted { get; init; }

    public string? Helo { get; internal set; }

    public bool IsTls { get; internal set; }

    public SslProtocols TlsProtocol { get; internal set; }

    public TlsCipherSuite? CipherSuite { get; internal set; }

    /// <summary>The login of an authenticated client, or null.</summary>
    public string? AuthenticatedUser { get; internal set; }

    /// <summary>The envelope sender of the current transaction: empty for &lt;&gt;, null before MAIL FROM.</summary>
    public string? ReversePath { get; internal set; }

    public IReadOnlyList<SmtpCheckRecipient> Recipients => RecipientList;

    /// <summary>Notes one check leaves for another (e.g. the SPF result for the filters), cleared per transaction.</summary>
    public Dictionary<string, object> Properties { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<(string Name, string Value)> AddedHeaders => _addedHeaders;

    internal List<SmtpCheckRecipient> RecipientList { get; } = [];

    /// <summary>Adds a header field (name and unfolded value, no CRLF) at the top of every delivered copy.</summary>
    public void AddHeader(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.Any(c => c <= ' ' || c == ':' || c > '~') || value.Contains('\r', StringComparison.Ordinal) || value.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("A header name is printable ASCII without a colon; a value has no line breaks.", nameof(name));
        }

        _addedHeaders.Add((name, value));
    }

    internal void ResetTransaction()
    {
        ReversePath = null;
        RecipientList.Clear();
        Properties.Clear();
        _addedHeaders.Clear();
    }
}
