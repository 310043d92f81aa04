using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Postern.Core.Tenants;

/// <summary>How a relay domain's recipients not listed in Postern are treated at RCPT time.</summary>
public enum RecipientVerificationMode
{
    /// <summary>Every address of the domain is accepted and relayed (the customer's server decides).</summary>
    AcceptAll = 0,

    /// <summary>Only the addresses listed in Postern (accounts, aliases, lists) are accepted: the list is complete.</summary>
    Listed = 1,

    /// <summary>Unknown addresses are checked by an RCPT probe to the customer's server, and the answer cached.</summary>
    Probe = 2,
}

/// <summary>A domain's delivery settings, read from its settings object (<see cref="MailDomain.SettingsJson"/>).</summary>
/// <param name="TlsPolicy">The admin TLS level for mail to this domain: none, may, encrypt or verify; null for the default (may).</param>
/// <param name="TlsMatchNames">For verify: the names the server certificate may carry instead of the host name.</param>
/// <param name="Hold">Mail is accepted and queued but not delivered until an admin releases the hold.</param>
/// <param name="QueueLifetime">How long mail waits in the queue before it bounces; null for the server-wide lifetime.</param>
/// <param name="RecipientVerification">For relay domains: which recipients RCPT accepts.</param>
public sealed record DomainDeliverySettings(
    string? TlsPolicy,
    IReadOnlyList<string> TlsMatchNames,
    bool Hold,
    TimeSpan? QueueLifetime,
    RecipientVerificationMode RecipientVerification)
{
    public static DomainDeliverySettings Default { get; } = new(null, [], false, null, RecipientVerificationMode.AcceptAll);
}

/// <summary>Keys of a domain's settings object that delivery reads, and their reader.</summary>
public static class DeliverySettings
{
    /// <summary>"none", "may", "encrypt" or "verify".</summary>
    public const string TlsPolicy = "tlsPolicy";

    /// <summary>An array of host names a verify-level certificate may carry.</summary>
    public const string TlsMatchNames = "tlsMatchNames";

    /// <summary>true: hold delivery.</summary>
    public const string Hold = "deliveryHold";

    /// <summary>Queue lifetime in days (a number, fractions allowed), 0 or absent for the server-wide value.</summary>
    public const string QueueLifetimeDays = "queueLifetimeDays";

    /// <summary>"accept-all", "listed" or "probe".</summary>
    public const string RecipientVerification = "recipientVerification";

    /// <summary>The TLS levels accepted in <see cref="TlsPolicy"/>.</summary>
    public static IReadOnlyList<string> TlsLevels { get; } = ["none", "may", "encrypt", "verify"];

    /// <summary>The names of the <see cref="RecipientVerificationMode"/> values as stored.</summary>
    public static string Name(RecipientVerificationMode mode) => mode switch
    {
        RecipientVerificationMode.Listed => "listed",
        RecipientVerificationMode.Probe => "probe",
        _ => "accept-all",
    };

    /// <summary>Parses a stored or typed verification mode; null when unknown.</summary>
    public static RecipientVerificationMode? ParseVerification(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        "accept-all" or "acceptall" or "all" => RecipientVerificationMode.AcceptAll,
        "listed" or "list" => RecipientVerificationMode.Listed,
        "probe" or "verify" => RecipientVerificationMode.Probe,
        _ => null,
    };

    /// <summary>Reads the settings; unreadable or missing values fall back to the defaults, never throw.</summary>
    public static DomainDeliverySettings Read(string? settingsJson)
    {
        if (string.IsNullOrWhiteSpace(settingsJson))
        {
            return DomainDeliverySettings.Default;
        }

        JsonObject? o;
        try
        {
            o = JsonNode.Parse(settingsJson) as JsonObject;
        }
        catch (JsonException)
        {
            return DomainDeliverySettings.Default;
        }

        if (o is null)
        {
            return DomainDeliverySettings.Default;
        }

        var tls = String(o[TlsPolicy])?.Trim().ToLowerInvariant();
        if (tls is not null && !TlsLevels.Contains(tls))
        {
            tls = null;
        }

        var names = o[TlsMatchNames] is JsonArray a ? a.Select(String).OfType<string>().Where(n => n.Length > 0).ToList() : [];
        var hold = o[Hold] is JsonValue h && h.TryGetValue<bool>(out var held) && held;
        TimeSpan? lifetime = null;
        if (o[QueueLifetimeDays] is JsonValue d && TryNumber(d, out var days) && days > 0 && days <= 365)
        {
            lifetime = TimeSpan.FromDays(days);
        }

        var verification = ParseVerification(String(o[RecipientVerification])) ?? RecipientVerificationMode.AcceptAll;
        return new DomainDeliverySettings(tls, names, hold, lifetime, verification);
    }

    private static string? String(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static bool TryNumber(JsonValue value, out double number)
    {
        if (value.TryGetValue(out number))
        {
            return true;
        }

        return value.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out number);
    }
}
