namespace Postern.Delivery.Srs;

/// <summary>
/// Settings of the Sender Rewriting Scheme. The defaults produce addresses that postsrsd and Perl's
/// Mail::SRS (and so libsrs2) accept with the same secret, and accept theirs.
/// </summary>
public sealed record SrsOptions
{
    /// <summary>The forwarding domain: rewritten senders become <c>SRS0=…@Domain</c>. Required.</summary>
    public required string Domain { get; init; }

    /// <summary>
    /// Further domains whose senders are never rewritten (our own mail domains, whose SPF already covers us).
    /// Senders in <see cref="Domain"/> are never rewritten either.
    /// </summary>
    public IReadOnlyList<string> ExcludedDomains { get; init; } = [];

    /// <summary>The character after <c>SRS0</c>/<c>SRS1</c> in addresses we make: '=', '+' or '-'. Any of them is accepted in reverse.</summary>
    public char Separator { get; init; } = '=';

    /// <summary>Base64 characters of the HMAC kept in the address (4 = 24 bits, as postsrsd and Mail::SRS).</summary>
    public int HashLength { get; init; } = 4;

    /// <summary>The fewest hash characters accepted in reverse (must not exceed <see cref="HashLength"/>).</summary>
    public int HashMinLength { get; init; } = 4;

    /// <summary>Days an SRS0 address stays valid for bounces (postsrsd's default is 21; Mail::SRS's 49).</summary>
    public int MaxAgeDays { get; init; } = 21;

    /// <summary>Sender local parts (compared without regard to ASCII case) that are never rewritten.</summary>
    public IReadOnlyList<string> NeverRewriteLocalParts { get; init; } = ["postmaster", "mailer-daemon"];

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Domain))
        {
            throw new ArgumentException("SRS needs a forwarding domain.", nameof(Domain));
        }

        if (Separator is not ('=' or '+' or '-'))
        {
            throw new ArgumentException("The SRS separator must be '=', '+' or '-'.", nameof(Separator));
        }

        if (HashLength is < 1 or > SrsHash.MaxLength || HashMinLength < 1 || HashMinLength > HashLength)
        {
            throw new ArgumentException($"SRS hash lengths must satisfy 1 <= HashMinLength <= HashLength <= {SrsHash.MaxLength}.", nameof(HashLength));
        }

        if (MaxAgeDays is < 1 or > 1000)
        {
            throw new ArgumentException("SRS MaxAgeDays must be between 1 and 1000 (the timestamp cycles every 1024 days).", nameof(MaxAgeDays));
        }
    }
}
