namespace Postern.Delivery.Srs;

/// <summary>
/// Sender Rewriting Scheme (the Shevek/libsrs2 "guarded" scheme, as postsrsd and Mail::SRS implement it):
/// <list type="bullet">
/// <item><c>SRS0=HHHH=TT=orig-domain=orig-local@forwarder</c> for an ordinary sender (HHHH = HMAC-SHA1 over TT,
/// orig-domain and orig-local; TT = base32 day stamp);</item>
/// <item><c>SRS1=HHHH=first-forwarder==HHHH=TT=orig-domain=orig-local@forwarder</c> when the sender already is
/// another forwarder's SRS0 address (the hash covers first-forwarder and the rest); an SRS1 sender keeps its
/// first forwarder and gets a new hash.</item>
/// </list>
/// Addresses are strings in SMTP form (<c>local@domain</c>, a quoted local part allowed, angle brackets optional).
/// Thread-safe; cheap to call.
/// </summary>
public sealed class SrsRewriter
{
    private const char Sep = '=';
    private readonly SrsOptions _options;
    private readonly SrsKeyHolder _keys;
    private readonly TimeProvider _time;
    private readonly string _domain;
    private readonly HashSet<string> _ownDomains;
    private readonly HashSet<string> _exemptLocals;

    public SrsRewriter(SrsOptions options, SrsKeyRing keys, TimeProvider? time = null)
        : this(options, new SrsKeyHolder(keys ?? throw new ArgumentNullException(nameof(keys))), time)
    {
    }

