namespace Postern.Core.Tenants;

/// <summary>A named feature bundle sold per domain. <see cref="FeaturesJson"/> is a JSON object of feature switches and defaults.</summary>
public sealed record Plan(long Id, string Name, string FeaturesJson, bool IsAddOn, bool IsLegacy);

/// <summary>The built-in plans, created with the store.</summary>
public static class BuiltInPlans
{
    public const string Basics = "Basics Email Security";
    public const string Enterprise = "Enterprise";
    public const string Compliance = "Compliance";
    public const string HostedMail = "Hosted Mail";

    /// <summary>Feature names used in plan JSON.</summary>
    public static class Features
    {
        public const string SpamFilter = "spamFilter";
        public const string VirusFilter = "virusFilter";
        public const string AllowBlockLists = "allowBlockLists";
        public const string Quarantine = "quarantine";
        public const string Continuity = "continuity";
        public const string Archive = "archive";
        public const string Encryption = "encryption";
        public const string OutboundFiltering = "outboundFiltering";
        public const string Mailboxes = "mailboxes";
        public const string Forwarding = "forwarding";
        public const string Webmail = "webmail";
    }

    public static IReadOnlyList<(string Name, string FeaturesJson, bool IsAddOn)> All { get; } =
    [
        (Basics, """{"spamFilter":true,"virusFilter":true,"allowBlockLists":true,"quarantine":true,"forwarding":true}""", false),
        (Enterprise, """{"spamFilter":true,"virusFilter":true,"allowBlockLists":true,"quarantine":true,"continuity":true,"outboundFiltering":true,"forwarding":true}""", false),
        (Compliance, """{"spamFilter":true,"virusFilter":true,"allowBlockLists":true,"quarantine":true,"continuity":true,"outboundFiltering":true,"archive":true,"encryption":true,"forwarding":true}""", false),
        (HostedMail, """{"mailboxes":true,"webmail":true,"forwarding":true}""", true),
    ];
}
