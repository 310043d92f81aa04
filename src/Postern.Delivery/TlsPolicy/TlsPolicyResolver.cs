using Postern.Protocols.Smtp;

namespace Postern.Delivery.TlsPolicy;

/// <summary>What the TLS policy combiner needs to know about one delivery attempt to one MX host.</summary>
public sealed record TlsPolicyInput
{
    /// <summary>The destination (recipient) domain.</summary>
    public required string Domain { get; init; }

    /// <summary>The MX host name about to be used (for a relay domain, the configured host of the customer's server).</summary>
    public required string MxHost { get; init; }

    /// <summary>The admin's policy for <see cref="Domain"/>; null means none was set (opportunistic TLS).</summary>
    public AdminTlsPolicy? AdminPolicy { get; init; }

    /// <summary>The domain's MTA-STS policy (<see cref="MtaStsLookupResult.ApplicablePolicy"/>); null or mode none when it has none.</summary>
    public MtaStsPolicy? MtaSts { get; init; }

    /// <summary>The DANE state of <see cref="MxHost"/> (<see cref="DaneTlsaState.LookupAsync"/>).</summary>
    public DaneTlsaState Dane { get; init; } = DaneTlsaState.NotApplicable;

    /// <summary>
    /// True when the MX host name is known to be the destination's own: the MX answer was DNSSEC-authenticated, or
    /// the host was configured by an admin (a relay domain's server, a transport override). REQUIRETLS needs this
    /// or an MTA-STS policy listing the host (RFC 8689 §4.2.1).
    /// </summary>
    public bool MxAuthenticated { get; init; }

    /// <summary>The message was received with REQUIRETLS (RFC 8689).</summary>
    public bool RequireTls { get; init; }
}

/// <summary>What to do with one MX host. Persisted values: do not renumber.</summary>
public enum TlsPolicyOutcome
{
    /// <summary>Connect, with <see cref="TlsPolicyDecision.Requirement"/>.</summary>
    Connect = 0,

    /// <summary>
    /// A policy rules this host out for this message (not in the MTA-STS <c>mx</c> list under <c>enforce</c>; no
    /// authenticated host name for a REQUIRETLS message). Try the next MX host; when none is left, the message is
    /// deferred (or, for REQUIRETLS, may be returned with <see cref="TlsPolicyDecision.Status"/>).
    /// </summary>
    SkipHost = 1,

    /// <summary>
    /// The policy cannot be decided now (the TLSA look-up failed for a DNSSEC-signed host, RFC 7672 §2.2): do not
    /// connect to this host; try the next one, or defer.
    /// </summary>
    DeferHost = 2,
}

/// <summary>The combiner's answer for one MX host.</summary>
/// <param name="Outcome">Connect, skip the host, or defer it.</param>
/// <param name="Requirement">The TLS to use when <paramref name="Outcome"/> is <see cref="TlsPolicyOutcome.Connect"/>.</param>
/// <param name="Reason">Why, for logs and DSN diagnostic text.</param>
/// <param name="Status">The enhanced status code to report when the host is not used.</param>
public sealed record TlsPolicyDecision(TlsPolicyOutcome Outcome, TlsRequirement? Requirement, string Reason, EnhancedStatusCode? Status)
{
    /// <summary>For MTA-STS <c>testing</c>: what <c>enforce</c> would already have refused (the requirement carries it too).</summary>
    public MtaStsTestingFailure? MtaStsTestingFailure => Requirement?.ReportOnlyFailure;
}

