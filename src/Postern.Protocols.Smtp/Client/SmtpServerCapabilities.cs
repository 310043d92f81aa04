using System.Collections.Frozen;
using System.Globalization;

namespace Postern.Protocols.Smtp.Client;

/// <summary>
/// What the peer offered in its EHLO (or LHLO) reply: one keyword per line after the first, with parameters
/// (RFC 5321 §4.1.1.1). Keywords are matched without regard to case, runs of spaces are allowed, and the
/// pre-RFC 2554 form <c>AUTH=LOGIN PLAIN</c> counts as AUTH. After HELO (or before any EHLO) nothing is offered.
/// </summary>
public sealed class SmtpServerCapabilities
{
    private SmtpServerCapabilities(IReadOnlyDictionary<string, IReadOnlyList<string>> keywords)
    {
        Keywords = keywords;
        Pipelining = Has("PIPELINING");
        EightBitMime = Has("8BITMIME");
        SmtpUtf8 = Has("SMTPUTF8");
        Chunking = Has("CHUNKING");
        BinaryMime = Has("BINARYMIME");
        Dsn = Has("DSN");
        StartTls = Has("STARTTLS");
        EnhancedStatusCodes = Has("ENHANCEDSTATUSCODES");
        RequireTls = Has("REQUIRETLS");
        if (keywords.TryGetValue("SIZE", out var size))
        {
            Size = true;
            if (size.Count > 0 && size[0].Length <= 18 && long.TryParse(size[0], NumberStyles.None, CultureInfo.InvariantCulture, out var max) && max > 0)
            {
                MaxMessageSize = max;
            }
        }

        AuthMechanisms = keywords.TryGetValue("AUTH", out var mechanisms)
            ? mechanisms.Select(m => m.ToUpperInvariant()).ToFrozenSet(StringComparer.Ordinal)
            : FrozenSet<string>.Empty;
    }

    /// <summary>Nothing offered (HELO, or no hello yet).</summary>
    public static SmtpServerCapabilities None { get; } = new(FrozenDictionary<string, IReadOnlyList<string>>.Empty);

    /// <summary>Every keyword (upper case) with its parameters as sent.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Keywords { get; }

    public bool Pipelining { get; }

    /// <summary>RFC 1870 SIZE was offered (with or without a limit).</summary>
    public bool Size { get; }

    /// <summary>The SIZE limit in octets; null when SIZE is absent or says 0 (no fixed limit).</summary>
    public long? MaxMessageSize { get; }

    public bool EightBitMime { get; }

    public bool SmtpUtf8 { get; }

    public bool Chunking { get; }

    public bool BinaryMime { get; }

    public bool Dsn { get; }

    public bool StartTls { get; }

    public bool EnhancedStatusCodes { get; }

    public bool RequireTls { get; }

    /// <summary>SASL mechanisms offered with AUTH (upper case).</summary>
    public IReadOnlySet<string> AuthMechanisms { get; }

    public bool Has(string keyword) => Keywords.ContainsKey(keyword.ToUpperInvariant());

    /// <summary>Reads the keywords of a positive EHLO/LHLO reply; anything else offers nothing.</summary>
    public static SmtpServerCapabilities Parse(SmtpReply ehloReply)
    {
        ArgumentNullException.ThrowIfNull(ehloReply);
        if (ehloReply.Code != 250)
        {
            return None;
        }

        var keywords = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var line in ehloReply.Lines.Skip(1))
        {
            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0)
            {
                continue;
            }

            var keyword = words[0].ToUpperInvariant();
            var parameters = words.Skip(1).ToList();
            var eq = keyword.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                // "AUTH=LOGIN PLAIN" (old Microsoft and Netscape servers).
                parameters.Insert(0, words[0][(eq + 1)..]);
                keyword = keyword[..eq];
            }

            if (!keyword.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                continue;
            }

            if (keywords.TryGetValue(keyword, out var earlier))
            {
                // AUTH offered in both forms: the union of the mechanisms.
                parameters = [.. earlier.Concat(parameters).Where(p => p.Length > 0).Distinct(StringComparer.OrdinalIgnoreCase)];
            }

            keywords[keyword] = parameters.Where(p => p.Length > 0).ToList();
        }

        return new SmtpServerCapabilities(keywords.ToFrozenDictionary(StringComparer.Ordinal));
    }
}
