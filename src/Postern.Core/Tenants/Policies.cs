namespace Postern.Core.Tenants;

/// <summary>How often a quarantine digest is sent. Persisted.</summary>
public enum DigestFrequency
{
    Never = 0,
    Daily = 1,
    Weekly = 2,
}

/// <summary>
/// A filter policy: thresholds and switches applied to a recipient. Every field is optional; a field
/// left null inherits from the next level up (account → domain → customer → reseller → global).
/// </summary>
public sealed record FilterPolicy
{
    /// <summary>Score at which spam headers are added.</summary>
    public double? TagLevel { get; init; }

    /// <summary>Score from which a message counts as spammy (bulk, likely spam).</summary>
    public double? SpammyLevel { get; init; }

    public double? QuarantineLevel { get; init; }

    public double? RejectLevel { get; init; }

    public bool? BypassSpamChecks { get; init; }

    public bool? BypassVirusChecks { get; init; }

    public bool? BypassBannedFileChecks { get; init; }

    public bool? BypassHeaderChecks { get; init; }

    /// <summary>File name patterns (e.g. <c>*.exe</c>) or true types that are banned.</summary>
    public IReadOnlyList<string>? BannedFileRules { get; init; }

    /// <summary>Days quarantined mail is kept; 0 means nothing is stored.</summary>
    public int? QuarantineRetentionDays { get; init; }

    public DigestFrequency? DigestFrequency { get; init; }

    /// <summary>The values used when no level sets a field.</summary>
    public static FilterPolicy BuiltInDefault { get; } = new()
    {
        TagLevel = 2.0,
        SpammyLevel = 4.0,
        QuarantineLevel = 6.0,
        RejectLevel = 15.0,
        BypassSpamChecks = false,
        BypassVirusChecks = false,
        BypassBannedFileChecks = false,
        BypassHeaderChecks = false,
        BannedFileRules = ["*.exe", "*.scr", "*.pif", "*.com", "*.bat", "*.cmd", "*.vbs", "*.js", "*.jse", "*.wsf", "*.hta", "*.cpl", "*.msi"],
        QuarantineRetentionDays = 30,
        DigestFrequency = Tenants.DigestFrequency.Daily,
    };

    /// <summary>This policy with every field that <paramref name="over"/> sets taken from it.</summary>
    public FilterPolicy OverlaidWith(FilterPolicy? over) => over is null ? this : new FilterPolicy
    {
        TagLevel = over.TagLevel ?? TagLevel,
        SpammyLevel = over.SpammyLevel ?? SpammyLevel,
        QuarantineLevel = over.QuarantineLevel ?? QuarantineLevel,
        RejectLevel = over.RejectLevel ?? RejectLevel,
        BypassSpamChecks = over.BypassSpamChecks ?? BypassSpamChecks,
        BypassVirusChecks = over.BypassVirusChecks ?? BypassVirusChecks,
        BypassBannedFileChecks = over.BypassBannedFileChecks ?? BypassBannedFileChecks,
        BypassHeaderChecks = over.BypassHeaderChecks ?? BypassHeaderChecks,
        BannedFileRules = over.BannedFileRules ?? BannedFileRules,
        QuarantineRetentionDays = over.QuarantineRetentionDays ?? QuarantineRetentionDays,
        DigestFrequency = over.DigestFrequency ?? DigestFrequency,
    };
}

/// <summary>A stored, named policy attached to one scope.</summary>
public sealed record FilterPolicyAssignment(long Id, string Name, Scope Scope, FilterPolicy Policy);
