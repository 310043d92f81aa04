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

        var policy = services.Policy;
        var client = connection.RemoteEndPoint.Address;
        var greetingTest = kind == SmtpListenerKind.Mx && policy.MxGreetingDelay > TimeSpan.Zero
            && !policy.IsTrusted(client) && !services.GreetingPasses.HasPassed(client, policy.GreetingPassLifetime);
        var options = baseOptions with
        {
            Lmtp = kind == SmtpListenerKind.Lmtp,
            TlsActive = connection.IsTls,
            StartTlsOffered = kind != SmtpListenerKind.Lmtp && connection.CanStartTls,

            // AUTH is offered once TLS is active (at connect on 465, after STARTTLS otherwise).
            AuthOffered = kind == SmtpListenerKind.Submission || (kind == SmtpListenerKind.Mx && policy.AuthOnMx),
            AuthRequired = kind == SmtpListenerKind.Submission,
            GreetingDelay = greetingTest ? policy.MxGreetingDelay : TimeSpan.Zero,
        };
        var transaction = new SmtpTransaction(kind, connection, services, logger, greetingTest);
        var session = new SmtpServerSession(options, transaction);
        connection.Timeout.SetIdleTimeout(policy.IdleTimeout);
        using var idle = connection.Timeout.Token.Register(static s => ((SmtpServerSession)s!).TimeOut(), session);
        using var sessionTime = new CancellationTokenSource(policy.MaxSessionTime, services.Time);
        var limitReply = SmtpReplies.SessionTimeLimit(options.Hostname);
        using var tooLong = sessionTime.Token.Register(() => session.TimeOut(limitReply));
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
