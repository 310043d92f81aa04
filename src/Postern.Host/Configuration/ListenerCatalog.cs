namespace Postern.Host.Configuration;

public enum ListenerTls
{
    None,
    StartTls,
    Implicit,
}

/// <summary>A listener Postern knows: its standard port, its quick-start (unprivileged) port, and its TLS mode.</summary>
public sealed record KnownListener(string Name, string Protocol, int StandardPort, int QuickStartPort, ListenerTls Tls, bool LoopbackOnly = false);

/// <summary>The listeners of the product, and which of them this build implements.</summary>
public static class ListenerCatalog
{
    public static IReadOnlyList<KnownListener> All { get; } =
    [
        new("smtp", "SMTP (MX)", 25, 2525, ListenerTls.StartTls),
        new("submissions", "SMTP submission, implicit TLS", 465, 4465, ListenerTls.Implicit),
        new("submission", "SMTP submission", 587, 5587, ListenerTls.StartTls),
        new("lmtp", "LMTP", 24, 2424, ListenerTls.None, LoopbackOnly: true),
        new("imap", "IMAP", 143, 1143, ListenerTls.StartTls),
        new("imaps", "IMAP, implicit TLS", 993, 1993, ListenerTls.Implicit),
        new("pop3", "POP3", 110, 1110, ListenerTls.StartTls),
        new("pop3s", "POP3, implicit TLS", 995, 1995, ListenerTls.Implicit),
        new("managesieve", "ManageSieve", 4190, 14190, ListenerTls.StartTls),
        new("https", "HTTPS (health, metrics; API and UI later)", 443, 8443, ListenerTls.Implicit),
    ];

    /// <summary>Listeners whose protocol this build serves; the others are reported as not available yet.</summary>
    public static IReadOnlySet<string> Implemented { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "https", "smtp", "submission", "submissions", "lmtp", "imap", "imaps" };

    public static KnownListener? Find(string name) => All.FirstOrDefault(l => l.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}
