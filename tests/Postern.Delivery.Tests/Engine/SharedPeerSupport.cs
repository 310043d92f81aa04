using Postern.Protocols.Smtp.Client;

// What the linked Peers.cs of the SMTP client's tests expects from its own project.
namespace Postern.Protocols.Smtp.Tests.Client;

internal static class ClientTestSupport
{
    public static SmtpClientOptions Options { get; } = new() { LocalHostname = "client.test" };
}