/// <summary>
/// The TLS policy combiner: from the admin's policy, the MTA-STS policy, the DANE state of the host and the
/// message's REQUIRETLS flag, the TLS one delivery attempt must use. The rules (docs/tls-policy.md):
/// <list type="number">
/// <item>The strongest applicable policy wins: none &lt; may &lt; encrypt &lt; verify &lt; dane. An admin's
/// <c>none</c> only switches off opportunistic TLS; it never weakens a policy the destination or the sender asked for.</item>
/// <item>DANE (authenticated usable TLSA records) sets <see cref="TlsLevel.Dane"/> and takes precedence over
/// MTA-STS (RFC 8461 §2); authenticated TLSA records none of which is usable make TLS mandatory without
/// authentication (<see cref="TlsLevel.Encrypt"/>, RFC 7672 §2.2); a failed TLSA look-up for an authenticated host
/// defers the host (RFC 7672 §2.2); unauthenticated answers leave DANE out.</item>
/// <item>MTA-STS <c>enforce</c>: a host not in the <c>mx</c> list is skipped (RFC 8461 §4.1, §5); a listed host
/// gets <see cref="TlsLevel.Verify"/> against its own name (RFC 8461 §4.2). <c>testing</c>: nothing is enforced,
/// and what would have failed is reported (<see cref="MtaStsTestingReporter"/>).</item>
/// <item>REQUIRETLS (RFC 8689 §4.2.1): at least <see cref="TlsLevel.Verify"/> against the MX host name (or DANE),
/// and only to a host whose name is DNSSEC-authenticated or listed by an MTA-STS policy; never in the clear.</item>
/// </list>
/// A mandatory level never falls back to plaintext (see <see cref="TlsRequirement"/>). Thread-safe.
/// </summary>
public sealed class TlsPolicyResolver(MtaStsTestingReporter? reporter = null)
{
    private static readonly EnhancedStatusCode TlsFailure = new(4, 7, 5);
    private static readonly EnhancedStatusCode RequireTlsFailure = new(5, 7, 10);