    /// <summary>A rewriter whose secrets can change while it is in use (see <see cref="SrsKeyHolder"/>).</summary>
    public SrsRewriter(SrsOptions options, SrsKeyHolder keys, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(keys);
        options.Validate();
        _options = options;
        _keys = keys;
        _time = time ?? TimeProvider.System;
        _domain = SrsAddressSyntax.AsciiDomain(options.Domain) ?? throw new ArgumentException($"'{options.Domain}' is not a domain name.", nameof(options));
        _ownDomains = new HashSet<string>(StringComparer.Ordinal) { _domain };
        foreach (var d in options.ExcludedDomains)
        {
            _ownDomains.Add(SrsAddressSyntax.AsciiDomain(d) ?? throw new ArgumentException($"'{d}' is not a domain name.", nameof(options)));
        }

        _exemptLocals = new HashSet<string>(options.NeverRewriteLocalParts, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The secrets in force now.</summary>
    public SrsKeyRing Keys => _keys.Current;

    /// <summary>The forwarding domain in A-labels.</summary>
    public string Domain => _domain;

    /// <summary>True when the local part starts with SRS0 or SRS1 and a separator (any case): worth calling <see cref="Reverse"/>.</summary>
    public static bool IsSrsLocalPart(string localPart) => Tag(localPart) != 0;

    /// <summary>Rewrites the envelope sender of a message we forward. Never throws on bad input.</summary>
    public SrsForwardResult Forward(string? sender)
    {
        var text = sender?.Trim() ?? string.Empty;
        if (text.Length == 0 || text == "<>")
        {
            return new SrsForwardResult(SrsForwardOutcome.NullSender, string.Empty);
        }

        if (!SrsAddressSyntax.TrySplit(text, out var local, out var rawDomain))
        {
            var bare = text.Trim('<', '>');
            return bare.Equals("postmaster", StringComparison.OrdinalIgnoreCase)
                ? new SrsForwardResult(SrsForwardOutcome.ExemptLocalPart, bare)
                : new SrsForwardResult(SrsForwardOutcome.Malformed, text);
        }

        var original = SrsAddressSyntax.Join(local, rawDomain);
        if (_exemptLocals.Contains(local))
        {
            return new SrsForwardResult(SrsForwardOutcome.ExemptLocalPart, original);
        }

        if (rawDomain.StartsWith('['))
        {
            return new SrsForwardResult(SrsForwardOutcome.AddressLiteral, original);
        }

        var domain = SrsAddressSyntax.AsciiDomain(rawDomain);
        if (domain is null)
        {
            return new SrsForwardResult(SrsForwardOutcome.Malformed, original);
        }

        if (_ownDomains.Contains(domain))
        {
            return new SrsForwardResult(SrsForwardOutcome.OwnDomain, original);
        }

        string srsLocal;
        var key = _keys.Current.SigningKey;
        switch (Tag(local))
        {
            case 0:
                var stamp = SrsHash.Timestamp(_time.GetUtcNow());
                srsLocal = Prefix("SRS0") + Hash(key, stamp, domain, local) + Sep + stamp + Sep + domain + Sep + local;
                break;
            case 1 when local.Length > 5 && local[5..].Split(Sep, 3) is [_, { Length: > 0 } firstHost, var firstRest]:
                // Another forwarder's SRS1: keep its first forwarder and the opaque rest, hash them anew.
                srsLocal = Prefix("SRS1") + Hash(key, firstHost, firstRest) + Sep + firstHost + Sep + firstRest;
                break;
            case 1:
                // SRS1-looking but not parseable: wrap it like any other sender.
                var stamp1 = SrsHash.Timestamp(_time.GetUtcNow());
                srsLocal = Prefix("SRS0") + Hash(key, stamp1, domain, local) + Sep + stamp1 + Sep + domain + Sep + local;
                break;
            default:
                // Another forwarder's SRS0: the rest keeps its separator ("=HHHH=TT=d=l").
                var rest = local[4..];
                srsLocal = Prefix("SRS1") + Hash(key, domain, rest) + Sep + domain + Sep + rest;
                break;
        }

        return new SrsForwardResult(SrsForwardOutcome.Rewritten, SrsAddressSyntax.Join(srsLocal, _domain));
    }

    /// <summary>
    /// Decodes an SRS address that arrived at our MX (usually a bounce) to where it must go, or says precisely why
    /// it is not valid. The domain of <paramref name="recipient"/> is not checked: route only our SRS domain here.
    /// </summary>
    public SrsReverseResult Reverse(string? recipient)
    {
        if (recipient is null || !SrsAddressSyntax.TrySplit(recipient, out var local, out _))
        {
            return new SrsReverseResult(SrsReverseStatus.NotSrs, null, false, "not of the form local@domain");
        }

        return ReverseLocal(_keys.Current.Keys, local, allowNested: true);
    }

    private SrsReverseResult ReverseLocal(IReadOnlyList<byte[]> keys, string local, bool allowNested)
    {
        switch (Tag(local))
        {
            case 0:
                return new SrsReverseResult(SrsReverseStatus.NotSrs, null, false, "the local part does not start with SRS0 or SRS1");
            case 1:
                if (local[5..].Split(Sep, 3) is not [var hash1, { Length: > 0 } host1, { Length: > 0 } rest1] || hash1.Length == 0)
                {
                    return Invalid(SrsReverseStatus.Malformed, true, "an SRS1 address needs hash=host=rest");
                }

                if (!SrsHash.Verify(keys, _options.HashMinLength, hash1, host1, rest1))
                {
                    return Invalid(SrsReverseStatus.BadHash, true, "the SRS1 hash matches none of our secrets (forged, damaged, or made with a secret no longer kept)");
                }

                var inner = "SRS0" + rest1;
                if (allowNested && Tag(inner) == 2 && SrsAddressSyntax.AsciiDomain(host1) is { } h && _ownDomains.Contains(h))
                {
                    // We were the first forwarder too: decode our own SRS0 all the way.
                    var nested = ReverseLocal(keys, inner, allowNested: false);
                    return nested with { IsSrs1 = true };
                }

                return new SrsReverseResult(SrsReverseStatus.Valid, SrsAddressSyntax.Join(inner, host1), true, null);
            default:
                if (local[5..].Split(Sep, 4) is not [var hash, var stamp, { Length: > 0 } host, { Length: > 0 } user] || hash.Length == 0)
                {
                    return Invalid(SrsReverseStatus.Malformed, false, "an SRS0 address needs hash=timestamp=domain=local");
                }

                if (!SrsHash.TryDecodeTimestamp(stamp, out var slot))
                {
                    return Invalid(SrsReverseStatus.Malformed, false, $"'{stamp}' is not a two-character base32 timestamp");
                }

                if (!SrsHash.Verify(keys, _options.HashMinLength, hash, stamp, host, user))
                {
                    return Invalid(SrsReverseStatus.BadHash, false, "the SRS0 hash matches none of our secrets (forged, damaged, or made with a secret no longer kept)");
                }

                if (!SrsHash.IsFresh(slot, _time.GetUtcNow(), _options.MaxAgeDays))
                {
                    return Invalid(SrsReverseStatus.Expired, false, $"the address is older than {_options.MaxAgeDays} days");
                }

                return new SrsReverseResult(SrsReverseStatus.Valid, SrsAddressSyntax.Join(user, host), false, null);
        }
    }

    private static SrsReverseResult Invalid(SrsReverseStatus status, bool srs1, string reason) => new(status, null, srs1, reason);

    /// <summary>0: not SRS; 1: SRS1; 2: SRS0 (tag and separator, any case).</summary>
    private static int Tag(string local)
    {
        if (local.Length < 5 || local[4] is not ('=' or '+' or '-') || !local.StartsWith("SRS", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }

        return local[3] switch
        {
            '0' => 2,
            '1' => 1,
            _ => 0,
        };
    }

    private string Prefix(string tag) => tag + _options.Separator;

    private string Hash(byte[] key, params ReadOnlySpan<string> fields) => SrsHash.Compute(key, _options.HashLength, fields);
}
