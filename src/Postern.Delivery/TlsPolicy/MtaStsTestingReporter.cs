using System.Diagnostics.Metrics;

namespace Postern.Delivery.TlsPolicy;

/// <summary>What an MTA-STS policy in <c>enforce</c> mode would have refused. Persisted values: do not renumber.</summary>
public enum MtaStsTestingFailure
{
    /// <summary>The MX host is not in the policy's <c>mx</c> list.</summary>
    MxNotInPolicy = 0,

    /// <summary>The server did not offer STARTTLS.</summary>
    StartTlsNotOffered = 1,

    /// <summary>The TLS handshake failed.</summary>
    HandshakeFailed = 2,

    /// <summary>The certificate chain does not lead to a trusted root (or has expired).</summary>
    CertificateNotTrusted = 3,

    /// <summary>The certificate chain is trusted but does not name the MX host.</summary>
    CertificateNameMismatch = 4,
}

/// <summary>How far a delivery attempt's TLS got, as the delivery engine reports it. Persisted values: do not renumber.</summary>
public enum TlsAttemptResult
{
    /// <summary>The server's EHLO reply did not offer STARTTLS.</summary>
    StartTlsNotOffered = 0,

    /// <summary>STARTTLS was offered but the handshake failed (or the certificate was refused).</summary>
    HandshakeFailed = 1,

    /// <summary>The TLS session is up.</summary>
    Established = 2,
}

/// <summary>One would-have-failed report for an MTA-STS policy in <c>testing</c> mode.</summary>
public sealed class MtaStsTestingReport(string domain, string mxHost, MtaStsTestingFailure failure, string detail) : EventArgs
{
    /// <summary>The policy domain.</summary>
    public string Domain { get; } = domain;

    /// <summary>The MX host the attempt used.</summary>
    public string MxHost { get; } = mxHost;

    /// <summary>What <c>enforce</c> would have refused.</summary>
    public MtaStsTestingFailure Failure { get; } = failure;

    /// <summary>Details for logs (and, later, TLSRPT, RFC 8460).</summary>
    public string Detail { get; } = detail;
}

/// <summary>
/// Counts and announces what MTA-STS policies in <c>testing</c> mode would have refused: the counter
/// <c>postern.delivery.mta_sts.testing_failures</c> (tag <c>failure</c>) on the meter <c>Postern.Delivery.TlsPolicy</c>,
/// and the <see cref="Reported"/> event for logs. <see cref="TlsPolicyResolver"/> reports an MX host missing from the
/// list; the delivery engine calls <see cref="ReportAttempt"/> after the STARTTLS stage of each attempt. Thread-safe.
/// </summary>
public sealed class MtaStsTestingReporter
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Postern.Delivery.TlsPolicy";

    /// <summary>The counter's name.</summary>
    public const string CounterName = "postern.delivery.mta_sts.testing_failures";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Failures = Meter.CreateCounter<long>(CounterName,
        description: "Delivery attempts an MTA-STS policy in testing mode would have refused in enforce mode");

    /// <summary>Raised for every report, on the reporting thread.</summary>
    public event EventHandler<MtaStsTestingReport>? Reported;

    /// <summary>Counts and announces one would-have-failed attempt.</summary>
    public void Report(string domain, string mxHost, MtaStsTestingFailure failure, string detail)
    {
        Failures.Add(1, new KeyValuePair<string, object?>("failure", failure.ToString()));
        Reported?.Invoke(this, new MtaStsTestingReport(domain, mxHost, failure, detail));
    }

    /// <summary>
    /// Reports what an <c>enforce</c> policy would have refused in this attempt, if anything, and returns it. Does
    /// nothing unless <paramref name="requirement"/> is <see cref="TlsRequirement.ReportOnly"/>, or when the
    /// resolver already reported the attempt (<see cref="TlsRequirement.ReportOnlyFailure"/>).
    /// </summary>
    public MtaStsTestingFailure? ReportAttempt(TlsRequirement requirement, TlsAttemptResult result, TlsHandshakeOutcome? outcome)
    {
        ArgumentNullException.ThrowIfNull(requirement);
        if (!requirement.ReportOnly || requirement.ReportOnlyFailure is not null)
        {
            return null;
        }

        (MtaStsTestingFailure Failure, string Detail)? verdict = result switch
        {
            TlsAttemptResult.StartTlsNotOffered => (MtaStsTestingFailure.StartTlsNotOffered, "STARTTLS not offered"),
            _ when outcome?.MtaStsFailure is { } f => (f, outcome.Detail),
            TlsAttemptResult.HandshakeFailed => (MtaStsTestingFailure.HandshakeFailed, outcome?.Detail ?? "TLS handshake failed"),
            _ => null,
        };
        if (verdict is not { } v)
        {
            return null;
        }

        Report(requirement.Domain, requirement.MxHost, v.Failure, v.Detail);
        return v.Failure;
    }
}
