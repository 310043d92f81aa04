using Microsoft.Extensions.Logging;
using Postern.Networking;

namespace Postern.Server.Imap;

/// <summary>Runs one IMAP session per connection (143 with STARTTLS, 993 with implicit TLS).</summary>
public sealed class ImapConnectionHandler(ImapServices services, ILogger logger) : IConnectionHandler
{
    public async Task HandleAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var session = new ImapSession(connection, services, logger);
        await session.RunAsync().ConfigureAwait(false);
    }
}
