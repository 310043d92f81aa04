namespace Postern.Server.Imap;

/// <summary>Identity of the IMAP server as the ID command (RFC 2971) reports it.</summary>
public static class ImapServerInfo
{
    public const string Name = "Postern";
}