    /// <summary>Decides the TLS of one attempt. Never throws for any combination of inputs.</summary>
    public TlsPolicyDecision Resolve(TlsPolicyInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var domain = TlsHostName.Normalize(input.Domain);
        var host = TlsHostName.Normalize(input.MxHost);
        string[] hostNames = [host];
        var notes = new List<string>();
        var candidates = new List<Candidate>();

        // DANE (RFC 7672 §2.2).
        var dane = input.Dane ?? DaneTlsaState.NotApplicable;
        var usable = dane.UsableRecords;
        var daneApplies = false;
        switch (dane.Status)
        {
            case DaneTlsaStatus.LookupFailed:
                return new TlsPolicyDecision(TlsPolicyOutcome.DeferHost, null,
                    $"{dane.Error ?? "TLSA look-up failed"}; {host} is DNSSEC-signed, so it is not used until its TLSA records can be read (RFC 7672 §2.2)",
                    TlsFailure);
            case DaneTlsaStatus.Records when usable.Count > 0:
                daneApplies = true;
                candidates.Add(new Candidate(TlsLevel.Dane, TlsPolicySource.Dane, hostNames));
                notes.Add($"DANE: {usable.Count} usable TLSA record(s)");
                break;
            case DaneTlsaStatus.Records:
                candidates.Add(new Candidate(TlsLevel.Encrypt, TlsPolicySource.Dane, hostNames));
                notes.Add("DANE: TLSA records published but none usable, so TLS is mandatory without authentication (RFC 7672 §2.2)");
                break;
        }

        // MTA-STS (RFC 8461 §4, §5).
        var sts = input.MtaSts is { Mode: not MtaStsMode.None } p ? p : null;
        var listed = sts?.MatchesMx(host) ?? false;
        var reportOnly = false;
        MtaStsTestingFailure? testingFailure = null;
        var applied = new List<TlsPolicySource>();
        if (sts is not null && daneApplies)
        {
            notes.Add($"MTA-STS {Mode(sts)} yields to DANE (RFC 8461 §2)");
        }
        else if (sts is { Mode: MtaStsMode.Enforce })
        {
            if (!listed)
            {
                return new TlsPolicyDecision(TlsPolicyOutcome.SkipHost, null,
                    $"{host} is not in the mx list of {domain}'s MTA-STS policy in enforce mode ({string.Join(", ", sts.MxPatterns)}; RFC 8461 §4.1)",
                    TlsFailure);
            }

            candidates.Add(new Candidate(TlsLevel.Verify, TlsPolicySource.MtaStsEnforce, hostNames));
            notes.Add("MTA-STS enforce: verify against the MX host name (RFC 8461 §4.2)");
        }
        else if (sts is { Mode: MtaStsMode.Testing })
        {
            reportOnly = true;
            applied.Add(TlsPolicySource.MtaStsTesting);
            if (!listed)
            {
                testingFailure = MtaStsTestingFailure.MxNotInPolicy;
                var detail = $"{host} is not in the mx list ({string.Join(", ", sts.MxPatterns)})";
                notes.Add("MTA-STS testing: " + detail + "; delivering anyway");
                reporter?.Report(domain, host, MtaStsTestingFailure.MxNotInPolicy, detail);
            }
            else
            {
                notes.Add("MTA-STS testing: checked and reported, not enforced");
            }
        }

        // The admin's policy, or the default.
        if (input.AdminPolicy is { } admin)
        {
            var names = admin.MatchNames is { Count: > 0 } m
                ? m.Select(TlsHostName.Normalize).Where(n => n.Length > 0).Distinct(StringComparer.Ordinal).ToArray()
                : hostNames;
            candidates.Add(new Candidate(admin.TlsLevel, TlsPolicySource.AdminPolicy, names.Length > 0 ? names : hostNames));
        }
        else
        {
            candidates.Add(new Candidate(TlsLevel.May, TlsPolicySource.Default, hostNames));
        }

        // REQUIRETLS (RFC 8689 §4.2.1).
        if (input.RequireTls)
        {
            if (!daneApplies && !input.MxAuthenticated && !listed)
            {
                return new TlsPolicyDecision(TlsPolicyOutcome.SkipHost, null,
                    $"REQUIRETLS: the name {host} is neither DNSSEC-authenticated nor listed in an MTA-STS policy of {domain} (RFC 8689 §4.2.1)",
                    RequireTlsFailure);
            }

            candidates.Add(new Candidate(TlsLevel.Verify, TlsPolicySource.RequireTls, hostNames));
            notes.Add("REQUIRETLS: authenticated TLS required (RFC 8689 §4.2.1)");
        }

        var best = candidates.OrderByDescending(c => c.Level).ThenBy(c => Rank(c.Source)).First();
        var sources = new[] { best.Source }.Concat(candidates.Select(c => c.Source)).Concat(applied).Distinct().ToArray();
        notes.Insert(0, $"{best.Level.ToString().ToLowerInvariant()} from {Describe(best.Source)}");
        var requirement = new TlsRequirement
        {
            Level = best.Level,
            Source = best.Source,
            Sources = sources,
            Domain = domain,
            MxHost = host,
            ReferenceNames = best.Level >= TlsLevel.Verify ? best.Names : [],
            TlsaRecords = best.Level == TlsLevel.Dane ? usable : [],
            ReportOnly = reportOnly,
            ReportOnlyReferenceNames = reportOnly ? hostNames : [],
            ReportOnlyFailure = testingFailure,
            RequireTls = input.RequireTls,
            Reason = string.Join("; ", notes),
        };
        return new TlsPolicyDecision(TlsPolicyOutcome.Connect, requirement, requirement.Reason, null);
    }

    /// <summary>Tie-break between sources asking for the same level: the one whose names must be checked first.</summary>
    private static int Rank(TlsPolicySource source) => source switch
    {
        TlsPolicySource.Dane => 0,
        TlsPolicySource.MtaStsEnforce => 1,
        TlsPolicySource.RequireTls => 2,
        TlsPolicySource.AdminPolicy => 3,
        _ => 4,
    };

    private static string Mode(MtaStsPolicy policy) => policy.Mode == MtaStsMode.Enforce ? "enforce" : "testing";

    private static string Describe(TlsPolicySource source) => source switch
    {
        TlsPolicySource.AdminPolicy => "the admin policy",
        TlsPolicySource.MtaStsEnforce => "MTA-STS enforce",
        TlsPolicySource.MtaStsTesting => "MTA-STS testing",
        TlsPolicySource.Dane => "DANE",
        TlsPolicySource.RequireTls => "REQUIRETLS",
        _ => "the default",
    };

    private sealed record Candidate(TlsLevel Level, TlsPolicySource Source, IReadOnlyList<string> Names);
}
