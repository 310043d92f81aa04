using System.IO.Pipelines;

namespace Postern.Protocols.Smtp.Session;

/// <summary>
/// The decisions an SMTP/LMTP session leaves to the server layer: policy, delivery, authentication and
/// the TLS upgrade. <see cref="SmtpServerSession"/> keeps the protocol; this interface keeps the rest.
/// </summary>
public interface ISmtpSessionHandler
{
    /// <summary>
    /// Before the greeting. <paramref name="talkedBeforeGreeting"/> is true when the client sent data during
    /// <see cref="SmtpSessionOptions.GreetingDelay"/> (the session then refuses it whatever this returns).
    /// Null greets the client; a reply (554 5.7.1, 421 4.7.0 ...) is sent instead of the greeting and the session ends.
    /// </summary>
    ValueTask<SmtpReply?> OnConnectAsync(bool talkedBeforeGreeting, CancellationToken cancellationToken) => ValueTask.FromResult<SmtpReply?>(null);

    /// <summary>
    /// A handler call or the spool failed with <paramref name="exception"/>. The session has answered (or will
    /// answer at the end of the message) 451 4.3.0 and goes on; this is where the failure gets logged.
    /// </summary>
    void OnFailure(Exception exception)
    {
    }

    /// <summary>HELO, EHLO or LHLO. Null accepts the client; a reply refuses it (the session stays before hello).</summary>
    ValueTask<SmtpReply?> OnHelloAsync(string clientName, bool extended, CancellationToken cancellationToken);

    /// <summary>MAIL FROM that passed the protocol checks. A positive reply starts the transaction.</summary>
    ValueTask<SmtpReply> OnMailFromAsync(SmtpPath from, MailParameters parameters, CancellationToken cancellationToken);

    /// <summary>RCPT TO that passed the protocol checks. A positive reply adds the recipient.</summary>
    ValueTask<SmtpReply> OnRcptToAsync(SmtpPath to, RcptParameters parameters, CancellationToken cancellationToken);

    /// <summary>DATA or the first BDAT of a transaction with recipients: where the decoded message goes.</summary>
    ValueTask<IMessageSink> BeginMessageAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The whole message is in <paramref name="sink"/>. Returns one reply for SMTP, one per accepted
    /// recipient (in RCPT order) for LMTP. Not called when the session refused the message itself
    /// (too big, bare line ends): then the sink is aborted.
    /// </summary>
    ValueTask<IReadOnlyList<SmtpReply>> EndMessageAsync(IMessageSink sink, DataDefects defects, CancellationToken cancellationToken);

    ValueTask<SaslResult> AuthenticateAsync(string mechanism, string authorizationId, string user, string password, CancellationToken cancellationToken);

    /// <summary>
    /// Runs the TLS handshake after the 220 reply was sent. Returns the transport to speak over from now on
    /// (the decrypted pipe; it may be <paramref name="plaintext"/> itself when the server swaps underneath),
    /// or null when the handshake failed: the session then ends.
    /// </summary>
    ValueTask<IDuplexPipe?> StartTlsAsync(IDuplexPipe plaintext, CancellationToken cancellationToken);

    /// <summary>The mail transaction was cleared (RSET, a new hello, STARTTLS, or the end of a message).</summary>
    void OnReset();
}

/// <summary>Where the decoded bytes of a message go (the spool).</summary>
public interface IMessageSink
{
    ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken);

    /// <summary>The message was refused or the connection was lost: throw away what was written.</summary>
    void Abort();
}

/// <summary>The outcome of <see cref="ISmtpSessionHandler.AuthenticateAsync"/>.</summary>
public sealed record SaslResult(bool Succeeded, SmtpReply? Reply = null)
{
    public static SaslResult Success { get; } = new(true);

    public static SaslResult Failure { get; } = new(false);
}
