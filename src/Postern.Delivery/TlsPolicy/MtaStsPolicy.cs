using System.Globalization;

namespace Postern.Delivery.TlsPolicy;

/// <summary>The <c>mode</c> of an MTA-STS policy (RFC 8461 §5). Persisted values: do not renumber.</summary>
public enum MtaStsMode
{
    /// <summary>The domain withdrew its policy: deliver as though it had none.</summary>
    None = 0,

    /// <summary>Check, report what fails, deliver anyway.</summary>
    Testing = 1,

    /// <summary>Deliver only to listed MX hosts, over TLS with a certificate that verifies for the MX host name.</summary>
    Enforce = 2,
}

/// <summary>A parsed MTA-STS policy (RFC 8461 §3.2).</summary>
public sealed record MtaStsPolicy
{
    /// <summary>The largest <c>max_age</c> RFC 8461 §3.2 allows: 31557600 seconds (about a year).</summary>
    public const long MaxMaxAgeSeconds = 31_557_600;

    /// <summary>The mode.</summary>
    public required MtaStsMode Mode { get; init; }

    /// <summary>The <c>mx</c> patterns, lower-case, without trailing dots (<c>mail.example.com</c>, <c>*.example.net</c>).</summary>
    public IReadOnlyList<string> MxPatterns { get; init; } = [];

    /// <summary>How long the policy may be cached and applied after it was fetched.</summary>
    public required TimeSpan MaxAge { get; init; }

    /// <summary>True when <paramref name="mxHost"/> matches one of <see cref="MxPatterns"/> (RFC 8461 §4.1).</summary>
    public bool MatchesMx(string mxHost) => MxPatterns.Any(p => MtaStsMxPattern.Matches(p, mxHost));
}

/// <summary>
/// MX host matching for MTA-STS (RFC 8461 §4.1): exact names, or <c>*.</c> followed by a domain, where the
/// <c>*</c> stands for exactly one whole left-most label. Case-insensitive; a trailing dot is ignored.
/// </summary>
public static class MtaStsMxPattern
{
    /// <summary>True when <paramref name="host"/> matches <paramref name="pattern"/>.</summary>
    public static bool Matches(string? pattern, string? host)
    {
        var p = TlsHostName.Normalize(pattern);
        var h = TlsHostName.Normalize(host);
        if (p.Length == 0 || h.Length == 0)
        {
            return false;
        }

        if (!p.StartsWith("*.", StringComparison.Ordinal))
        {
            return string.Equals(p, h, StringComparison.Ordinal);
        }

        var parent = p[2..];
        var dot = h.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && string.Equals(h[(dot + 1)..], parent, StringComparison.Ordinal);
    }

    /// <summary>True when <paramref name="pattern"/> is a valid <c>mx</c> value: a host name, optionally after <c>*.</c>.</summary>
    public static bool IsValid(string pattern)
    {
        var name = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern;
        return TlsHostName.IsLdhName(name) && name.Contains('.', StringComparison.Ordinal);
    }
}

/// <summary>The outcome of parsing an MTA-STS policy: a policy, or the reason it was refused.</summary>
public sealed record MtaStsPolicyParseResult(MtaStsPolicy? Policy, string? Error)
{
    /// <summary>True when a policy was parsed.</summary>
    public bool IsValid => Policy is not null;
}

/// <summary>
/// Parses the body of <c>https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt</c> (RFC 8461 §3.2). Total: returns
/// a result for any input, never throws.
/// <list type="bullet">
/// <item>Lines end in CRLF or LF; blank lines, lines without a colon and unknown keys are ignored.</item>
/// <item>Space and tab around keys and values are ignored; keys and the <c>version</c>/<c>mode</c> values are
/// compared without regard to case (a sloppy but clear policy is applied rather than dropped: dropping it would
/// mean no MTA-STS at all).</item>
/// <item><c>version: STSv1</c>, <c>mode</c> and <c>max_age</c> are required; when one is given twice, the first
/// counts. <c>max_age</c> is 1 to 10 digits; values above 31557600 are capped at 31557600.</item>
/// <item>At least one <c>mx</c> line is required unless the mode is <c>none</c>; each must be a host name,
/// optionally starting with <c>*.</c>; an invalid one makes the whole policy invalid.</item>
/// </list>
/// </summary>
public static class MtaStsPolicyParser
{
    /// <summary>The most <c>mx</c> patterns kept (a policy with more is refused).</summary>
    public const int MaxMxPatterns = 256;

