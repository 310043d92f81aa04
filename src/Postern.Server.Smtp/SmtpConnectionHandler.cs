using Microsoft.Extensions.Logging;
using Postern.Networking;
using Postern.Protocols.Smtp;
using Postern.Protocols.Smtp.Session;

namespace Postern.Server.Smtp;

/// <summary>Runs one SMTP/LMTP session per connection: the protocol state machine bound to the delivery services.</summary>
public sealed partial class SmtpConnectionHandler(SmtpListenerKind kind, SmtpSessionOptions baseOptions, SmtpServices services, ILogger logger) : IConnectionHandler
{
    public async Task HandleAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.Limit != ConnectionLimit.None)
        {
            await connection.Transport.Output.WriteAsync(SmtpReplies.TooManyConnections(baseOptions.Hostname).ToBytes()).ConfigureAwait(false);
            await connection.Transport.Output.FlushAsync().ConfigureAwait(false);
            return;
        }

        var options = baseOptions with
        {
            Lmtp = kind == SmtpListenerKind.Lmtp,
            TlsActive = connection.IsTls,
            StartTlsOffered = kind != SmtpListenerKind.Lmtp && connection.CanStartTls,
            AuthOffered = kind == SmtpListenerKind.Submission || (kind == SmtpListenerKind.Mx && connection.IsTls),
            AuthRequired = kind == SmtpListenerKind.Submission,
        };
        var transaction = new SmtpTransaction(kind, connection, services, logger);
        var session = new SmtpServerSession(options, transaction);
        try
        {
            await session.RunAsync(connection.Transport, connection.ShutdownRequested, connection.ShutdownDeadline).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogSessionFailed(logger, e, connection.SessionId);
        }
        finally
        {
            transaction.AbortPending();
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Error, Message = "SMTP session {SessionId} failed")]
    private static partial void LogSessionFailed(ILogger logger, Exception exception, string sessionId);
}
