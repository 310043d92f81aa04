using System.Diagnostics.Metrics;
using Postern.Delivery.TlsPolicy;
using Postern.Dns;

namespace Postern.Delivery.Tests.TlsPolicy;

/// <summary>The policy combiner's truth table: each case names the rule it checks.</summary>
public sealed class TlsPolicyResolverTests
{
    private const string Domain = "example.com";
    private const string Mx = "mx1.example.com";

    private static readonly TlsaRecord Usable = new("_25._tcp." + Mx, 300, 3, 1, 1, new byte[32]);
    private static readonly TlsaRecord PkixOnly = new("_25._tcp." + Mx, 300, 1, 1, 1, new byte[32]);

    public enum Sts
    {
        Absent,
        ModeNone,
        TestingListed,
        TestingUnlisted,
        EnforceListed,
        EnforceUnlisted,
    }

    public enum Dane
    {
        NotApplicable,
        NoRecords,
        Usable,
        UnusableOnly,
        LookupFailed,
    }

    /// <summary>(rule, admin level or null, MTA-STS, DANE, MX authenticated, REQUIRETLS, expected outcome, level, source).</summary>
    public static TheoryData<string, AdminTlsLevel?, Sts, Dane, bool, bool, TlsPolicyOutcome, TlsLevel?, TlsPolicySource?> Table => new()
    {
        { "no policy at all: opportunistic TLS by default", null, Sts.Absent, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.May, TlsPolicySource.Default },
        { "admin none: no STARTTLS", AdminTlsLevel.None, Sts.Absent, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.None, TlsPolicySource.AdminPolicy },
        { "admin may", AdminTlsLevel.May, Sts.Absent, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.May, TlsPolicySource.AdminPolicy },
        { "admin encrypt", AdminTlsLevel.Encrypt, Sts.Absent, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Encrypt, TlsPolicySource.AdminPolicy },
        { "admin verify", AdminTlsLevel.Verify, Sts.Absent, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.AdminPolicy },

        { "RFC 7672 §2.2: authenticated usable TLSA records give DANE", null, Sts.Absent, Dane.Usable, true, false, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "strongest wins: DANE over admin none", AdminTlsLevel.None, Sts.Absent, Dane.Usable, true, false, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "strongest wins: DANE over admin verify", AdminTlsLevel.Verify, Sts.Absent, Dane.Usable, true, false, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "RFC 7672 §2.2: TLSA records none usable make TLS mandatory, unauthenticated", null, Sts.Absent, Dane.UnusableOnly, true, false, TlsPolicyOutcome.Connect, TlsLevel.Encrypt, TlsPolicySource.Dane },
        { "unusable TLSA records under admin none still mean encrypt", AdminTlsLevel.None, Sts.Absent, Dane.UnusableOnly, true, false, TlsPolicyOutcome.Connect, TlsLevel.Encrypt, TlsPolicySource.Dane },
        { "strongest wins: admin verify over unusable TLSA records", AdminTlsLevel.Verify, Sts.Absent, Dane.UnusableOnly, true, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.AdminPolicy },
        { "RFC 7672 §2.2: authenticated denial of TLSA: DANE does not apply", AdminTlsLevel.Encrypt, Sts.Absent, Dane.NoRecords, true, false, TlsPolicyOutcome.Connect, TlsLevel.Encrypt, TlsPolicySource.AdminPolicy },
        { "RFC 7672 §2.2: a failed TLSA look-up for a signed host defers the host", null, Sts.Absent, Dane.LookupFailed, true, false, TlsPolicyOutcome.DeferHost, null, null },
        { "RFC 7672 §2.2: a failed TLSA look-up defers even an admin none domain", AdminTlsLevel.None, Sts.EnforceListed, Dane.LookupFailed, true, true, TlsPolicyOutcome.DeferHost, null, null },

        { "RFC 8461 §4.2: enforce, listed MX: verify the MX name", null, Sts.EnforceListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
        { "RFC 8461 §4.1: enforce, MX not in the mx list: skip the host", null, Sts.EnforceUnlisted, Dane.NotApplicable, false, false, TlsPolicyOutcome.SkipHost, null, null },
        { "RFC 8461 §4.1: an admin verify does not rescue an unlisted MX", AdminTlsLevel.Verify, Sts.EnforceUnlisted, Dane.NotApplicable, true, false, TlsPolicyOutcome.SkipHost, null, null },
        { "strongest wins: enforce over admin none", AdminTlsLevel.None, Sts.EnforceListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
        { "strongest wins: enforce over admin encrypt", AdminTlsLevel.Encrypt, Sts.EnforceListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
        { "equal levels: the MTA-STS reference names win over the admin's", AdminTlsLevel.Verify, Sts.EnforceListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
        { "RFC 8461 §2: DANE takes precedence over MTA-STS enforce", null, Sts.EnforceListed, Dane.Usable, true, false, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "RFC 8461 §2: DANE takes precedence even for a host the policy does not list", null, Sts.EnforceUnlisted, Dane.Usable, true, false, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "enforce over unusable TLSA records (verify beats encrypt)", null, Sts.EnforceListed, Dane.UnusableOnly, true, false, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
        { "an unauthenticated TLSA answer leaves enforce in charge", null, Sts.EnforceUnlisted, Dane.NotApplicable, false, false, TlsPolicyOutcome.SkipHost, null, null },

        { "RFC 8461 §5: testing, listed MX: the admin level, reported only", AdminTlsLevel.Encrypt, Sts.TestingListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.Encrypt, TlsPolicySource.AdminPolicy },
        { "RFC 8461 §5: testing, unlisted MX: delivered anyway", null, Sts.TestingUnlisted, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.May, TlsPolicySource.Default },
        { "RFC 8461 §5: testing never makes TLS mandatory, even under admin none", AdminTlsLevel.None, Sts.TestingListed, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.None, TlsPolicySource.AdminPolicy },
        { "RFC 8461 §5: mode none is no policy", null, Sts.ModeNone, Dane.NotApplicable, false, false, TlsPolicyOutcome.Connect, TlsLevel.May, TlsPolicySource.Default },

        { "RFC 8689 §4.2.1: REQUIRETLS to an authenticated MX: verify", null, Sts.Absent, Dane.NotApplicable, true, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.RequireTls },
        { "RFC 8689: REQUIRETLS is never sent in the clear, whatever the admin says", AdminTlsLevel.None, Sts.Absent, Dane.NotApplicable, true, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.RequireTls },
        { "RFC 8689: REQUIRETLS raises encrypt to verify", AdminTlsLevel.Encrypt, Sts.Absent, Dane.NotApplicable, true, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.RequireTls },
        { "RFC 8689 §4.2.1: REQUIRETLS to an MX name nothing authenticates: skip", null, Sts.Absent, Dane.NotApplicable, false, true, TlsPolicyOutcome.SkipHost, null, null },
        { "RFC 8689 §4.2.1: an MTA-STS policy listing the MX authenticates it for REQUIRETLS", null, Sts.TestingListed, Dane.NotApplicable, false, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.RequireTls },
        { "RFC 8689 §4.2.1: REQUIRETLS with an unlisted MX and no DNSSEC: skip", null, Sts.TestingUnlisted, Dane.NotApplicable, false, true, TlsPolicyOutcome.SkipHost, null, null },
        { "RFC 8689 §4.2.1: REQUIRETLS with DANE: DANE", AdminTlsLevel.None, Sts.Absent, Dane.Usable, true, true, TlsPolicyOutcome.Connect, TlsLevel.Dane, TlsPolicySource.Dane },
        { "RFC 8689: REQUIRETLS is not satisfied by unusable TLSA records (encrypt): verify", null, Sts.Absent, Dane.UnusableOnly, true, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.RequireTls },
        { "REQUIRETLS under enforce: verify, names from MTA-STS", null, Sts.EnforceListed, Dane.NotApplicable, false, true, TlsPolicyOutcome.Connect, TlsLevel.Verify, TlsPolicySource.MtaStsEnforce },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Combiner_truth_table(string rule, AdminTlsLevel? admin, Sts sts, Dane dane, bool mxAuthenticated, bool requireTls,
        TlsPolicyOutcome outcome, TlsLevel? level, TlsPolicySource? source)
    {
        var decision = new TlsPolicyResolver().Resolve(Input(admin, sts, dane, mxAuthenticated, requireTls));

        Assert.True(outcome == decision.Outcome, $"{rule}: {decision.Outcome} ({decision.Reason})");
        if (outcome == TlsPolicyOutcome.Connect)
        {
            var requirement = decision.Requirement!;
            Assert.True(level == requirement.Level, $"{rule}: level {requirement.Level} ({requirement.Reason})");
            Assert.True(source == requirement.Source, $"{rule}: source {requirement.Source} ({requirement.Reason})");
            Assert.Equal(requireTls, requirement.RequireTls);
        }
        else
        {
            Assert.Null(decision.Requirement);
            Assert.NotNull(decision.Status);
        }
    }

    [Fact]
    public void Every_combination_keeps_the_invariants()
    {
        var resolver = new TlsPolicyResolver();
        AdminTlsLevel?[] admins = [null, AdminTlsLevel.None, AdminTlsLevel.May, AdminTlsLevel.Encrypt, AdminTlsLevel.Verify];
        var count = 0;
        foreach (var admin in admins)
        {
            foreach (var sts in Enum.GetValues<Sts>())
            {
                foreach (var dane in Enum.GetValues<Dane>())
                {
                    foreach (var mxAuth in new[] { false, true })
                    {
                        foreach (var requireTls in new[] { false, true })
                        {
                            count++;
                            var d = resolver.Resolve(Input(admin, sts, dane, mxAuth, requireTls));
                            var at = $"{admin}/{sts}/{dane}/{mxAuth}/{requireTls}: {d.Outcome} {d.Requirement?.Level} ({d.Reason})";
                            if (dane == Dane.LookupFailed)
                            {
                                // RFC 7672 §2.2: a signed host whose TLSA records cannot be read is never used.
                                Assert.True(d.Outcome == TlsPolicyOutcome.DeferHost, at);
                                continue;
                            }

                            if (dane == Dane.Usable)
                            {
                                // DANE is the strongest and takes precedence over MTA-STS.
                                Assert.True(d.Requirement?.Level == TlsLevel.Dane, at);
                                Assert.Single(d.Requirement!.TlsaRecords);
                                continue;
                            }

                            if (sts == Sts.EnforceUnlisted)
                            {
                                Assert.True(d.Outcome == TlsPolicyOutcome.SkipHost, at);
                                continue;
                            }

                            if (requireTls && !mxAuth && sts is not (Sts.EnforceListed or Sts.TestingListed))
                            {
                                Assert.True(d.Outcome == TlsPolicyOutcome.SkipHost && d.Status?.ToString() == "5.7.10", at);
                                continue;
                            }

                            Assert.True(d.Outcome == TlsPolicyOutcome.Connect, at);
                            var r = d.Requirement!;

                            // The strongest applicable policy wins: never below what any of them asks for.
                            var floor = (TlsLevel)Math.Max((int)(admin is null ? TlsLevel.May : new AdminTlsPolicy(admin.Value).TlsLevel),
                                Math.Max(sts == Sts.EnforceListed || requireTls ? (int)TlsLevel.Verify : 0, dane == Dane.UnusableOnly ? (int)TlsLevel.Encrypt : 0));
                            Assert.True(r.Level == floor, at);

                            // A mandatory policy never falls back to plaintext.
                            Assert.Equal(r.Level >= TlsLevel.Encrypt, r.IsMandatory);
                            Assert.Equal(r.Level <= TlsLevel.May, r.PlaintextWhenStartTlsNotOffered);
                            Assert.Equal(r.Level == TlsLevel.May, r.PlaintextRetryAfterHandshakeFailure);
                            if (requireTls)
                            {
                                Assert.True(r.IsAuthenticated && !r.PlaintextWhenStartTlsNotOffered, at);
                            }

                            if (r.Level == TlsLevel.Verify)
                            {
                                Assert.NotEmpty(r.ReferenceNames);
                            }

                            Assert.Equal(sts is Sts.TestingListed or Sts.TestingUnlisted, r.ReportOnly);
                            Assert.Equal(r.Source, r.Sources[0]);
                        }
                    }
                }
            }
        }

        Assert.Equal(600, count);
    }

    [Fact]
    public void Verify_names_are_the_MX_host_or_the_admins_match_names()
    {
        var resolver = new TlsPolicyResolver();
        var plain = resolver.Resolve(new TlsPolicyInput { Domain = Domain, MxHost = "MX1.Example.COM.", AdminPolicy = new AdminTlsPolicy(AdminTlsLevel.Verify) });
        var named = resolver.Resolve(new TlsPolicyInput
        {
            Domain = Domain,
            MxHost = Mx,
            AdminPolicy = new AdminTlsPolicy(AdminTlsLevel.Verify, ["Relay.Customer.Example.", "*.customer.example"]),
        });
        var enforced = resolver.Resolve(Input(AdminTlsLevel.Verify, Sts.EnforceListed, Dane.NotApplicable, false, false) with
        {
            AdminPolicy = new AdminTlsPolicy(AdminTlsLevel.Verify, ["relay.customer.example"]),
        });

        Assert.Equal([Mx], plain.Requirement!.ReferenceNames);
        Assert.Equal(Mx, plain.Requirement.MxHost);
        Assert.Equal(["relay.customer.example", "*.customer.example"], named.Requirement!.ReferenceNames);

        // RFC 8461 §4.2: MTA-STS checks the MX host name, whatever names the admin allowed.
        Assert.Equal([Mx], enforced.Requirement!.ReferenceNames);
    }

    [Fact]
    public void Dane_requirement_carries_only_the_usable_records_and_the_MX_name()
    {
        var dane = new DaneTlsaState { Status = DaneTlsaStatus.Records, Records = [PkixOnly, Usable] };

        var decision = new TlsPolicyResolver().Resolve(new TlsPolicyInput { Domain = Domain, MxHost = Mx, Dane = dane });

        Assert.Equal([Usable], decision.Requirement!.TlsaRecords);
        Assert.Equal([Mx], decision.Requirement.ReferenceNames);
    }

    [Fact]
    public void Testing_mode_with_an_unlisted_MX_is_counted_once_and_announced()
    {
        var reporter = new MtaStsTestingReporter();
        var reports = new List<MtaStsTestingReport>();
        reporter.Reported += (_, r) => reports.Add(r);
        using var counter = new CounterProbe();

        var decision = new TlsPolicyResolver(reporter).Resolve(Input(null, Sts.TestingUnlisted, Dane.NotApplicable, false, false));

        Assert.Equal(TlsPolicyOutcome.Connect, decision.Outcome);
        Assert.Equal(MtaStsTestingFailure.MxNotInPolicy, decision.MtaStsTestingFailure);
        var report = Assert.Single(reports);
        Assert.Equal((Domain, Mx, MtaStsTestingFailure.MxNotInPolicy), (report.Domain, report.MxHost, report.Failure));
        Assert.Equal(1, counter.Total("MxNotInPolicy"));

        // The same attempt is not reported a second time after the handshake.
        Assert.Null(reporter.ReportAttempt(decision.Requirement!, TlsAttemptResult.StartTlsNotOffered, null));
        Assert.Single(reports);
    }

    [Theory]
    [InlineData(TlsAttemptResult.StartTlsNotOffered, null, MtaStsTestingFailure.StartTlsNotOffered)]
    [InlineData(TlsAttemptResult.HandshakeFailed, null, MtaStsTestingFailure.HandshakeFailed)]
    [InlineData(TlsAttemptResult.Established, MtaStsTestingFailure.CertificateNotTrusted, MtaStsTestingFailure.CertificateNotTrusted)]
    [InlineData(TlsAttemptResult.Established, MtaStsTestingFailure.CertificateNameMismatch, MtaStsTestingFailure.CertificateNameMismatch)]
    [InlineData(TlsAttemptResult.Established, null, null)]
    public void Testing_mode_attempts_are_reported_with_what_enforce_would_have_refused(TlsAttemptResult result,
        MtaStsTestingFailure? certificateFailure, MtaStsTestingFailure? expected)
    {
        var reporter = new MtaStsTestingReporter();
        using var counter = new CounterProbe();
        var requirement = new TlsPolicyResolver(reporter).Resolve(Input(null, Sts.TestingListed, Dane.NotApplicable, false, false)).Requirement!;
        var outcome = new TlsHandshakeOutcome
        {
            Trust = TlsPeerTrust.Untrusted,
            Accepted = true,
            Level = TlsLevel.May,
            Detail = "test",
            MtaStsFailure = certificateFailure,
        };

        var reported = reporter.ReportAttempt(requirement, result, result == TlsAttemptResult.StartTlsNotOffered ? null : outcome);

        Assert.Equal(expected, reported);
        Assert.Equal(expected is null ? 0 : 1, counter.Total(expected?.ToString()));
    }

    [Fact]
    public void Attempts_without_a_testing_policy_are_never_reported()
    {
        var reporter = new MtaStsTestingReporter();
        var requirement = new TlsPolicyResolver().Resolve(Input(null, Sts.EnforceListed, Dane.NotApplicable, false, false)).Requirement!;

        Assert.Null(reporter.ReportAttempt(requirement, TlsAttemptResult.StartTlsNotOffered, null));
    }

    [Theory]
    [InlineData(DnsStatus.Success, true, true, DaneTlsaStatus.Records)]
    [InlineData(DnsStatus.Success, false, true, DaneTlsaStatus.NotApplicable)]  // insecure TLSA zone
    [InlineData(DnsStatus.Success, true, false, DaneTlsaStatus.NotApplicable)]  // MX or addresses not signed
    [InlineData(DnsStatus.NoData, true, true, DaneTlsaStatus.NoRecords)]
    [InlineData(DnsStatus.NxDomain, true, true, DaneTlsaStatus.NoRecords)]
    [InlineData(DnsStatus.NxDomain, false, true, DaneTlsaStatus.NotApplicable)]
    [InlineData(DnsStatus.ServerFailure, false, true, DaneTlsaStatus.LookupFailed)] // bogus answers are SERVFAIL
    [InlineData(DnsStatus.Timeout, false, true, DaneTlsaStatus.LookupFailed)]
    [InlineData(DnsStatus.ServerFailure, false, false, DaneTlsaStatus.NotApplicable)]
    public void TLSA_answers_are_classified_as_RFC_7672_section_2_2_says(DnsStatus status, bool authenticated, bool hostAuthenticated,
        DaneTlsaStatus expected)
    {
        var answer = new DnsResult<TlsaRecord>
        {
            Status = status,
            Name = "_25._tcp." + Mx,
            Values = status == DnsStatus.Success ? [Usable] : [],
            AuthenticData = authenticated,
            IsAuthenticated = authenticated,
        };

        Assert.Equal(expected, DaneTlsaState.FromLookup(answer, hostAuthenticated).Status);
    }

    private static TlsPolicyInput Input(AdminTlsLevel? admin, Sts sts, Dane dane, bool mxAuthenticated, bool requireTls) => new()
    {
        Domain = Domain,
        MxHost = Mx,
        AdminPolicy = admin is null ? null : new AdminTlsPolicy(admin.Value),
        MtaSts = sts switch
        {
            Sts.Absent => null,
            Sts.ModeNone => new MtaStsPolicy { Mode = MtaStsMode.None, MaxAge = TimeSpan.FromDays(1) },
            Sts.TestingListed => Policy(MtaStsMode.Testing, "*.example.com"),
            Sts.TestingUnlisted => Policy(MtaStsMode.Testing, "mail.example.net"),
            Sts.EnforceListed => Policy(MtaStsMode.Enforce, "mx1.example.com"),
            _ => Policy(MtaStsMode.Enforce, "*.example.net"),
        },
        Dane = dane switch
        {
            Dane.NoRecords => new DaneTlsaState { Status = DaneTlsaStatus.NoRecords },
            Dane.Usable => new DaneTlsaState { Status = DaneTlsaStatus.Records, Records = [Usable] },
            Dane.UnusableOnly => new DaneTlsaState { Status = DaneTlsaStatus.Records, Records = [PkixOnly] },
            Dane.LookupFailed => new DaneTlsaState { Status = DaneTlsaStatus.LookupFailed, Error = "SERVFAIL" },
            _ => DaneTlsaState.NotApplicable,
        },
        MxAuthenticated = mxAuthenticated,
        RequireTls = requireTls,
    };

    private static MtaStsPolicy Policy(MtaStsMode mode, params string[] mx) =>
        new() { Mode = mode, MxPatterns = mx, MaxAge = TimeSpan.FromDays(7) };

    /// <summary>Listens to the MTA-STS testing counter (other tests may report in parallel: totals are per failure tag of this thread's reports).</summary>
    private sealed class CounterProbe : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<string, long> _totals = [];
        private readonly int _thread = Environment.CurrentManagedThreadId;

        public CounterProbe()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MtaStsTestingReporter.MeterName && instrument.Name == MtaStsTestingReporter.CounterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                if (Environment.CurrentManagedThreadId != _thread)
                {
                    return;
                }

                foreach (var tag in tags)
                {
                    if (tag.Key == "failure")
                    {
                        var key = (string)tag.Value!;
                        lock (_totals)
                        {
                            _totals[key] = _totals.GetValueOrDefault(key) + value;
                        }
                    }
                }
            });
            _listener.Start();
        }

        public long Total(string? failure)
        {
            lock (_totals)
            {
                return failure is null ? _totals.Values.Sum() : _totals.GetValueOrDefault(failure);
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
