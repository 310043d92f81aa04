namespace Postern.Networking;

/// <summary>
/// A protocol server (SMTP, LMTP, IMAP, POP3, ManageSieve) plugged into a listener. <see cref="HandleAsync"/>
/// runs once per connection on its own task; when it returns the connection is closed. An exception is
/// logged and closes only that connection.
/// </summary>
public interface IConnectionHandler
{
    /// <summary>Runs the protocol for one connection.</summary>
    Task HandleAsync(ConnectionContext connection);
}