    /// <summary>Parses a policy body.</summary>
    public static MtaStsPolicyParseResult Parse(string? text)
    {
        if (text is null)
        {
            return Fail("empty policy");
        }

        string? version = null;
        string? mode = null;
        string? maxAge = null;
        var mx = new List<string>();
        var start = 0;
        var body = text.AsSpan();
        if (body.Length > 0 && body[0] == '\uFEFF')
        {
            start = 1;
        }

        while (start <= body.Length)
        {
            var end = body[start..].IndexOf('\n');
            var line = end < 0 ? body[start..] : body.Slice(start, end);
            start = end < 0 ? body.Length + 1 : start + end + 1;
            if (line.Length > 0 && line[^1] == '\r')
            {
                line = line[..^1];
            }

            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon].Trim(" \t");
            var value = line[(colon + 1)..].Trim(" \t").ToString();
            if (key.Equals("version", StringComparison.OrdinalIgnoreCase))
            {
                version ??= value;
            }
            else if (key.Equals("mode", StringComparison.OrdinalIgnoreCase))
            {
                mode ??= value;
            }
            else if (key.Equals("max_age", StringComparison.OrdinalIgnoreCase))
            {
                maxAge ??= value;
            }
            else if (key.Equals("mx", StringComparison.OrdinalIgnoreCase))
            {
                if (mx.Count >= MaxMxPatterns)
                {
                    return Fail($"more than {MaxMxPatterns} mx lines");
                }

                mx.Add(value);
            }
        }

        if (version is null)
        {
            return Fail("no version field");
        }

        if (!version.Equals("STSv1", StringComparison.OrdinalIgnoreCase))
        {
            return Fail($"version '{Shorten(version)}' is not STSv1");
        }

        MtaStsMode parsedMode;
        if (mode is null)
        {
            return Fail("no mode field");
        }
        else if (mode.Equals("enforce", StringComparison.OrdinalIgnoreCase))
        {
            parsedMode = MtaStsMode.Enforce;
        }
        else if (mode.Equals("testing", StringComparison.OrdinalIgnoreCase))
        {
            parsedMode = MtaStsMode.Testing;
        }
        else if (mode.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            parsedMode = MtaStsMode.None;
        }
        else
        {
            return Fail($"mode '{Shorten(mode)}' is not enforce, testing or none");
        }

        if (maxAge is null)
        {
            return Fail("no max_age field");
        }

        if (maxAge.Length is 0 or > 10 || !maxAge.All(char.IsAsciiDigit)
            || !long.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
        {
            return Fail($"max_age '{Shorten(maxAge)}' is not 1 to 10 digits");
        }

        seconds = Math.Min(seconds, MtaStsPolicy.MaxMaxAgeSeconds);
        var patterns = new List<string>(mx.Count);
        foreach (var raw in mx)
        {
            var wildcard = raw.StartsWith("*.", StringComparison.Ordinal);
            var pattern = (wildcard ? "*." : string.Empty) + TlsHostName.Normalize(wildcard ? raw[2..] : raw);
            if (!MtaStsMxPattern.IsValid(pattern))
            {
                return Fail($"mx '{Shorten(raw)}' is not a host name or *.domain pattern");
            }

            if (!patterns.Contains(pattern))
            {
                patterns.Add(pattern);
            }
        }

        if (patterns.Count == 0 && parsedMode != MtaStsMode.None)
        {
            return Fail("no mx field");
        }

        return new MtaStsPolicyParseResult(
            new MtaStsPolicy { Mode = parsedMode, MxPatterns = patterns, MaxAge = TimeSpan.FromSeconds(seconds) }, null);
    }

    private static MtaStsPolicyParseResult Fail(string error) => new(null, error);

    /// <summary>A value fit for an error message: at most 64 characters, control characters replaced.</summary>
    internal static string Shorten(string value)
    {
        var text = value.Length <= 64 ? value : value[..64] + "...";
        return string.Create(text.Length, text, static (span, t) =>
        {
            for (var i = 0; i < t.Length; i++)
            {
                span[i] = char.IsControl(t[i]) ? '?' : t[i];
            }
        });
    }
}
