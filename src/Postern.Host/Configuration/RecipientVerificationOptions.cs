using Postern.Delivery.Verification;
using Postern.Server.Smtp;

namespace Postern.Host.Configuration;

/// <summary>
/// The <c>RecipientVerification</c> section: how relay domains set to <c>probe</c> ask the customer's own server
/// whether a recipient exists (an RCPT probe at RCPT time), and how long the answers are kept.
/// </summary>
public sealed class RecipientVerificationOptions
{
    /// <summary>How long "the address exists" is remembered.</summary>
    public TimeSpan PositiveCacheTime { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long "no such address" is remembered (short: a new mailbox at the customer's is soon reachable).</summary>
    public TimeSpan NegativeCacheTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest wait for a TCP connection to one of the customer's servers; the next one is tried after it.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest a whole probe may take (every server tried); without an answer by then the sender gets 450.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The verifier the SMTP listeners share (one cache for all of them), saying <paramref name="hostname"/> in EHLO.</summary>
    public ProbingRecipientVerifier CreateVerifier(string hostname, Dns.IDnsResolver? dns)
    {
        var options = new RecipientProbeOptions
        {
            LocalHostname = hostname,
            ConnectTimeout = ConnectTimeout,
            ProbeTimeout = ProbeTimeout,
            PositiveCacheTime = PositiveCacheTime,
            NegativeCacheTime = NegativeCacheTime,
        };
        return new ProbingRecipientVerifier(new RecipientVerifier(new SmtpRecipientProbe(options, dns), options));
    }

    /// <summary>Adds a message naming the key for each value out of range.</summary>
    public void Validate(List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (PositiveCacheTime < TimeSpan.Zero || PositiveCacheTime > TimeSpan.FromDays(30))
        {
            problems.Add("RecipientVerification:PositiveCacheTime: must be between 00:00:00 and 30.00:00:00");
        }

        if (NegativeCacheTime < TimeSpan.Zero || NegativeCacheTime > TimeSpan.FromDays(1))
        {
            problems.Add("RecipientVerification:NegativeCacheTime: must be between 00:00:00 and 1.00:00:00");
        }

        if (ConnectTimeout < TimeSpan.FromSeconds(1) || ConnectTimeout > TimeSpan.FromMinutes(2))
        {
            problems.Add("RecipientVerification:ConnectTimeout: must be between 00:00:01 and 00:02:00");
        }

        if (ProbeTimeout < TimeSpan.FromSeconds(1) || ProbeTimeout > TimeSpan.FromMinutes(5))
        {
            problems.Add("RecipientVerification:ProbeTimeout: must be between 00:00:01 and 00:05:00 (the sender waits for it at RCPT)");
        }
        else if (ConnectTimeout > ProbeTimeout)
        {
            problems.Add("RecipientVerification:ConnectTimeout: must not be longer than RecipientVerification:ProbeTimeout");
        }
    }
}
